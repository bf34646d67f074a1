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
using Microsoft.Extensions.Options;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// Label requests expire after Asd:LabelRequestTtl, driven by a durable reminder: in the embedded silo (SQLite
/// reminder table) over HTTP with the real encoder, and in cluster mode with Orleans' Redis reminders and a real redis-server.
/// </summary>
public sealed class LabelRequestExpiryTests : IDisposable
{
    private const string Key = "expiry-key";
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(3);
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-expiry-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string DataDirectory => Path.Combine(_dir, "data");

    private async Task<(WebApplication App, HttpClient Http)> StartSilo(Dictionary<string, string?> extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Asd:DataDirectory"] = DataDirectory,
            ["Asd:LabelRequestTtl"] = Ttl.ToString(),
            ["Asd:ApiKeys:Operator:0"] = Key,
            // Only a request's own copy of its audio is under test; an alert's is kept on its own terms (AlertAudioTests).
            ["Asd:AlertAudioPerMachine"] = "0",
        };
        foreach (var (key, value) in extra) settings[key] = value;
        var (app, address) = await SiloApp.StartOnLoopbackAsync(settings);
        var http = new HttpClient { BaseAddress = address };
        http.DefaultRequestHeaders.Add("X-Api-Key", Key);
        return (app, http);
    }

    private static async Task Stop(WebApplication app, HttpClient http)
    {
        http.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
    }

    private static async Task<string> Expect(HttpStatusCode code, HttpResponseMessage response)
    {
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(code == response.StatusCode, $"expected {code}, got {response.StatusCode}: {body}");
        return body;
    }

    /// <summary>After expiry: nothing listed, no audio, a late label 410 "expired" (an unknown clip stays 400), nothing changed.</summary>
    private static async Task AssertExpiredOverHttp(HttpClient http, string machine, string clipId, string audioPath)
    {
        Assert.False(File.Exists(audioPath), "the expired request's audio is removed");
        Assert.Equal(0, JsonDocument.Parse(await http.GetStringAsync($"/api/label-requests?machine={machine}")).RootElement.GetArrayLength());
        await Expect(HttpStatusCode.NotFound, await http.GetAsync($"/api/machines/{machine}/clips/{clipId}/audio"));
        string before = await http.GetStringAsync($"/api/machines/{machine}");
        var status = JsonDocument.Parse(before).RootElement;
        Assert.Equal(0, status.GetProperty("pendingLabelRequests").GetInt32());
        Assert.Equal(1, status.GetProperty("expiredLabelRequests").GetInt64());

        string late = await Expect(HttpStatusCode.Gone, await http.PostAsJsonAsync($"/api/machines/{machine}/clips/{clipId}/label", new { label = "anomalous" }));
        Assert.Contains("expired at ", late);
        Assert.Contains("unanswered (its time-to-live passed)", late); // how it closed, not a list of the ways one can
        string unknown = await Expect(HttpStatusCode.BadRequest, await http.PostAsJsonAsync($"/api/machines/{machine}/clips/never-asked/label", new { label = "anomalous" }));
        Assert.Contains("no label request", unknown);
        Assert.DoesNotContain("expired", unknown);
        Assert.Equal(before, await http.GetStringAsync($"/api/machines/{machine}"));
    }

    private long SqliteReminderRows(string machine) => StoredReminders.Count(DataDirectory, machine);

    [Fact]
    public async Task Embedded_silo_a_request_expires_by_its_reminder_with_its_audio_and_a_late_label_gets_410()
    {
        using var model = EncoderModel.Untrained(new EncoderArchitecture { Width = 4, EmbeddingDimension = 16 }, seed: 7, TorchSharp.torch.CPU);
        string modelPath = Path.Combine(_dir, "tiny.asdm");
        model.Save(modelPath);
        var (app, http) = await StartSilo(new() { ["Asd:ModelPath"] = modelPath, ["Asd:Device"] = "cpu", ["Asd:ApiKeys:Device:0"] = Key });
        try
        {
            const string machine = "expiry.http-1";
            var plan = SynthPlan.Create(new SynthSettings { MachineTypes = 1, SourceTrain = 12, TargetTrain = 2, Test = 4, Seconds = 1, Seed = 3 });
            await Expect(HttpStatusCode.OK, await http.PutAsJsonAsync($"/api/machines/{machine}", new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 2 }));
            await Expect(HttpStatusCode.OK, await http.PostAsJsonAsync($"/api/machines/{machine}/enrollment", LoopbackSilo.EnrollmentOf(model, plan)));

            var wav = new ByteArrayContent(WavEncoder.EncodeMono16(ClipSynthesizer.Render(plan.Clips.First(c => c.Split == SynthSplit.Test)), 16_000));
            wav.Headers.ContentType = new MediaTypeHeaderValue("audio/wav");
            await using var closed = await SseReader.Open(http, Key, query: $"?machine={machine}&types=label-request-closed");
            var sentAt = DateTimeOffset.UtcNow;
            var verdict = JsonDocument.Parse(await Expect(HttpStatusCode.OK, await http.PostAsync($"/api/machines/{machine}/clips?clipId=c-1", wav))).RootElement;
            var answeredAt = DateTimeOffset.UtcNow; // the request was made in between (read back, it may have expired already)
            Assert.True(verdict.GetProperty("labelRequested").GetBoolean()); // budget 1
            string audio = Path.Combine(DataDirectory, "clips", machine, "c-1.wav");
            Assert.True(File.Exists(audio));
            await Waiting.Until(() => SqliteReminderRows(machine) == 1, "the reminder registered, right after the clip's call (MachineGrain.RunFollowUp)");

            // No call reaches the machine while we wait: only its reminder can remove the audio.
            await Waiting.Until(() => !File.Exists(audio), "the reminder removed the expired clip's audio");
            await Waiting.Until(() => SqliteReminderRows(machine) == 0, "the machine dropped its reminder");
            await AssertExpiredOverHttp(http, machine, "c-1", audio);
            // A late label is told when the request expired: its time-to-live's end, not when the reminder got to it.
            string late = await Expect(HttpStatusCode.Gone, await http.PostAsJsonAsync($"/api/machines/{machine}/clips/c-1/label", new { label = "normal" }));
            var expiredAt = DateTimeOffset.Parse(System.Text.RegularExpressions.Regex.Match(late, @"expired at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ) unanswered").Groups[1].Value,
                System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(expiredAt, (sentAt + Ttl).AddSeconds(-1), answeredAt + Ttl); // to the second, as the message prints it
            // Labellers' queues were told: the request closed, expired.
            var announced = JsonDocument.Parse((await closed.Next(TimeSpan.FromSeconds(20))).Data).RootElement;
            Assert.Equal(("c-1", "expired"), (announced.GetProperty("clipId").GetString(), announced.GetProperty("outcome").GetString()));
        }
        finally
        {
            await Stop(app, http);
        }
    }

    [Theory]
    [InlineData("00:00:00", "LabelRequestTtl")]
    [InlineData("400.00:00:00", "LabelRequestTtl")]
    [InlineData("a week", "LabelRequestTtl")]
    public async Task A_bad_TTL_stops_the_silo_from_starting_with_a_clear_error(string ttl, string named)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => StartSilo(new() { ["Asd:LabelRequestTtl"] = ttl }));
        Assert.Contains(named, error.ToString());
        Assert.True(error is OptionsValidationException or InvalidOperationException, error.ToString());
    }

    [Fact]
    public async Task Cluster_mode_keeps_the_reminder_in_redis_and_expires_the_request()
    {
        await using var redis = await RedisServer.StartAsync(_dir);
        string connection = redis.Connection;
        var (app, http) = await StartSilo(new() { ["Asd:Redis"] = connection, ["Asd:ClusterId"] = "expiry-" + Path.GetFileName(_dir) });
        try
        {
            const string machine = "expiry.redis-1";
            var random = new Random(4);
            float[] Vector() => Enumerable.Range(0, 16).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
            await Expect(HttpStatusCode.OK, await http.PutAsJsonAsync($"/api/machines/{machine}", new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 1 }));
            await Expect(HttpStatusCode.OK, await http.PostAsJsonAsync($"/api/machines/{machine}/enrollment",
                new EnrollmentRequest(Enumerable.Range(0, 30).Select(i => new EnrollmentClip(Vector(), i % 10 == 0)).ToList(), "enc-redis")));
            // This silo has no encoder: the stored audio and the embedded clip go in as the ingest endpoint would.
            var store = app.Services.GetRequiredService<ClipAudioStore>();
            Assert.True(await store.SaveIfAbsentAsync(machine, "c-1", [1, 2, 3, 4], CancellationToken.None));
            string audio = store.PathOf(machine, "c-1");
            var grain = app.Services.GetRequiredService<IClusterClient>().GetGrain<IMachineGrain>(machine);
            Assert.True((await grain.ProcessClip(new ClipSubmission("c-1", Vector(), "enc-redis", audio))).LabelRequested);

            using var redisClient = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(connection);
            async Task<int> Reminders() => (await redisClient.GetDatabase().SortedSetRangeByRankAsync("asd-orleans/reminders"))
                .Count(member => member.ToString().Contains(machine, StringComparison.Ordinal));
            await Waiting.Until(async () => await Reminders() == 1, "the reminder registered in redis, right after the clip's call");

            await Waiting.Until(() => !File.Exists(audio), "the reminder removed the expired clip's audio");
            await Waiting.Until(async () => await Reminders() == 0, "the machine dropped its reminder from redis");
            await AssertExpiredOverHttp(http, machine, "c-1", audio);
        }
        finally
        {
            await Stop(app, http);
        }
    }
}
