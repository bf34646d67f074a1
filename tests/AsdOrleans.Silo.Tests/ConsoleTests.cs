using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Audio;
using AsdOrleans.Datasets.Synthesis;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Silo.Tests;

/// <summary>A silo with a tiny encoder for the console's endpoints and the browser test; it can be restarted on its data.</summary>
public sealed class ConsoleFixture() : LoopbackSilo("asd-console-", modelSeed: 11, Plan, DeviceKey, LabellerKey, OperatorKey,
    new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Warning", ["Asd:ApiKeys:Labellers:olive"] = NamedLabellerKey })
{
    public const string DeviceKey = "console-device", LabellerKey = "console-labeller", OperatorKey = "console-operator";
    /// <summary>olive's own labeller key.</summary>
    public const string NamedLabellerKey = "console-olive";
    public static readonly SynthPlan Plan = SynthPlan.Create(new SynthSettings { MachineTypes = 1, SourceTrain = 12, TargetTrain = 2, Test = 60, Seconds = 1, Seed = 5 });

    protected override Task Started() => App.Services.GetRequiredService<ConsoleEventHub>().Subscribed.WaitAsync(TimeSpan.FromSeconds(60));
}

/// <summary>One Server-Sent Event as read by the tests.</summary>
public sealed record SseEvent(string? Id, string Type, string Data);

/// <summary>An open /api/events stream.</summary>
public sealed class SseReader : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private SseReader(HttpResponseMessage response, Stream body)
    {
        _response = response;
        _reader = new StreamReader(body);
    }

    public static async Task<SseReader> Open(HttpClient http, string key, string? lastEventId = null, string query = "")
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/events" + query);
        request.Headers.Add("X-Api-Key", key);
        if (lastEventId is not null) request.Headers.Add("Last-Event-ID", lastEventId);
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        return new SseReader(response, await response.Content.ReadAsStreamAsync());
    }

    /// <summary>The next event (comments and retry lines skipped), or a failure after <paramref name="timeout"/>.</summary>
    public async Task<SseEvent> Next(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        string? id = null, type = null, data = null;
        while (true)
        {
            string? line = await _reader.ReadLineAsync(cancel.Token) ?? throw new EndOfStreamException("the event stream ended");
            if (line.Length == 0)
            {
                if (type is not null || data is not null) return new SseEvent(id, type ?? "message", data ?? "");
                continue;
            }
            if (line.StartsWith(':')) continue;
            int colon = line.IndexOf(':');
            string field = colon < 0 ? line : line[..colon], value = colon < 0 ? "" : line[(colon + 1)..].TrimStart(' ');
            switch (field)
            {
                case "id": id = value; break;
                case "event": type = value; break;
                case "data": data = value; break;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        await Task.CompletedTask;
    }
}

public sealed class ConsoleApiTests(ConsoleFixture silo) : IClassFixture<ConsoleFixture>
{
    private static readonly TimeSpan EventWait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Console_endpoints_need_the_labeller_role()
    {
        await silo.Enroll("roles.fan-01", new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 1 });
        await silo.Push("roles.fan-01", "r-1", 0);
        foreach (var path in new[] { "/api/alerts", "/api/machines/roles.fan-01/scores", "/api/machines/roles.fan-01/clips/r-1/spectrogram.png", "/api/events", "/api/events?machine=roles.fan-01" })
        {
            using var none = await silo.Send(HttpMethod.Get, path, null);
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
            Assert.Equal("application/problem+json", none.Content.Headers.ContentType?.MediaType);
            using var device = await silo.Send(HttpMethod.Get, path, ConsoleFixture.DeviceKey);
            Assert.Equal(HttpStatusCode.Forbidden, device.StatusCode);
            foreach (var key in new[] { ConsoleFixture.LabellerKey, ConsoleFixture.OperatorKey })
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, path);
                request.Headers.Add("X-Api-Key", key);
                using var ok = await silo.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            }
        }
        Assert.Equal(HttpStatusCode.BadRequest, (await silo.Send(HttpMethod.Get, "/api/machines/bad id/scores", ConsoleFixture.LabellerKey)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await silo.Send(HttpMethod.Get, "/api/alerts?limit=0", ConsoleFixture.LabellerKey)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await silo.Send(HttpMethod.Get, "/api/events?types=nonsense", ConsoleFixture.LabellerKey)).StatusCode);
        // A mistyped machine is unknown, as the other ?machine= filters say (it was a stream that never carried anything).
        using var unknown = await silo.Send(HttpMethod.Get, "/api/events?machine=roles.fan-10", ConsoleFixture.LabellerKey);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("no machine 'roles.fan-10' is configured or enrolled", await unknown.Content.ReadAsStringAsync());
        // So is its clip's audio (it said the clip had no stored audio).
        using var noMachine = await silo.Send(HttpMethod.Get, "/api/machines/roles.fan-10/clips/r-1/audio", ConsoleFixture.LabellerKey);
        Assert.Equal(HttpStatusCode.NotFound, noMachine.StatusCode);
        Assert.Contains("no machine 'roles.fan-10' is configured or enrolled", await noMachine.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await silo.Send(HttpMethod.Get, "/api/machines/roles.fan-01/clips/nope/spectrogram.png", ConsoleFixture.LabellerKey)).StatusCode);
    }

    [Fact]
    public async Task Scores_alerts_and_spectrograms_follow_the_clips()
    {
        await silo.Enroll("hist.pump-01", new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 4 });
        // At least six clips, and on until one is flagged: which clip first crosses φ depends on the CPU's float rounding.
        var verdicts = new List<JsonElement>();
        for (int i = 0; i < 40 && (i < 6 || !verdicts.Any(v => v.GetProperty("anomalous").GetBoolean())); i++)
            verdicts.Add(await silo.Push("hist.pump-01", $"h-{i}", i));
        int count = verdicts.Count;

        var points = await silo.Get("/api/machines/hist.pump-01/scores");
        Assert.Equal(count, points.GetArrayLength());
        var status = await silo.Get("/api/machines/hist.pump-01");
        // Enrolled from both domains under the default (domain) scoring: φ per domain.
        Assert.Equal(JsonValueKind.Number, status.GetProperty("decisionThresholdTarget").ValueKind);
        for (int i = 0; i < count; i++)
        {
            var p = points[i];
            Assert.Equal($"h-{i}", p.GetProperty("clipId").GetString());
            Assert.Equal(i, p.GetProperty("clipIndex").GetInt64());
            Assert.Equal(verdicts[i].GetProperty("score").GetDouble(), p.GetProperty("score").GetDouble());
            Assert.Equal(verdicts[i].GetProperty("anomalous").GetBoolean(), p.GetProperty("anomalous").GetBoolean());
            Assert.Equal(verdicts[i].GetProperty("labelRequested").GetBoolean(), p.GetProperty("labelRequested").GetBoolean());
            // An alert's audio posted here is kept on the silo's volume, whose paths a labeller never sees.
            Assert.True(!p.TryGetProperty("audioReference", out var reference) || reference.ValueKind == JsonValueKind.Null, $"h-{i}: {reference}");
            // The φ the clip was compared with: the machine's, or its nearest reference's domain's where it keeps one per domain.
            double phi = p.GetProperty("decisionThreshold").GetDouble();
            Assert.Equal(verdicts[i].GetProperty("score").GetDouble() > phi, verdicts[i].GetProperty("anomalous").GetBoolean());
            var thresholds = new[] { status.GetProperty("decisionThreshold"), status.GetProperty("decisionThresholdTarget") }
                .Where(t => t.ValueKind == JsonValueKind.Number).Select(t => t.GetDouble()).ToList();
            Assert.Contains(phi, thresholds);
        }
        var since = points[3].GetProperty("at").GetDateTimeOffset();
        var recent = await silo.Get($"/api/machines/hist.pump-01/scores?since={Uri.EscapeDataString(since.ToString("O"))}");
        Assert.Equal("h-3", recent[0].GetProperty("clipId").GetString());
        Assert.Equal(2, (await silo.Get("/api/machines/hist.pump-01/scores?limit=2")).GetArrayLength());

        // Alerts: the anomalous clips, newest first.
        var alerts = await silo.Get("/api/alerts?machine=hist.pump-01");
        var expected = verdicts.Where(v => v.GetProperty("anomalous").GetBoolean()).Select(v => v.GetProperty("clipId").GetString()).Reverse().ToList();
        Assert.Equal(expected, alerts.EnumerateArray().Select(a => a.GetProperty("clipId").GetString()).ToList());
        Assert.NotEmpty(expected);
        // The plant-wide list is served by the alert index's shards, fed one-way by the histories: the same alerts, once arrived.
        await Waiting.Until(async () => (await silo.Get("/api/alerts?limit=10000")).EnumerateArray()
            .Where(a => a.GetProperty("machineId").GetString() == "hist.pump-01").Select(a => a.GetProperty("clipId").GetString()).SequenceEqual(expected),
            "the plant-wide alert list holds the machine's alerts", seconds: 20);

        // A queried clip's spectrogram; a label shows in the history.
        var queried = verdicts.First(v => v.GetProperty("labelRequested").GetBoolean()).GetProperty("clipId").GetString()!;
        var png = await silo.Send(HttpMethod.Get, $"/api/machines/hist.pump-01/clips/{queried}/spectrogram.png?width=200", ConsoleFixture.LabellerKey);
        Assert.Equal("image/png", png.Content.Headers.ContentType?.MediaType);
        byte[] bytes = await png.Content.ReadAsByteArrayAsync();
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
        Assert.Equal(126, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16))); // 1 s at hop 128: 126 frames < 200
        Assert.Equal(256, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
        var label = await silo.Send(HttpMethod.Post, $"/api/machines/hist.pump-01/clips/{queried}/label", ConsoleFixture.LabellerKey, JsonContent.Create(new { label = "anomalous" }));
        Assert.True(label.IsSuccessStatusCode);
        await Waiting.Until(async () => (await silo.Get("/api/machines/hist.pump-01/scores")).EnumerateArray()
            .Single(p => p.GetProperty("clipId").GetString() == queried).GetProperty("label").ValueKind != JsonValueKind.Null,
            "the score history shows the label", seconds: 20);
    }

    [Fact]
    public void The_event_streams_cache_holds_seconds_of_events_not_orleans_half_hour()
    {
        var eviction = silo.App.Services.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<Orleans.Configuration.StreamCacheEvictionOptions>>()
            .Get(MachineEventStreams.ProviderName);
        Assert.Equal(TimeSpan.FromSeconds(30), eviction.DataMaxAgeInCache);
        Assert.Equal(TimeSpan.FromSeconds(10), eviction.DataMinTimeInCache);
    }

    [Fact]
    public async Task Events_stream_live_and_resume_after_a_reconnect_with_Last_Event_ID()
    {
        await silo.Enroll("sse.fan-02", new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 2 });
        string lastId;
        await using (var stream = await SseReader.Open(silo.Http, ConsoleFixture.LabellerKey, query: "?machine=sse.fan-02&types=label-request"))
        {
            await silo.Push("sse.fan-02", "e-1", 1);
            var first = await stream.Next(EventWait);
            Assert.Equal("label-request", first.Type);
            var asked = JsonDocument.Parse(first.Data).RootElement;
            Assert.Equal("e-1", asked.GetProperty("clipId").GetString());
            // Where a labeller fetches the clip, as /api/label-requests says it; the silo's file path stays inside.
            Assert.Equal("/api/machines/sse.fan-02/clips/e-1/audio", asked.GetProperty("audioUrl").GetString());
            Assert.Equal(JsonValueKind.Null, asked.GetProperty("audioReference").ValueKind);
            lastId = first.Id!;
        }
        // Disconnected: two more requests happen meanwhile.
        await silo.Push("sse.fan-02", "e-2", 2);
        await silo.Push("sse.fan-02", "e-3", 3);
        await using (var resumed = await SseReader.Open(silo.Http, ConsoleFixture.LabellerKey, lastId, "?machine=sse.fan-02&types=label-request"))
        {
            var second = await resumed.Next(EventWait);
            var third = await resumed.Next(EventWait);
            Assert.Equal(["e-2", "e-3"], new[] { second, third }.Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("clipId").GetString()));
            Assert.True(long.Parse(second.Id!) > long.Parse(lastId) && long.Parse(third.Id!) > long.Parse(second.Id!), "ids increase");
            // …and live again after the replay.
            await silo.Push("sse.fan-02", "e-4", 4);
            Assert.Equal("e-4", JsonDocument.Parse((await resumed.Next(EventWait)).Data).RootElement.GetProperty("clipId").GetString());
        }
        // An id from before this silo started (or evicted from the replay buffer): told to reload.
        await using (var stale = await SseReader.Open(silo.Http, ConsoleFixture.LabellerKey, "1"))
            Assert.Equal("reset", (await stale.Next(EventWait)).Type);
        Assert.Equal(HttpStatusCode.BadRequest, (await silo.Send(HttpMethod.Get, "/api/events?lastEventId=x", ConsoleFixture.LabellerKey)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await silo.Send(HttpMethod.Get, "/api/events?lastEventId=-1", ConsoleFixture.LabellerKey)).StatusCode); // as the header refuses it
    }

    [Fact]
    public async Task A_closed_request_is_announced_so_every_labellers_queue_drops_it_at_once()
    {
        const string machine = "sse.closed-04";
        await silo.Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 2 });
        await using var stream = await SseReader.Open(silo.Http, ConsoleFixture.LabellerKey, query: $"?machine={machine}&types=label-request-closed");
        for (int i = 0; i < 3; i++)
            await silo.Push(machine, $"k-{i}", i);
        Assert.True((await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/clips/k-0/label", ConsoleFixture.LabellerKey, JsonContent.Create(new { label = "anomalous" }))).IsSuccessStatusCode);
        using (var decline = new HttpRequestMessage(HttpMethod.Post, $"/api/machines/{machine}/clips/k-1/decline"))
        {
            decline.Headers.Add("X-Api-Key", ConsoleFixture.LabellerKey);
            decline.Headers.Add("X-Labeller", "heidi"); // who declined travels with the event
            Assert.True((await silo.Http.SendAsync(decline)).IsSuccessStatusCode);
        }
        // The same answer again changes nothing and announces nothing; re-enrolling drops the last request unanswered.
        Assert.True((await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/clips/k-0/label", ConsoleFixture.LabellerKey, JsonContent.Create(new { label = "anomalous" }))).IsSuccessStatusCode);
        await silo.Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 2 });

        var closed = new List<(string Clip, string Outcome, string? By)>();
        for (int i = 0; i < 3; i++)
        {
            var e = await stream.Next(EventWait);
            Assert.Equal("label-request-closed", e.Type);
            var data = JsonDocument.Parse(e.Data).RootElement;
            Assert.Equal(machine, data.GetProperty("machineId").GetString());
            closed.Add((data.GetProperty("clipId").GetString()!, data.GetProperty("outcome").GetString()!, data.GetProperty("closedBy").GetString()));
        }
        Assert.Equal([("k-0", "anomalous", null), ("k-1", "declined", "heidi"), ("k-2", "withdrawn", null)], closed);
        Assert.Equal(HttpStatusCode.BadRequest, (await silo.Send(HttpMethod.Get, "/api/events?types=label-request-closed,nonsense", ConsoleFixture.LabellerKey)).StatusCode);
    }

    [Fact]
    public async Task A_claim_is_announced_so_other_labellers_see_who_listens()
    {
        const string machine = "sse.claims-05";
        await silo.Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 2 });
        await using var stream = await SseReader.Open(silo.Http, ConsoleFixture.LabellerKey, query: $"?machine={machine}&types=label-request-claim");
        await silo.Push(machine, "m-0", 0);
        async Task As(HttpMethod method, string name)
        {
            using var request = new HttpRequestMessage(method, $"/api/machines/{machine}/clips/m-0/claim");
            request.Headers.Add("X-Api-Key", ConsoleFixture.LabellerKey);
            request.Headers.Add("X-Labeller", name);
            Assert.True((await silo.Http.SendAsync(request)).IsSuccessStatusCode);
        }
        await As(HttpMethod.Post, "ivan");
        await As(HttpMethod.Delete, "ivan");
        var claimed = JsonDocument.Parse((await stream.Next(EventWait)).Data).RootElement;
        Assert.Equal(("m-0", "ivan"), (claimed.GetProperty("clipId").GetString(), claimed.GetProperty("claimedBy").GetString()));
        Assert.True(claimed.GetProperty("claimedUntil").GetDateTimeOffset() > DateTimeOffset.UtcNow);
        var released = await stream.Next(EventWait);
        Assert.Equal("label-request-claim", released.Type);
        Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(released.Data).RootElement.GetProperty("claimedBy").ValueKind);
    }

    [Fact]
    public async Task Metrics_show_the_projects_meter_in_prometheus_format()
    {
        await silo.Enroll("metrics.valve-03", new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 });
        await silo.Push("metrics.valve-03", "m-1", 5); // b = 1: a label request, claimed and answered so that both are counted
        using (var claim = new HttpRequestMessage(HttpMethod.Post, "/api/machines/metrics.valve-03/clips/m-1/claim"))
        {
            claim.Headers.Add("X-Api-Key", ConsoleFixture.LabellerKey);
            claim.Headers.Add("X-Labeller", "mia");
            Assert.True((await silo.Http.SendAsync(claim)).IsSuccessStatusCode);
        }
        Assert.Equal(HttpStatusCode.OK, (await silo.Send(HttpMethod.Post, "/api/machines/metrics.valve-03/clips/m-1/label", ConsoleFixture.LabellerKey,
            JsonContent.Create(new { label = "normal" }))).StatusCode);
        // A counter is exported from its first increment: stream until the machine raises an alert.
        bool alerted = false;
        for (int i = 0; i < 60 && !alerted; i++)
            alerted = (await silo.Push("metrics.valve-03", $"m-a{i}", i)).GetProperty("anomalous").GetBoolean();
        Assert.True(alerted, "no alert in 60 clips");
        string text = "";
        await Waiting.Until(async () =>
        {
            text = await silo.Http.GetStringAsync("/metrics");
            return text.Contains("asd_clips_total{", StringComparison.Ordinal) && text.Contains("asd_alerts_total{", StringComparison.Ordinal);
        }, "/metrics counts the clip", seconds: 20);
        foreach (var series in new[]
        {
            "asd_clips_total{", "asd_queries_total{", "machine_type=\"valve\"", "asd_label_requests_pending{",
            "asd_budget_realised", "asd_machines_overspent{", "asd_encoder_batch_size_bucket{", "asd_encoder_batch_duration_seconds_bucket{",
            "http_server_request_duration_seconds_bucket{", "asd_label_requests_claims_total{", "asd_answers_total{",
        })
            Assert.Contains(series, text);
        // Label requests by why they were asked: random's draw at b = 1.
        Assert.Matches("asd_queries_total\\{[^}]*reason=\"random\"", text);
        // Clips and alerts by the threshold they were compared with: this machine keeps φ per domain (both enrolled).
        var machine = JsonDocument.Parse(await (await silo.Send(HttpMethod.Get, "/api/machines/metrics.valve-03", ConsoleFixture.LabellerKey)).Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(JsonValueKind.Number, machine.GetProperty("decisionThresholdTarget").ValueKind);
        Assert.Matches("asd_alerts_total\\{[^}]*threshold=\"(source|target|between)\"", text);
        Assert.Matches("asd_clips_total\\{[^}]*threshold=\"(source|target|between)\"", text);
        Assert.DoesNotContain("reason=\"unrecorded\"", text);
        Assert.Contains("orleans", text, StringComparison.OrdinalIgnoreCase);

        // Every project series the shipped Grafana dashboard queries is one the silo exports.
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "AsdOrleans.sln"))) root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("no repository root above the tests");
        var queried = System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(Path.Combine(root, "deploy", "grafana-dashboard.json")), @"\basd_[a-z_]+")
            .Select(m => m.Value).Distinct().ToList();
        Assert.Contains("asd_machines_overspent", queried);
        foreach (var series in queried)
            Assert.True(text.Contains(series + "{", StringComparison.Ordinal), $"the dashboard queries {series}, which /metrics does not export");
    }

    [Fact]
    public async Task The_openapi_document_names_and_summarises_every_operation_and_docs_are_served()
    {
        var document = JsonDocument.Parse(await silo.Http.GetStringAsync("/openapi/v1.json")).RootElement;
        var ids = new HashSet<string>();
        foreach (var path in document.GetProperty("paths").EnumerateObject())
            foreach (var operation in path.Value.EnumerateObject().Where(o => o.Name is "get" or "put" or "post" or "delete"))
            {
                Assert.True(operation.Value.TryGetProperty("operationId", out var id) && id.GetString() is { Length: > 0 }, $"{operation.Name} {path.Name}: no operationId");
                Assert.True(ids.Add(id.GetString()!), $"operationId {id} twice");
                Assert.True(operation.Value.TryGetProperty("summary", out var summary) && summary.GetString() is { Length: > 0 }, $"{operation.Name} {path.Name}: no summary");
            }
        Assert.Contains("StreamEvents", ids);
        Assert.Contains("SubmitLabel", ids);
        var docs = await silo.Http.GetAsync("/docs");
        Assert.Equal(HttpStatusCode.OK, docs.StatusCode);
        string html = await docs.Content.ReadAsStringAsync();
        Assert.DoesNotContain("cdn.", html);
        // Its script comes from the silo (embedded in Scalar.AspNetCore), not from a CDN.
        var script = System.Text.RegularExpressions.Regex.Match(html, "<script[^>]*src=\"([^\"]+)\"");
        Assert.True(script.Success, html);
        var scriptUri = new Uri(docs.RequestMessage!.RequestUri!, script.Groups[1].Value);
        Assert.Equal(silo.Http.BaseAddress!.Authority, scriptUri.Authority);
        Assert.Equal(HttpStatusCode.OK, (await silo.Http.GetAsync(scriptUri)).StatusCode);
    }

    [Fact]
    public async Task The_score_history_survives_a_silo_restart()
    {
        await silo.Enroll("restart.saw-04", new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 6 });
        for (int i = 0; i < 4; i++) await silo.Push("restart.saw-04", $"s-{i}", 10 + i);
        string before = (await silo.Get("/api/machines/restart.saw-04/scores")).GetRawText();
        Assert.Equal(4, JsonDocument.Parse(before).RootElement.GetArrayLength());
        await silo.Restart();
        Assert.Equal(before, (await silo.Get("/api/machines/restart.saw-04/scores")).GetRawText());
        await silo.Push("restart.saw-04", "s-4", 14);
        Assert.Equal(5, (await silo.Get("/api/machines/restart.saw-04/scores")).GetArrayLength());
    }
}
