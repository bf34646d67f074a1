using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Grains;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AsdOrleans.Silo.Tests;

/// <summary>A plant's alert receiver: a real HTTP server on loopback that records every POST and can be told to fail.</summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    public sealed record Post(string? Delivery, string? Signature, byte[] Body, int Status)
    {
        public JsonElement Json => JsonDocument.Parse(Body).RootElement;
        public bool Taken => Status == 200;
    }

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Post> _posts = new();
    private int _failNext;

    /// <summary>Every POST answers 503 while set.</summary>
    public volatile bool Down;
    public string Url { get; }

    private WebhookReceiver()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.MapPost("/hooks/asd", async (HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            int status = Down || Interlocked.Decrement(ref _failNext) >= 0 ? 503 : 200;
            _posts.Enqueue(new Post(request.Headers["X-Asd-Delivery"], request.Headers["X-Asd-Signature"], body.ToArray(), status));
            return Results.StatusCode(status);
        });
        _app.StartAsync().GetAwaiter().GetResult();
        Url = _app.Urls.Single() + "/hooks/asd";
    }

    public static WebhookReceiver Start() => new();

    /// <summary>The next <paramref name="count"/> POSTs answer 503.</summary>
    public void FailNext(int count) => Interlocked.Exchange(ref _failNext, count);

    public IReadOnlyList<Post> Posts => _posts.ToList();

    /// <summary>Alerts of <paramref name="machine"/> in POSTs the receiver took, in arrival order.</summary>
    public List<JsonElement> TakenAlerts(string machine) => Posts.Where(p => p.Taken)
        .SelectMany(p => p.Json.GetProperty("alerts").EnumerateArray()).Where(a => a.GetProperty("machineId").GetString() == machine).ToList();

    /// <summary>"machine/clip" of every alert in POSTs the receiver took.</summary>
    public HashSet<string> TakenAlerts() => AlertIds(Posts.Where(p => p.Taken));

    /// <summary>"machine/clip" of every alert in any POST, taken or refused.</summary>
    public HashSet<string> TriedAlerts() => AlertIds(Posts);

    public static string AlertId(JsonElement alert) => alert.GetProperty("machineId").GetString() + "/" + alert.GetProperty("clipId").GetString();

    private static HashSet<string> AlertIds(IEnumerable<Post> posts) => posts.SelectMany(p => p.Json.GetProperty("alerts").EnumerateArray()).Select(AlertId).ToHashSet();

    public List<Post> PostsOf(string machine) => Posts.Where(p => p.Json.GetProperty("alerts").EnumerateArray()
        .Any(a => a.GetProperty("machineId").GetString() == machine)).ToList();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>A silo that sends its alerts to a <see cref="WebhookReceiver"/>, three per POST, retrying within 2 s.</summary>
public sealed class AlertWebhookFixture : LoopbackSilo
{
    public const string DeviceKey = "webhook-device", LabellerKey = "webhook-labeller", OperatorKey = "webhook-operator";
    public const string Secret = "plant-a-webhook-secret", ApiUrl = "https://asd.plant-a.example/asd/";
    public WebhookReceiver Receiver { get; }

    public AlertWebhookFixture() : this(WebhookReceiver.Start()) { }

    private AlertWebhookFixture(WebhookReceiver receiver) : base("asd-webhook-", modelSeed: 11, ConsoleFixture.Plan, DeviceKey, LabellerKey, OperatorKey,
        new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Warning",
            ["Asd:AlertWebhook:Url"] = receiver.Url,
            ["Asd:AlertWebhook:Secret"] = Secret,
            ["Asd:AlertWebhook:ApiUrl"] = ApiUrl,
            ["Asd:AlertWebhook:BatchSize"] = "3",
            ["Asd:AlertWebhook:MaxRetryDelay"] = "00:00:02",
        }) => Receiver = receiver;

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Receiver.DisposeAsync();
    }
}

/// <summary>
/// A plant's incident system hears of every alert without polling: the silo POSTs each alert-index shard's alerts, signed,
/// in order, and retries a batch until the receiver takes it, across a silo restart too. The tests of a class run one
/// at a time, so each has the receiver's failure switches to itself.
/// </summary>
public sealed class AlertWebhookTests(AlertWebhookFixture silo) : IClassFixture<AlertWebhookFixture>
{
    private static Task Until(Func<bool> done, string what) => Waiting.Until(done, what, seconds: 60);

