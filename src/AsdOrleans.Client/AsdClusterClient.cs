using System.Collections.Concurrent;
using AsdOrleans.Abstractions;
using AsdOrleans.Application;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Streams;

namespace AsdOrleans.Client;

/// <summary>
/// A .NET service inside the cluster network (labelling service, plant gateway) talking to the AsdOrleans grains
/// directly through an Orleans gateway: machines, clips, label requests and labels, and live alert / label-request
/// events. Devices and labellers outside the cluster network use the silo's HTTP API instead (see docs/client.md).
/// Bad input is refused by the grains with an <see cref="ArgumentException"/> carrying their message, and changes
/// nothing; a machine that is not enrolled yet gives an <see cref="InvalidOperationException"/>.
/// </summary>
public sealed class AsdClusterClient : IAsyncDisposable
{
    private readonly IHost? _host;
    private readonly IStreamProvider _streams;
    private readonly ILogger _logger;
    private readonly int _subscriptionBuffer;
    private readonly ConcurrentDictionary<object, Func<ValueTask>> _subscriptions = new();

    /// <summary>Wraps an Orleans client the caller hosts (configured with <see cref="AsdClientBuilderExtensions.ConfigureAsdClient"/>);
    /// disposing this object then leaves that client running.</summary>
    public AsdClusterClient(IClusterClient orleans, ILogger<AsdClusterClient>? logger = null, int subscriptionBuffer = 10_000)
        : this(orleans, host: null, logger ?? NullLogger<AsdClusterClient>.Instance, subscriptionBuffer)
    {
    }

    private AsdClusterClient(IClusterClient orleans, IHost? host, ILogger logger, int subscriptionBuffer)
    {
        ArgumentNullException.ThrowIfNull(orleans);
        if (subscriptionBuffer < 1)
            throw new ArgumentException($"the subscription buffer must hold at least one event, got {subscriptionBuffer}");
        Orleans = orleans;
        _host = host;
        _logger = logger;
        _subscriptionBuffer = subscriptionBuffer;
        _streams = orleans.GetStreamProvider(MachineEventStreams.ProviderName);
    }

    /// <summary>The underlying Orleans client, for grain calls this class does not wrap.</summary>
    public IClusterClient Orleans { get; }

