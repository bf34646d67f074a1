using System.CommandLine;
using System.Globalization;
using System.Net.ServerSentEvents;
using System.Text.Json;
using AsdOrleans.Method.Vocabulary;
using Spectre.Console;

namespace AsdOrleans.Cli.Commands;

/// <summary>
/// `asd alerts`: the plant's alerts at a terminal or in a script, through the silo's HTTP API with a labeller key —
/// the newest ones (`list`, from the score histories, as the console's alert page) or each new one as it is raised
/// (`follow`, from the resumable event stream, as `tail -f` would).
/// </summary>
public static class AlertsCommand
{
    public static Command Create()
    {
        var command = new Command("alerts", "the plant's alerts (clips scored above their machine's threshold φ) through a silo's HTTP API: list, follow");
        command.Subcommands.Add(List());
        command.Subcommands.Add(Follow());
        return command;
    }

    private static (Option<string> Url, Option<string> Key, Option<string?> Machine, Option<bool> Json) Common(string json)
    {
        var (url, key) = LabelCommand.Connection();
        return (url, key, new Option<string?>("--machine") { Description = "only this machine's alerts" }, new Option<bool>("--json") { Description = json });
    }

    private static Command List()
    {
        var (url, key, machine, json) = Common("print a JSON array of {machineId, clipId, clipIndex, score, decisionThreshold, at, labelRequested, label, audioUrl, unanswered, closedBy, audioReference} instead of a table (unanswered: declined, expired or withdrawn when the request closed without a label; closedBy: the labeller who answered or declined, when named; audioReference: where a gateway keeps the clip)");
        var since = new Option<string?>("--since") { Description = "only alerts raised at or after this time (ISO 8601, e.g. 2026-12-05T14:00:00Z)" };
        var limit = new Option<int>("--limit") { Description = "most alerts listed, newest first (1–10000)", DefaultValueFactory = _ => 100 };
        var command = new Command("list", "the newest alerts, newest first") { url, key, machine, since, limit, json };
        command.SetAction(async (parse, cancellation) =>
        {
            int take = parse.GetValue(limit);
            if (take is < 1 or > 10_000) throw new UsageException($"--limit must be in 1..10000, got {take}");
            string? only = parse.GetValue(machine);
            if (only is not null) InputChecks.MachineId("--machine", only);
            DateTimeOffset? from = null;
            if (parse.GetValue(since) is { } text)
                from = DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed)
                    ? parsed : throw new UsageException($"--since: '{text}' is not an ISO 8601 time");
            using var http = new ClusterHttp(parse.GetValue(url)!, ClusterHttp.KeyOf(parse, key), retryNotices: parse.InvocationConfiguration.Error);
            string query = $"/api/alerts?limit={take}"
                + (only is not null ? $"&machine={Uri.EscapeDataString(only)}" : "")
                + (from is { } f ? $"&since={Uri.EscapeDataString(f.ToString("O", CultureInfo.InvariantCulture))}" : "");
            var alerts = (await http.SendAsync(HttpMethod.Get, query, null, cancellation)).EnumerateArray().Select(Alert.FromList).ToList();
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(alerts, Alert.IndentedJson));
                return 0;
            }
            if (alerts.Count == 0)
            {
                output.WriteLine("no alerts");
                return 0;
            }
            var table = new Table().Border(TableBorder.Simple).AddColumns("raised at (UTC)", "machine", "clip", "#", "score", "φ", "label asked", "label");
            foreach (var a in alerts)
                table.AddRow(new Text(Time(a.At)), new Text(a.MachineId), new Text(a.ClipId), new Text(a.ClipIndex.ToString(CultureInfo.InvariantCulture)),
                    new Text(F(a.Score)), new Text(F(a.DecisionThreshold)), new Text(a.LabelRequested ? "yes" : ""), new Text((a.Label ?? a.Unanswered ?? (a.LabelRequested ? "awaited" : "")) + (a.ClosedBy is { } by ? $" ({by})" : "")));
            Terminal.For(output).Write(table);
            output.WriteLine($"{alerts.Count} alert(s){(alerts.Count == take ? $" (the newest {take}; --limit lists more)" : "")}");
            return 0;
        });
        return command;
    }

    private static Command Follow()
    {
        var (url, key, machine, json) = Common("print each alert as one line of JSON {id, machineId, clipId, clipIndex, score, decisionThreshold, at, labelRequested, audioUrl, audioReference}");
        var count = new Option<int?>("--count") { Description = "stop after this many alerts (default: until interrupted)" };
        var giveUp = new Option<string>("--give-up-after")
        {
            Description = "after a connection that worked drops, stop (exit 5) once reconnecting has failed for this long without a break, e.g. 90s, 10m, 1h (a silo removed for good; a silo that answers it is full is waited for, not counted); 0: retry forever",
            DefaultValueFactory = _ => "10m",
        };
        var command = new Command("follow", "print each new alert as it is raised, until interrupted; a dropped connection is resumed where it left off, and after a silo restart the alerts raised meanwhile are printed from the list of alerts (their JSON id is null); exit 5 when the silo stays unreachable for --give-up-after; a silo at its event-stream limit (503/429 with Retry-After) is waited for as it asks, without giving up")
            { url, key, machine, count, giveUp, json };
        command.SetAction(async (parse, cancellation) =>
        {
            string? only = parse.GetValue(machine);
            if (only is not null) InputChecks.MachineId("--machine", only);
            int? stopAfter = parse.GetValue(count);
            if (stopAfter is < 1) throw new UsageException($"--count must be at least 1, got {stopAfter}");
            string patienceText = parse.GetValue(giveUp)!;
            var patience = OptionParsing.Duration("--give-up-after", patienceText);
            var clock = Clock.Value ?? TimeProvider.System;
            using var http = new ClusterHttp(parse.GetValue(url)!, ClusterHttp.KeyOf(parse, key), retryNotices: parse.InvocationConfiguration.Error);
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            string path = "/api/events?types=alert" + (only is not null ? $"&machine={Uri.EscapeDataString(only)}" : "");
            int printed = 0;
            string? lastEventId = null;
            Uri? lastEventFrom = null; // the silo that numbered lastEventId (ids are per silo)
            bool connected = false;
            var delay = TimeSpan.FromSeconds(1);
            // What was printed, to print each alert once: a reset's catch-up from the lists and the stream after it overlap.
            var seen = new HashSet<(string, string)>();
            var seenOrder = new Queue<(string, string)>();
            // The catch-up's bounds are the silo's times, never this client's clock: a client clock ahead of the silos'
            // would skip the alerts raised meanwhile. Start: the first answer's Date header; then the last alert printed.
            DateTimeOffset? following = null, lastAt = null;
            long? failingSince = null; // when reconnecting began to fail (a monotonic timestamp), null while connected
            bool Print(Alert alert, string? eventId)
            {
                if (!seen.Add((alert.MachineId, alert.ClipId))) return false;
                seenOrder.Enqueue((alert.MachineId, alert.ClipId));
                if (seenOrder.Count > SeenKept) seen.Remove(seenOrder.Dequeue());
                if (lastAt is null || alert.At > lastAt) lastAt = alert.At;
                output.WriteLine(parse.GetValue(json)
                    ? JsonSerializer.Serialize(new { id = eventId, alert.MachineId, alert.ClipId, alert.ClipIndex, alert.Score, alert.DecisionThreshold, alert.At, alert.LabelRequested, alert.AudioUrl, alert.AudioReference }, Alert.Json)
                    : $"{Time(alert.At)}  {alert.MachineId}  {alert.ClipId}  #{alert.ClipIndex}  score {F(alert.Score)} > φ {F(alert.DecisionThreshold)}{(alert.LabelRequested ? "  label asked" : "")}");
                output.Flush();
                return ++printed == stopAfter;
            }
            while (true)
            {
                try
                {
                    var (body, serverTime, silo) = await http.OpenEventStreamAsync(path, lastEventId, cancellation, lastEventFrom);
                    await using var stream = body;
                    following ??= serverTime ?? clock.GetUtcNow(); // no Date header (a proxy dropped it): the client's, the best left
                    connected = true;
                    failingSince = null;
                    delay = TimeSpan.FromSeconds(1);
                    await foreach (var item in SseParser.Create(stream).EnumerateAsync(cancellation))
                    {
                        if (item.EventType == "reset")
                        {
                            // The silo no longer holds what came after our last event (it restarted, or we were away long):
                            // the alerts raised meanwhile are in the lists, which the machines keep (docs/console.md).
                            var since = lastAt is { } last ? Max(following.Value, last - CatchUpMargin) : following.Value;
                            if (await CatchUp(http, only, since, Print, error, cancellation)) return 0;
                            continue;
                        }
                        if (item.EventType != "alert") continue;
                        if (item.EventId is not null) (lastEventId, lastEventFrom) = (item.EventId, silo);
                        using var data = JsonDocument.Parse(item.Data);
                        if (Print(Alert.FromEvent(data.RootElement), item.EventId)) return 0;
                    }
                    error.WriteLine($"asd: the silo closed the event stream; reconnecting in {delay.TotalSeconds:0} s");
                }
                catch (SiloRefusedException e) when (AliveButFull(e))
                {
                    // The silo answered: it is there, at its event-stream limit (Asd:MaxEventStreams 503, or this key's
                    // Asd:MaxEventStreamsPerLabeller 429), and says when to come back. Not "gone": it neither counts toward
                    // --give-up-after nor ends a first connection; wait what it asks, with jitter, so that followers
                    // refused together do not all come back together (as the console waits).
                    failingSince = null;
                    delay = e.RetryAfter!.Value * (1 + Random.Shared.NextDouble() / 2);
                    error.WriteLine($"asd: the silo is up but holds its most event streams ({e.Message}); trying again in "
                        + $"{delay.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s, as it asks (Retry-After); this is not counted toward --give-up-after");
                    await Task.Delay(delay, cancellation);
                    delay = TimeSpan.FromSeconds(1);
                    continue;
                }
                catch (Exception e) when (connected && Transient(e, cancellation))
                {
                    // Dropped after it worked (a silo restart, the network): retry with back-off, resuming after the last
                    // event seen. A first connection that fails, or a refusal (key, role, input), ends the command.
                    // A silo removed for good would be retried forever: past --give-up-after of failures, stop.
                    failingSince ??= clock.GetTimestamp();
                    var failing = clock.GetElapsedTime(failingSince.Value);
                    if (patience > TimeSpan.Zero && failing >= patience)
                    {
                        error.WriteLine($"error: gave up on the silo{(parse.GetValue(url)!.Contains(',') ? "s" : "")} at {parse.GetValue(url)}: reconnecting failed for {Span(failing)} without a break "
                            + $"(--give-up-after {patienceText}; 0 retries forever); last: {e.Message}");
                        return CliRunner.Incomplete;
                    }
                    if (patience > TimeSpan.Zero && patience - failing < delay) delay = patience - failing; // the last try at the limit
                    error.WriteLine($"asd: {e.Message}; reconnecting in {delay.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s");
                }
                await Task.Delay(delay, cancellation);
                delay = TimeSpan.FromSeconds(Math.Min(30, delay.TotalSeconds * 2));
            }
        });
        return command;
    }

    /// <summary>Alerts a follower remembers having printed (a catch-up's window is minutes, far fewer).</summary>
    private const int SeenKept = 20_000;
    /// <summary>Most alerts one catch-up lists (the API's largest page).</summary>
    private const int CatchUpLimit = 10_000;
    /// <summary>How far before the last alert printed a catch-up looks (never before the follower started, by the silo's
    /// Date): the silos' clocks may differ a little, and an alert printed twice is skipped anyway.</summary>
    private static readonly TimeSpan CatchUpMargin = TimeSpan.FromSeconds(30);

    /// <summary>After a reset, prints (oldest first) the alerts raised since <paramref name="since"/> that were not
    /// printed, from <c>GET /api/alerts</c>; true when <c>--count</c> is reached. Said on stderr; a list that cannot be
    /// read leaves the old warning.</summary>
    private static async Task<bool> CatchUp(ClusterHttp http, string? only, DateTimeOffset since, Func<Alert, string?, bool> print,
        TextWriter error, CancellationToken cancellation)
    {
        string query = $"/api/alerts?limit={CatchUpLimit}&since={Uri.EscapeDataString(since.ToString("O", CultureInfo.InvariantCulture))}"
            + (only is not null ? $"&machine={Uri.EscapeDataString(only)}" : "");
        List<Alert> listed;
        try
        {
            listed = (await http.SendAsync(HttpMethod.Get, query, null, cancellation)).EnumerateArray().Select(Alert.FromList).ToList();
        }
        catch (Exception e) when (Transient(e, cancellation))
        {
            error.WriteLine($"asd: some alerts may have been missed while disconnected, and the list of alerts could not be read ({e.Message}); `asd alerts list` shows the newest");
            return false;
        }
        error.WriteLine("asd: the silo no longer holds the events since the last one printed (it restarted, or this follower was away long); "
            + $"the alerts raised meanwhile are printed from the list of alerts{(listed.Count == CatchUpLimit ? $", which holds more than {CatchUpLimit}: older ones may be missing (`asd alerts list --since`)" : "")}");
        foreach (var alert in listed.OrderBy(a => a.At))
            if (print(alert, null))
                return true;
        return false;
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    /// <summary>The client's clock: how long reconnecting has failed, and the start where a silo sends no Date. A test sets
    /// one ahead of the silo's, which the catch-up must not trust.</summary>
    internal static readonly AsyncLocal<TimeProvider?> Clock = new();

    private static string Span(TimeSpan t) => t.TotalMinutes >= 1
        ? $"{(int)t.TotalMinutes} min {t.Seconds} s" : $"{t.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s";

    /// <summary>A silo that answered 503 or 429 with Retry-After: alive and at one of its limits (the event streams it holds,
    /// EventStreamLimit), not gone. A 503 without Retry-After (a proxy before a silo that is down, Redis unwritable) is not.</summary>
    private static bool AliveButFull(SiloRefusedException e) => e is { Status: 503 or 429, RetryAfter: not null };

    private static bool Transient(Exception e, CancellationToken cancellation) => e switch
    {
        SiloRefusedException refused => refused.Status >= 500 || refused.Status == 429, // 429: the key's event streams, for now
        UsageException => true, // cannot reach the silo
        HttpRequestException or IOException => true,
        OperationCanceledException => !cancellation.IsCancellationRequested, // a client timeout, not the user
        _ => false,
    };

    private static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    private static string F(double value) => value.ToString("0.0000", CultureInfo.InvariantCulture);

    /// <summary>An alert as this command prints it; the label as a word (normal, anomaly), null while none was given;
    /// where the silo serves its audio while it keeps it (`asd label audio` fetches it), else null; how its label request
    /// ended without a label (declined, expired, withdrawn), else null; the labeller who answered or declined, when named;
    /// where a gateway keeps the clip's audio (its own reference), for clips the silo did not store.</summary>
    private sealed record Alert(string MachineId, string ClipId, long ClipIndex, double Score, double DecisionThreshold, DateTimeOffset At, bool LabelRequested, string? Label, string? AudioUrl,
        string? Unanswered = null, string? ClosedBy = null, string? AudioReference = null)
    {
        public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
        public static readonly JsonSerializerOptions IndentedJson = new(JsonSerializerDefaults.Web) { WriteIndented = true };

        /// <summary>A row of <c>GET /api/alerts</c>.</summary>
        public static Alert FromList(JsonElement a) => new(
            a.GetProperty("machineId").GetString()!, a.GetProperty("clipId").GetString()!, a.GetProperty("clipIndex").GetInt64(),
            a.GetProperty("score").GetDouble(), a.GetProperty("decisionThreshold").GetDouble(), a.GetProperty("at").GetDateTimeOffset(),
            a.GetProperty("labelRequested").GetBoolean(),
            a.TryGetProperty("label", out var label) && label.ValueKind == JsonValueKind.Number ? ClipWords.Label(label.GetInt32() == 1) : null,
            ClusterHttp.OptionalString(a, "audioUrl"),
            ClusterHttp.OptionalString(a, "requestOutcome") is { } outcome and not ("normal" or "anomalous") ? outcome : null,
            ClusterHttp.OptionalString(a, "closedBy"), ClusterHttp.OptionalString(a, "audioReference"));

        /// <summary>The data of an <c>event: alert</c> of <c>/api/events</c>.</summary>
        public static Alert FromEvent(JsonElement a) => new(
            a.GetProperty("machineId").GetString()!, a.GetProperty("clipId").GetString()!, a.GetProperty("clipIndex").GetInt64(),
            a.GetProperty("score").GetDouble(), a.GetProperty("decisionThreshold").GetDouble(), a.GetProperty("detectedAt").GetDateTimeOffset(),
            a.GetProperty("labelRequested").GetBoolean(), null, ClusterHttp.OptionalString(a, "audioUrl"), AudioReference: ClusterHttp.OptionalString(a, "audioReference"));
    }
}