    /// <summary>Pushes test clips to <paramref name="machine"/> until <paramref name="wanted"/> raised alerts; their clip ids.</summary>
    private async Task<List<string>> Alerts(string machine, int wanted)
    {
        await silo.Enroll(machine, new MachineSettings { Strategy = "none", Seed = 1 });
        var alerting = new List<string>();
        for (int i = 0; i < 60 && alerting.Count < wanted; i++)
            if ((await silo.Push(machine, $"c-{i:D2}", i)).GetProperty("anomalous").GetBoolean()) alerting.Add($"c-{i:D2}");
        Assert.True(alerting.Count == wanted, $"{alerting.Count} alerts in 60 clips");
        return alerting;
    }

    /// <summary>Deliverers with their "behind" reminder registered, as the silo's reminder table holds them.</summary>
    private async Task<int> BehindReminders()
    {
        var table = silo.App.Services.GetRequiredService<IReminderTable>();
        var grains = silo.App.Services.GetRequiredService<IGrainFactory>();
        int behind = 0;
        for (int shard = 0; shard < MachineRegistryShards.Count; shard++)
            if (await table.ReadRow(grains.GetGrain<IAlertWebhookGrain>(shard).GetGrainId(), AlertWebhookGrain.ReminderName) is not null) behind++;
        return behind;
    }

    private static List<string> ClipIds(IEnumerable<JsonElement> alerts) => alerts.Select(a => a.GetProperty("clipId").GetString()!).ToList();

    private static string Hmac(byte[] body) =>
        "sha256=" + Convert.ToHexString(HMACSHA256.HashData(Encoding.UTF8.GetBytes(AlertWebhookFixture.Secret), body)).ToLowerInvariant();

    [Fact]
    public async Task Each_alert_reaches_the_receiver_once_signed_in_order_and_as_the_API_lists_it()
    {
        const string machine = "wh.fan-01";
        var alerting = await Alerts(machine, 7);
        await Until(() => silo.Receiver.TakenAlerts(machine).Count >= alerting.Count, "the alerts to arrive");

        var posts = silo.Receiver.PostsOf(machine);
        Assert.All(posts, p => Assert.True(p.Taken)); // the receiver never failed: nothing was sent twice
        Assert.Equal(alerting, ClipIds(silo.Receiver.TakenAlerts(machine)));
        foreach (var post in posts)
        {
            Assert.Equal(Hmac(post.Body), post.Signature); // a receiver can tell the silo's posts from anyone's
            var json = post.Json;
            Assert.Equal($"{json.GetProperty("shard").GetInt64()}-{json.GetProperty("first").GetInt64()}", post.Delivery);
            Assert.Equal(post.Delivery, json.GetProperty("delivery").GetString());
            Assert.InRange(json.GetProperty("alerts").GetArrayLength(), 1, 3);
        }
        // A shard's batches follow one another without a gap: each starts where the one before ended.
        foreach (var shard in silo.Receiver.Posts.Where(p => p.Taken).GroupBy(p => p.Json.GetProperty("shard").GetInt64()))
        {
            var batches = shard.Select(p => (First: p.Json.GetProperty("first").GetInt64(), Count: p.Json.GetProperty("alerts").GetArrayLength())).ToList();
            for (int k = 1; k < batches.Count; k++)
                Assert.Equal(batches[k - 1].First + batches[k - 1].Count, batches[k].First);
        }

        // What arrives is what GET /api/alerts lists, with the audio URL on the API's public address.
        var listed = (await silo.Get($"/api/alerts?machine={machine}&limit=100")).EnumerateArray().Reverse().ToList();
        var sent = silo.Receiver.TakenAlerts(machine);
        Assert.Equal(ClipIds(listed), ClipIds(sent));
        for (int k = 0; k < sent.Count; k++)
        {
            foreach (var field in new[] { "score", "decisionThreshold" })
                Assert.Equal(listed[k].GetProperty(field).GetDouble(), sent[k].GetProperty(field).GetDouble());
            Assert.Equal(listed[k].GetProperty("at").GetDateTimeOffset(), sent[k].GetProperty("at").GetDateTimeOffset());
            Assert.Equal(listed[k].GetProperty("clipIndex").GetInt64(), sent[k].GetProperty("clipIndex").GetInt64());
        }
        var audio = sent.Select(a => a.GetProperty("audioUrl")).Where(u => u.ValueKind == JsonValueKind.String).Select(u => u.GetString()!).ToList();
        Assert.NotEmpty(audio); // the newest alerts keep their audio
        Assert.All(audio, url => Assert.StartsWith($"https://asd.plant-a.example/asd/api/machines/{machine}/clips/c-", url));
    }