    /// <summary>Connects to the cluster's gateway and returns once connected.</summary>
    /// <exception cref="InvalidOperationException">No gateway answered.</exception>
    public static async Task<AsdClusterClient> ConnectAsync(AsdClientOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.ConnectTimeout <= TimeSpan.Zero)
            throw new ArgumentException($"the connect timeout must be positive, got {options.ConnectTimeout}");
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var deadline = DateTime.UtcNow + options.ConnectTimeout;
        builder.UseOrleansClient(client => client.ConfigureAsdClient(options).UseConnectionRetryFilter(async (_, cancellation) =>
        {
            if (DateTime.UtcNow + RetryDelay >= deadline)
                return false;
            await Task.Delay(RetryDelay, cancellation);
            return true;
        }));
        var host = builder.Build();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ConnectTimeout);
        try
        {
            await host.StartAsync(timeout.Token);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            host.Dispose();
            string where = string.IsNullOrWhiteSpace(options.Redis)
                ? $"the silo gateway on localhost:{options.GatewayPort}"
                : $"a gateway of cluster '{options.ClusterId}' (service '{options.ServiceId}') listed in Redis";
            string why = e is OperationCanceledException ? $"no answer within {options.ConnectTimeout.TotalSeconds:0.#} s" : e.Message;
            throw new InvalidOperationException($"cannot connect to {where}: {why}", e);
        }
        return new AsdClusterClient(host.Services.GetRequiredService<IClusterClient>(), host,
            host.Services.GetRequiredService<ILoggerFactory>().CreateLogger<AsdClusterClient>(), options.SubscriptionBuffer);
    }

    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    private MachineUseCases UseCases => _useCases ??= new(Orleans);
    private MachineUseCases? _useCases;

    /// <summary>Ids of all configured or enrolled machines.</summary>
    public Task<IReadOnlyList<string>> ListMachinesAsync() => UseCases.ListMachineIds();

    /// <summary>One machine's settings, set sizes, counters and budget.</summary>
    public Task<MachineStatus> GetStatusAsync(string machineId) => UseCases.GetStatus(machineId);

    /// <summary>Sets a machine's method settings (creating it if new); the machine lists itself in the registry.</summary>
    public Task<MachineStatus> ConfigureAsync(string machineId, MachineSettings settings) => UseCases.Configure(machineId, settings);

    /// <summary>Enrolls a machine from embeddings made by the cluster's encoder model version.</summary>
    public Task<MachineStatus> EnrollAsync(string machineId, EnrollmentRequest request) => UseCases.Enroll(machineId, request);

    /// <summary>Enrolls a machine from training WAVs, embedded by the cluster's encoder workers (as the HTTP API's
    /// <c>enrollment/audio</c> does).</summary>
    public Task<MachineStatus> EnrollFromAudioAsync(string machineId, IReadOnlyList<TrainingClip> clips) => UseCases.EnrollFromAudio(machineId, clips);

    /// <summary>
    /// Scores one clip: the encoder worker embeds the WAV and hands it to the machine (the HTTP API's ingest path).
    /// The silo keeps no audio for clips pushed this way: pass in <paramref name="audioReference"/> where your
    /// labellers can fetch the clip, and it travels with any label request. Retrying a recent clip id with the same bytes
    /// returns the original verdict; the id with other bytes is a <see cref="ClipIdReusedException"/> (nothing changes).
    /// </summary>
    public Task<ClipVerdict> PushClipAsync(string machineId, string clipId, byte[] wav, string? audioReference = null)
        => UseCases.IngestClip(machineId, clipId, wav, audio: null, audioReference);

    /// <summary>Pending label requests, oldest first: of one machine, or of every machine in the registry.</summary>
    public Task<IReadOnlyList<LabelRequest>> GetPendingLabelRequestsAsync(string? machineId = null, int limit = 100)
        => UseCases.PendingLabelRequests(machineId, limit);

    /// <summary>Answers a label request. Submitting the same label again is harmless (<see cref="LabelReceipt.AlreadyApplied"/>);
    /// a clip the machine did not ask about, or a different label for an answered clip, is an <see cref="ArgumentException"/>;
    /// a request that expired unanswered is a <see cref="LabelRequestExpiredException"/>. The clip's stored audio, if the
    /// silo kept any, is removed once labelled. <paramref name="labeller"/>, when given, is recorded with the answer
    /// (letters, digits, '.', '_', '-', '@'; at most 64).</summary>
    public Task<LabelReceipt> SubmitLabelAsync(string machineId, string clipId, ClipLabelValue label, string? labeller = null) => UseCases.SubmitLabel(machineId, clipId, label, labeller);

    /// <summary>Closes a label request without a label, for a labeller who cannot tell (a guess would put the clip in the
    /// wrong set). The query stays spent; a later label for it is a <see cref="LabelRequestExpiredException"/>. Declining
    /// again, or a request that expired, gives <see cref="DeclineReceipt.AlreadyClosed"/>; a labelled clip is a
    /// <see cref="LabelConflictException"/>.</summary>
    public Task<DeclineReceipt> DeclineLabelRequestAsync(string machineId, string clipId, string? labeller = null) => UseCases.DeclineLabelRequest(machineId, clipId, labeller);

    /// <summary>Tells other labellers that <paramref name="labeller"/> is listening to a pending clip, for
    /// <paramref name="lease"/> (default 2 minutes; renew by claiming again). When someone else's claim is live, nothing
    /// changes and theirs comes back: check <see cref="LabelRequestClaim.IsHeldBy"/> and pick another clip. A claim is
    /// advice, not a lock: any labeller may still answer the request, and the answer ends the claim.</summary>
    public Task<LabelRequestClaim> ClaimLabelRequestAsync(string machineId, string clipId, string labeller, TimeSpan? lease = null)
        => UseCases.ClaimLabelRequest(machineId, clipId, labeller, lease);

    /// <summary>Ends <paramref name="labeller"/>'s claim on a clip (a skipped clip goes back to the others).</summary>
    public Task<LabelRequestClaim> ReleaseLabelRequestAsync(string machineId, string clipId, string labeller)
        => UseCases.ReleaseLabelRequest(machineId, clipId, labeller);

    /// <summary>Subscribes to claims taken, renewed and released (<see cref="LabelRequestClaim.ClaimedBy"/> null), so a
    /// labelling service can show who is listening to what.</summary>
    public Task<MachineEventSubscription<LabelRequestClaim>> SubscribeToLabelRequestClaimsAsync(string? machineId = null)
        => Subscribe<LabelRequestClaim>(MachineEventStreams.LabelRequestClaimNamespace, machineId);

    /// <summary>Subscribes to anomaly alerts of every machine, or of <paramref name="machineId"/> only.</summary>
    public Task<MachineEventSubscription<AnomalyAlert>> SubscribeToAlertsAsync(string? machineId = null)
        => Subscribe<AnomalyAlert>(MachineEventStreams.AlertNamespace, machineId);

    /// <summary>Subscribes to new label requests of every machine, or of <paramref name="machineId"/> only.</summary>
    public Task<MachineEventSubscription<LabelRequestEvent>> SubscribeToLabelRequestsAsync(string? machineId = null)
        => Subscribe<LabelRequestEvent>(MachineEventStreams.LabelRequestNamespace, machineId);

    /// <summary>Subscribes to label requests as they close (labelled, declined, expired or withdrawn), so a labelling
    /// service can drop them from its own queue at once.</summary>
    public Task<MachineEventSubscription<LabelRequestClosed>> SubscribeToClosedLabelRequestsAsync(string? machineId = null)
        => Subscribe<LabelRequestClosed>(MachineEventStreams.LabelRequestClosedNamespace, machineId);

    /// <summary>Calls <paramref name="onAlert"/> for each anomaly alert (of one machine, or all) until the returned
    /// handle is disposed. A callback that throws is logged and the event skipped, so it cannot stall delivery.</summary>
    public Task<IAsyncDisposable> OnAlertAsync(Func<AnomalyAlert, Task> onAlert, string? machineId = null)
        => Subscribe(MachineEventStreams.AlertNamespace, machineId, onAlert);

    /// <summary>Calls <paramref name="onRequest"/> for each new label request (of one machine, or all) until the
    /// returned handle is disposed. A callback that throws is logged and the event skipped.</summary>
    public Task<IAsyncDisposable> OnLabelRequestAsync(Func<LabelRequestEvent, Task> onRequest, string? machineId = null)
        => Subscribe(MachineEventStreams.LabelRequestNamespace, machineId, onRequest);

    private IAsyncStream<T> Stream<T>(string streamNamespace) => _streams.GetStream<T>(StreamId.Create(streamNamespace, MachineEventStreams.PlantKey));

    private async Task<MachineEventSubscription<T>> Subscribe<T>(string streamNamespace, string? machineId) where T : IMachineEvent
    {
        var subscription = await MachineEventSubscription<T>.StartAsync(Stream<T>(streamNamespace), machineId, _subscriptionBuffer,
            s => { _subscriptions.TryRemove(s, out _); return ValueTask.CompletedTask; });
        _subscriptions[subscription] = subscription.DisposeAsync;
        return subscription;
    }

    private async Task<IAsyncDisposable> Subscribe<T>(string streamNamespace, string? machineId, Func<T, Task> callback) where T : IMachineEvent
    {
        ArgumentNullException.ThrowIfNull(callback);
        var observer = new FilteringObserver<T>(machineId, async (item, _) =>
        {
            try
            {
                await callback(item);
            }
            catch (Exception e)
            {
                _logger.LogError(e, "{Event} handler failed for machine {Machine}; the event is skipped", typeof(T).Name, item.MachineId);
            }
        }, error => _logger.LogWarning(error, "{Event} stream reported an error", typeof(T).Name), () => { });
        var handle = await Stream<T>(streamNamespace).SubscribeAsync(observer);
        var registration = new CallbackSubscription(async () => await handle.UnsubscribeAsync(), this);
        _subscriptions[registration] = registration.DisposeAsync;
        return registration;
    }

    /// <summary>Unsubscribes what is still subscribed and, when this object made the connection, disconnects.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var unsubscribe in _subscriptions.Values.ToList())
        {
            try
            {
                await unsubscribe();
            }
            catch (Exception e)
            {
                _logger.LogWarning(e, "could not unsubscribe while disconnecting");
            }
        }
        if (_host is not null)
        {
            await _host.StopAsync();
            _host.Dispose();
        }
    }

    private sealed class CallbackSubscription(Func<Task> unsubscribe, AsdClusterClient owner) : IAsyncDisposable
    {
        private int _disposed;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1)
                return;
            owner._subscriptions.TryRemove(this, out _);
            await unsubscribe();
        }
    }
}
