using System.Text.Json;
using System.Threading.Channels;
using AsdOrleans.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Streams;

namespace AsdOrleans.Silo;

/// <summary>One event of <c>GET /api/events</c>: its id, SSE event name, machine and JSON data.</summary>
public sealed record ConsoleEvent(long Id, string Type, string MachineId, string Json);

/// <summary>
/// This silo's view of the plant's alerts and label requests for HTTP clients: it subscribes to the machine event
/// streams (<see cref="MachineEventStreams"/>), numbers each event and keeps the last <see cref="Capacity"/> for
/// replay, so a client that reconnects with <c>Last-Event-ID</c> gets what it missed. Ids increase monotonically per
/// silo and across its restarts (they start at the start time in microseconds since 1970); an id older than the replay
/// buffer, or from before this silo started, is answered with a <c>reset</c> event: reload the lists, then go on.
/// </summary>
public sealed partial class ConsoleEventHub(IClusterClient client, ClipAudioStore audio, IHostApplicationLifetime lifetime, IOptions<SiloOptions> options,
    ILogger<ConsoleEventHub> logger) : IHostedService
{
    /// <summary>Alerts, requests and requests closing share the buffer (about the 1,000 of each it kept for one kind before;
    /// ≈ 0.3 KB an event, so about 1 MB a silo); claims are fewer (one per clip opened, and a renewal a minute).</summary>
    public const int Capacity = 3_000;
    /// <summary>Events a slow listener may fall behind by before it is dropped (it reconnects and replays).</summary>
    public const int ListenerBacklog = 512;
    public const string AlertEvent = "alert", LabelRequestEvent = "label-request", LabelRequestClosedEvent = "label-request-closed",
        LabelRequestClaimEvent = "label-request-claim", ResetEvent = "reset";

    /// <summary>The kinds a client may ask for (<c>?types=</c>), all of them by default.</summary>
    public static readonly string[] Kinds = [AlertEvent, LabelRequestEvent, LabelRequestClosedEvent, LabelRequestClaimEvent];
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    private readonly object _gate = new();
    private readonly Queue<ConsoleEvent> _buffer = new();
    private readonly List<Channel<ConsoleEvent>> _listeners = [];
    private readonly long _base = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;
    private long _last, _evicted;
    private bool _ending; // the silo is stopping: no new listener stays open
    private int _open; // streams held, from admission to the request's end (a dropped listener's request still counts)
    private readonly Dictionary<string, int> _openOf = new(StringComparer.Ordinal); // by the owner of a person's own key
    // Observed, not counted up and down: the series is there (0) before the first stream, for dashboards and alerts.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<ConsoleEventHub, byte> Running = new();
    private static readonly System.Diagnostics.Metrics.ObservableUpDownCounter<long> OpenGauge = AsdOrleans.Grains.Telemetry.AsdMetrics.Meter
        .CreateObservableUpDownCounter("asd.event_streams.open", () => Running.Keys.Sum(hub => (long)hub.OpenStreams), "{stream}",
            "Event streams (GET /api/events) this silo holds open (Asd:MaxEventStreams bounds them)");
    private readonly List<Func<Task>> _unsubscribe = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _subscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the hub receives the machine event streams (shortly after the silo starts).</summary>
    public Task Subscribed => _subscribed.Task;

    public long FirstId => _base + 1;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _last = _evicted = _base;
        Running.TryAdd(this, 0);
        EventStreamLimit.NoneRefusedYet();
        // The silo (another hosted service) must be up before streams can be subscribed to.
        lifetime.ApplicationStarted.Register(() => _ = SubscribeAsync(_stopping.Token));
        // The web server stops before this service and waits for open requests: end the event streams first, or a
        // silo with a console open takes the whole shutdown timeout (30 s) to stop. Their clients reconnect elsewhere.
        // Unsubscribe here too, while the silo still runs: hosted services stop in reverse order and Orleans' was added
        // after this one, so StopAsync comes after the silo has stopped, too late to unsubscribe; the other silos' stream
        // agents then delivered to this silo's gone client and logged each event as an error (stop 54's rolling restart).
        lifetime.ApplicationStopping.Register(() =>
        {
            _stopping.Cancel(); // a subscription still being made adds no handle after the list is emptied
            EndStreams();
            try
            {
                Task.Run(UnsubscribeAllAsync).Wait(UnsubscribeTimeout); // off whatever scheduler called StopApplication
            }
            catch (Exception e)
            {
                LogUnsubscribeFailed(logger, e);
            }
        });
        return Task.CompletedTask;
    }

    /// <summary>How long a stopping silo waits for its unsubscriptions.</summary>
    public static readonly TimeSpan UnsubscribeTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Ends this hub's stream subscriptions (each once, whichever of the stop's two paths comes first).</summary>
    private async Task UnsubscribeAllAsync()
    {
        List<Func<Task>> pending;
        lock (_gate)
        {
            pending = [.. _unsubscribe];
            _unsubscribe.Clear();
        }
        foreach (var unsubscribe in pending)
        {
            try { await unsubscribe(); } catch (Exception e) { LogUnsubscribeFailed(logger, e); }
        }
    }

    private void EndStreams()
    {
        lock (_gate)
        {
            _ending = true;
            foreach (var listener in _listeners) listener.Writer.TryComplete();
            _listeners.Clear();
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        Running.TryRemove(this, out _);
        await _stopping.CancelAsync();
        await UnsubscribeAllAsync();
        EndStreams();
    }

    private async Task SubscribeAsync(CancellationToken cancellation)
    {
        for (var delay = TimeSpan.FromSeconds(1); !cancellation.IsCancellationRequested; delay = TimeSpan.FromSeconds(Math.Min(30, delay.TotalSeconds * 2)))
        {
            try
            {
                var provider = client.GetStreamProvider(MachineEventStreams.ProviderName);
                // Each plant-wide stream's events become this hub's events of one type, with the data clients see.
                async Task Forward<T>(string streamNamespace, string type, Func<T, (string MachineId, object Data)> shown)
                {
                    var stream = provider.GetStream<T>(StreamId.Create(streamNamespace, MachineEventStreams.PlantKey));
                    var handle = await stream.SubscribeAsync((item, _) =>
                    {
                        var (machineId, data) = shown(item);
                        Publish(type, machineId, data);
                        return Task.CompletedTask;
                    });
                    bool kept;
                    lock (_gate)
                    {
                        kept = !cancellation.IsCancellationRequested; // else the stop already took the list: undo it here
                        if (kept) _unsubscribe.Add(handle.UnsubscribeAsync);
                    }
                    if (!kept) await handle.UnsubscribeAsync();
                }
                // An alert's audio reference is the silo's own path for clips pushed over HTTP, which stays inside: the
                // event carries the URL this API serves it at while the machine's newest alerts keep it, or a gateway's
                // own reference, as /api/alerts does;
                // a label request carries what a labeller may open, as /api/label-requests shows it.
                await Forward<AnomalyAlert>(MachineEventStreams.AlertNamespace, AlertEvent, alert => (alert.MachineId, new
                {
                    alert.MachineId, alert.ClipId, alert.ClipIndex, alert.Score, alert.DecisionThreshold, alert.LabelRequested, alert.DetectedAt,
                    AudioUrl = audio.KeepsAudioOf(alert) ? MachineApi.AudioUrlOf(alert.MachineId, alert.ClipId) : null,
                    AudioReference = audio.GatewayReferenceOf(alert.MachineId, alert.ClipId, alert.AudioReference),
                }));
                await Forward<LabelRequestEvent>(MachineEventStreams.LabelRequestNamespace, LabelRequestEvent, asked =>
                {
                    var shown = MachineApi.LabelRequestResponse.Of(asked.Request, audio);
                    return (asked.MachineId, new
                    {
                        shown.MachineId, shown.ClipId, shown.Score, shown.RequestedAt, shown.QueryReason, shown.AudioUrl,
                        shown.AudioReference, shown.DecisionThreshold, asked.Anomalous, asked.ClipIndex,
                    });
                });
                await Forward<LabelRequestClosed>(MachineEventStreams.LabelRequestClosedNamespace, LabelRequestClosedEvent, closed => (closed.MachineId, new
                {
                    closed.MachineId, closed.ClipId, closed.Outcome, closed.ClosedAt, closed.ClosedBy, // the outcome as its JSON word (LabelRequestOutcome)
                }));
                await Forward<LabelRequestClaim>(MachineEventStreams.LabelRequestClaimNamespace, LabelRequestClaimEvent, claim => (claim.MachineId, new
                {
                    claim.MachineId, claim.ClipId, claim.ClaimedBy, claim.ClaimedUntil, // claimedBy null: released
                }));
                _subscribed.TrySetResult();
                return;
            }
            catch (Exception e) when (!cancellation.IsCancellationRequested)
            {
                LogSubscribeFailed(logger, e, delay.TotalSeconds);
                await Task.Delay(delay, cancellation).ContinueWith(_ => { });
            }
        }
    }

    /// <summary>Numbers an event, keeps it for replay and hands it to every listener.</summary>
    public ConsoleEvent Publish(string type, string machineId, object data)
    {
        string json = JsonSerializer.Serialize(data, data.GetType(), Json);
        lock (_gate)
        {
            var item = new ConsoleEvent(++_last, type, machineId, json);
            _buffer.Enqueue(item);
            while (_buffer.Count > Capacity) _evicted = _buffer.Dequeue().Id;
            for (int i = _listeners.Count - 1; i >= 0; i--)
            {
                if (_listeners[i].Writer.TryWrite(item)) continue;
                _listeners[i].Writer.TryComplete(); // too far behind: it reconnects with Last-Event-ID and replays
                _listeners.RemoveAt(i);
            }
            return item;
        }
    }

    /// <summary>Streams this silo holds open now.</summary>
    public int OpenStreams { get { lock (_gate) return _open; } }

    /// <summary>Streams <paramref name="labeller"/>'s own key holds open on this silo now.</summary>
    public int OpenStreamsOf(string labeller) { lock (_gate) return _openOf.GetValueOrDefault(labeller); }

    /// <summary>
    /// Takes a stream's place under <see cref="SiloOptions.MaxEventStreams"/> (and, for a person's own key,
    /// <see cref="SiloOptions.MaxEventStreamsPerLabeller"/>), or null with the limit reached. The action gives it back (once).
    /// </summary>
    public Action? TryOpen(string? labeller, out EventStreamLimit.Reached reached)
    {
        var limits = options.Value;
        lock (_gate)
        {
            reached = EventStreamLimit.Reached.Silo;
            if (_open >= limits.MaxEventStreams) return null;
            if (labeller is not null)
            {
                int held = _openOf.GetValueOrDefault(labeller);
                reached = EventStreamLimit.Reached.Labeller;
                if (held >= limits.MaxEventStreamsPerLabeller) return null;
                _openOf[labeller] = held + 1;
            }
            _open++;
        }
        int given = 0;
        return () =>
        {
            if (Interlocked.Exchange(ref given, 1) != 0) return;
            lock (_gate)
            {
                _open--;
                if (labeller is not null && --_openOf[labeller] == 0) _openOf.Remove(labeller);
            }
        };
    }

    /// <summary>
    /// Events after <paramref name="lastEventId"/> still in the buffer, and a reader of the ones to come (no event lost
    /// or repeated in between). <c>Gap</c>: events after that id were lost (evicted, or from an earlier run of the silo).
    /// </summary>
    public (IReadOnlyList<ConsoleEvent> Replay, bool Gap, ChannelReader<ConsoleEvent> Live, Action Leave) Listen(long? lastEventId)
    {
        var channel = Channel.CreateBounded<ConsoleEvent>(new BoundedChannelOptions(ListenerBacklog) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        lock (_gate)
        {
            bool gap = lastEventId is { } id && (id < _evicted || id > _last);
            var replay = lastEventId is { } after ? _buffer.Where(e => e.Id > after).ToList() : [];
            if (_ending) channel.Writer.TryComplete(); // the silo is stopping: the replay, then the end
            else _listeners.Add(channel);
            return (replay, gap, channel.Reader, () => { lock (_gate) _listeners.Remove(channel); });
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "could not subscribe to the machine event streams; trying again in {Seconds} s")]
    private static partial void LogSubscribeFailed(ILogger logger, Exception exception, double seconds);

    [LoggerMessage(Level = LogLevel.Debug, Message = "could not unsubscribe from a machine event stream")]
    private static partial void LogUnsubscribeFailed(ILogger logger, Exception exception);
}

/// <summary>
/// <c>GET /api/events</c> (labeller): Server-Sent Events of alerts (<c>event: alert</c>), label requests
/// (<c>event: label-request</c>) and requests closed (<c>event: label-request-closed</c>: labelled, declined, expired or
/// withdrawn) and claims (<c>event: label-request-claim</c>: who is listening to a clip; <c>claimedBy</c> null when
/// released), optionally of one machine (<c>?machine=</c>) or kinds (<c>?types=alert</c>).
/// Resumable: a reconnect with <c>Last-Event-ID</c> (or <c>?lastEventId=</c>) replays the events after it that this
/// silo still holds; when it cannot (a gap), the stream starts with <c>event: reset</c>.
/// Bounded (<see cref="EventStreamLimit"/>): past the silo's or a person's key's open streams, 503 or 429 with Retry-After;
/// a client that takes nothing for <see cref="StuckAfter"/> is closed.
/// </summary>
public static class EventsApi
{
    public static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(15);
    /// <summary>How long a write to a client may wait before the client counts as stuck and its stream is closed.</summary>
    public static readonly TimeSpan StuckAfter = TimeSpan.FromSeconds(30);

    public static void Map(WebApplication app)
    {
        app.MapGet("/api/events", async (HttpContext http, string? machine, string? types, long? lastEventId, ConsoleEventHub hub, ApiKeys keys, IOptions<SiloOptions> options,
            AsdOrleans.Application.MachineUseCases machines) =>
        {
            if (machine is not null && !AsdOrleans.Method.Vocabulary.Identifiers.IsValidMachineId(machine))
                return Results.Problem($"'{machine}' is not a valid machine id", statusCode: StatusCodes.Status400BadRequest);
            // A mistyped id is said to be unknown, as the other ?machine= filters say it: its stream would carry nothing, ever.
            if (machine is not null && await MachineApi.RejectUnlistedMachine(machine, machines) is { } unknown)
                return unknown;
            var kinds = (types ?? string.Join(',', ConsoleEventHub.Kinds))
                .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
            if (kinds.Count == 0 || kinds.Any(k => !ConsoleEventHub.Kinds.Contains(k)))
                return Results.Problem($"types must list some of {string.Join(", ", ConsoleEventHub.Kinds)}", statusCode: StatusCodes.Status400BadRequest);
            if (lastEventId < 0)
                return Results.Problem("lastEventId must be an event id this API sent (0 or more)", statusCode: StatusCodes.Status400BadRequest);
            string? header = http.Request.Headers["Last-Event-ID"];
            long? after = lastEventId;
            if (!string.IsNullOrEmpty(header))
            {
                if (!long.TryParse(header, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long parsed))
                    return Results.Problem("Last-Event-ID must be an event id this API sent", statusCode: StatusCodes.Status400BadRequest);
                after = parsed;
            }

            // A person's own key is one person's: its streams count apart too. A shared key is many people's.
            string? person = keys.LabellerNameOf(http.Request.Headers[ApiKeys.Header]);
            var release = hub.TryOpen(person, out var reached);
            if (release is null)
            {
                await EventStreamLimit.Refuse(http, reached, person, options.Value);
                return Results.Empty;
            }
            Action? leave = null;
            // Writes that make no progress for StuckAfter: the client takes nothing (its buffers and Kestrel's are full).
            // Kestrel's own minimum data rate gives a stream that much time per 240 bytes queued: hours, for a backlog.
            using var writing = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
            CancellationToken Deadline() { writing.CancelAfter(StuckAfter); return writing.Token; }
            void Done() => writing.CancelAfter(Timeout.InfiniteTimeSpan);
            try
            {
                (var replay, var gap, var live, leave) = hub.Listen(after);
                var response = http.Response;
                response.ContentType = "text/event-stream";
                response.Headers.CacheControl = "no-cache";
                response.Headers["X-Accel-Buffering"] = "no";
                http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>()?.DisableBuffering();
                var cancellation = http.RequestAborted;
                await response.WriteAsync("retry: 2000\n\n", Deadline());
                if (gap)
                    await response.WriteAsync($"event: {ConsoleEventHub.ResetEvent}\ndata: {{\"reason\":\"events after {after} are no longer held; reload the lists\"}}\n\n", Deadline());
                bool Wanted(ConsoleEvent e) => kinds.Contains(e.Type) && (machine is null || e.MachineId == machine);
                foreach (var e in replay.Where(Wanted))
                    await Write(response, e, Deadline());
                await response.Body.FlushAsync(Deadline());
                Done();
                while (!cancellation.IsCancellationRequested)
                {
                    using var beat = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
                    beat.CancelAfter(Heartbeat);
                    try
                    {
                        if (!await live.WaitToReadAsync(beat.Token))
                            break; // the silo stops, or this listener fell too far behind: the client reconnects
                    }
                    catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
                    {
                        await response.WriteAsync(": keep-alive\n\n", Deadline());
                        await response.Body.FlushAsync(Deadline());
                        Done();
                        continue;
                    }
                    while (live.TryRead(out var e))
                        if (Wanted(e)) await Write(response, e, Deadline());
                    await response.Body.FlushAsync(Deadline());
                    Done();
                }
            }
            catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
            {
                // the client went away
            }
            catch (OperationCanceledException) when (writing.IsCancellationRequested)
            {
                // Stuck: closed, so that it holds no place, backlog or connection; it reconnects with Last-Event-ID.
                http.Abort();
            }
            finally
            {
                leave?.Invoke();
                release(); // only now: a listener dropped for falling behind holds its place until its request ends
            }
            return Results.Empty;
        }).RequireRole(ApiRole.Labeller)
            .WithName("StreamEvents")
            .WithSummary("Live alerts, label requests, closed requests and claims (Server-Sent Events, resumable with Last-Event-ID)")
            .Produces(200, contentType: "text/event-stream").ProducesProblem(400).ProducesProblem(429).ProducesProblem(503);
    }

    private static Task Write(HttpResponse response, ConsoleEvent e, CancellationToken cancellation)
        => response.WriteAsync($"id: {e.Id}\nevent: {e.Type}\ndata: {e.Json}\n\n", cancellation);
}