    [Fact]
    public async Task A_batch_the_receiver_refuses_is_sent_again_until_it_takes_it()
    {
        const string machine = "wh.pump-02";
        silo.Receiver.FailNext(2);
        var alerting = await Alerts(machine, 2);
        await Until(() => silo.Receiver.TakenAlerts(machine).Count >= alerting.Count, "the alerts to arrive");

        var posts = silo.Receiver.PostsOf(machine);
        Assert.Equal(2, posts.Count(p => !p.Taken));
        // The refused batch came back whole under the same delivery id, and the alerts arrived once each, in order.
        var refused = posts.Where(p => !p.Taken).Select(p => p.Delivery).Distinct().Single();
        var retaken = posts.Single(p => p.Taken && p.Delivery == refused);
        Assert.Equal(ClipIds(posts.First().Json.GetProperty("alerts").EnumerateArray()), ClipIds(retaken.Json.GetProperty("alerts").EnumerateArray()));
        Assert.Equal(alerting, ClipIds(silo.Receiver.TakenAlerts(machine)));

        string metrics = await silo.Http.GetStringAsync("/metrics");
        Assert.Matches(@"asd_alert_webhook_failures_total(\{[^}]*\})? [2-9]", metrics); // operators see a failing receiver
        Assert.Matches(@"asd_alert_webhook_alerts_total\{[^}]*outcome=""delivered""[^}]*\} [1-9]", metrics);
    }

    [Fact]
    public async Task Alerts_a_stopped_silo_could_not_deliver_arrive_after_its_restart_without_new_clips()
    {
        const string machine = "wh.valve-03";
        silo.Receiver.Down = true;
        try
        {
            var alerting = await Alerts(machine, 2);
            // Tried (so written and due) but refused.
            await Until(() => ClipIds(silo.Receiver.PostsOf(machine).SelectMany(p => p.Json.GetProperty("alerts").EnumerateArray())).Contains(alerting[^1]),
                "the receiver to refuse the alerts");
            // An operator sees them waiting, and why.
            var webhook = await silo.Get("/api/alert-webhook", AlertWebhookFixture.OperatorKey);
            Assert.Equal(silo.Receiver.Url, webhook.GetProperty("url").GetString());
            Assert.True(webhook.GetProperty("waiting").GetInt64() >= alerting.Count, webhook.ToString());
            Assert.True(webhook.GetProperty("failingShards").GetInt32() >= 1, webhook.ToString());
            Assert.Contains(webhook.GetProperty("shards").EnumerateArray(), s => s.GetProperty("lastFailure").GetString()?.Contains("503") == true);

            // A deliverer that is behind keeps a reminder, so a backlog outlives a crash of its silo.
            Assert.True(await BehindReminders() >= 1, "no deliverer keeps a reminder while behind");

            await silo.Restart();
            Assert.Empty(silo.Receiver.TakenAlerts(machine));
            silo.Receiver.Down = false;
            // No clip is pushed after the restart: the deliverer's reminder brings the backlog.
            await Until(() => silo.Receiver.TakenAlerts(machine).Count >= alerting.Count, "the backlog to arrive");
            Assert.Equal(alerting, ClipIds(silo.Receiver.TakenAlerts(machine)));
            await Until(() => silo.Get("/api/alert-webhook", AlertWebhookFixture.OperatorKey).Result.GetProperty("waiting").GetInt64() == 0, "nothing left waiting");
            await Until(() => BehindReminders().Result == 0, "the reminders removed once caught up");
        }
        finally
        {
            silo.Receiver.Down = false;
        }
    }

    [Theory]
    [InlineData("Asd:AlertWebhook:Url", "ftp://alerts.plant-a.example/in", "is not an absolute http or https URL")]
    [InlineData("Asd:AlertWebhook:BatchSize", "0", "BatchSize must be between 1 and 1000")]
    [InlineData("Asd:AlertWebhook:MaxRetryDelay", "00:00:00.5", "MaxRetryDelay must be between")]
    public async Task A_silo_with_a_webhook_it_cannot_use_refuses_to_start_and_says_why(string setting, string value, string message)
    {
        var settings = new Dictionary<string, string?> { ["Asd:AlertWebhook:Url"] = "http://127.0.0.1:9/in", [setting] = value };
        var refused = await Assert.ThrowsAsync<SiloConfigurationException>(() => SiloApp.StartOnLoopbackAsync(settings));
        Assert.Contains(message, refused.Message);
    }
}
