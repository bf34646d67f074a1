using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Audio;
using AsdOrleans.Datasets.Synthesis;

namespace AsdOrleans.Silo.Tests;

/// <summary>A silo that keeps the audio of each machine's newest 3 alerts.</summary>
public sealed class AlertAudioFixture() : LoopbackSilo("asd-alert-audio-", modelSeed: 11, ConsoleFixture.Plan, DeviceKey, LabellerKey, OperatorKey,
    new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Warning", ["Asd:AlertAudioPerMachine"] = "3" })
{
    public const string DeviceKey = "alerts-device", LabellerKey = "alerts-labeller", OperatorKey = "alerts-operator";
    public const int Kept = 3;
}

/// <summary>An operator can hear what was flagged: a machine's newest alerts keep their audio, older ones do not.</summary>
public sealed class AlertAudioTests(AlertAudioFixture silo) : IClassFixture<AlertAudioFixture>
{
    private static byte[] Wav(int index) => WavEncoder.EncodeMono16(
        ClipSynthesizer.Render(ConsoleFixture.Plan.Clips.Where(c => c.Split == SynthSplit.Test).ElementAt(index)), 16_000);

    private async Task<HttpResponseMessage> GetAudio(string url) => await silo.Send(HttpMethod.Get, url, AlertAudioFixture.LabellerKey);

    [Fact]
    public async Task The_newest_alerts_of_a_machine_keep_their_audio_and_older_ones_give_it_up()
    {
        const string machine = "aa.fan-01";
        await silo.Enroll(machine, new MachineSettings { Strategy = "none", Seed = 1 });
        var alerting = new List<(string Clip, int Index)>();
        for (int i = 0; i < 60 && alerting.Count < AlertAudioFixture.Kept + 2; i++)
            if ((await silo.Push(machine, $"c-{i:D2}", i)).GetProperty("anomalous").GetBoolean()) alerting.Add(($"c-{i:D2}", i));
        Assert.True(alerting.Count == AlertAudioFixture.Kept + 2, $"{alerting.Count} alerts in 60 clips");

        var alerts = (await silo.Get($"/api/alerts?machine={machine}&limit=100", AlertAudioFixture.LabellerKey)).EnumerateArray().ToList();
        Assert.Equal(alerting.Select(a => a.Clip).Reverse(), alerts.Select(a => a.GetProperty("clipId").GetString())); // newest first
        for (int k = 0; k < alerts.Count; k++)
        {
            var (clip, index) = alerting[alerting.Count - 1 - k];
            var url = alerts[k].GetProperty("audioUrl");
            Assert.Equal(JsonValueKind.Null, alerts[k].GetProperty("audioReference").ValueKind); // the silo's own path stays inside
            var direct = await GetAudio($"/api/machines/{machine}/clips/{clip}/audio");
            if (k < AlertAudioFixture.Kept)
            {
                Assert.Equal($"/api/machines/{machine}/clips/{clip}/audio", url.GetString());
                Assert.Equal(HttpStatusCode.OK, direct.StatusCode);
                Assert.Equal(Wav(index), await direct.Content.ReadAsByteArrayAsync()); // the clip as it was pushed
                Assert.Equal("nosniff", direct.Headers.GetValues("X-Content-Type-Options").Single()); // a device's bytes, never sniffed as a page
                Assert.Equal(HttpStatusCode.OK, (await GetAudio($"/api/machines/{machine}/clips/{clip}/spectrogram.png")).StatusCode);
            }
            else
            {
                Assert.Equal(JsonValueKind.Null, url.ValueKind);
                Assert.Equal(HttpStatusCode.NotFound, direct.StatusCode);
            }
        }
        // Nothing else is kept: at most the newest few per machine, and no queried-clip copy (this machine asks nothing).
        Assert.Equal(AlertAudioFixture.Kept, Directory.GetFiles(Path.Combine(silo.DataDirectory, "alert-clips", machine)).Length);
        Assert.False(Directory.Exists(Path.Combine(silo.DataDirectory, "clips", machine)) &&
                     Directory.EnumerateFiles(Path.Combine(silo.DataDirectory, "clips", machine)).Any());
    }

    [Fact]
    public async Task A_gateways_alert_says_where_the_gateway_keeps_the_clip()
    {
        const string machine = "aa.gw-01";
        await silo.Enroll(machine, new MachineSettings { Strategy = "none", Seed = 1 });
        await using var events = await SseReader.Open(silo.Http, AlertAudioFixture.LabellerKey, query: $"?machine={machine}&types=alert");
        string? clip = null;
        for (int i = 0; i < 60 && clip is null; i++)
            if ((await silo.PushFromGateway(machine, $"g-{i:D2}", i, $"s3://plant-a/line-1/g-{i:D2}.wav")).Anomalous) clip = $"g-{i:D2}";
        Assert.NotNull(clip);
        // Live, in this machine's list and in the plant's: no audio on the silo, the gateway's reference instead.
        var live = JsonDocument.Parse((await events.Next(TimeSpan.FromSeconds(30))).Data).RootElement;
        Assert.Equal((clip, $"s3://plant-a/line-1/{clip}.wav", JsonValueKind.Null),
            (live.GetProperty("clipId").GetString(), live.GetProperty("audioReference").GetString(), live.GetProperty("audioUrl").ValueKind));
        foreach (string list in new[] { $"/api/alerts?machine={machine}", "/api/alerts?limit=10000" })
        {
            JsonElement alert = default;
            await Waiting.Until(async () => (alert = (await silo.Get(list, AlertAudioFixture.LabellerKey)).EnumerateArray()
                .FirstOrDefault(a => a.GetProperty("clipId").GetString() == clip)).ValueKind == JsonValueKind.Object, $"the alert in {list}", seconds: 20);
            Assert.Equal(($"s3://plant-a/line-1/{clip}.wav", JsonValueKind.Null), (alert.GetProperty("audioReference").GetString(), alert.GetProperty("audioUrl").ValueKind));
        }
    }

    [Fact]
    public async Task An_alert_that_was_asked_about_can_still_be_heard_after_its_label()
    {
        const string machine = "aa.pump-01";
        await silo.Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 2 });
        string? clip = null;
        for (int i = 0; i < 60 && clip is null; i++)
        {
            var verdict = await silo.Push(machine, $"r-{i:D2}", i);
            if (verdict.GetProperty("anomalous").GetBoolean() && verdict.GetProperty("labelRequested").GetBoolean()) clip = $"r-{i:D2}";
        }
        Assert.NotNull(clip);
        var labelled = await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/clips/{clip}/label", AlertAudioFixture.LabellerKey, JsonContent.Create(new { label = "anomalous" }));
        Assert.True(labelled.IsSuccessStatusCode, await labelled.Content.ReadAsStringAsync());
        await Waiting.Until(() => !File.Exists(Path.Combine(silo.DataDirectory, "clips", machine, clip + ".wav")), "the request's own audio removed once labelled");
        Assert.Equal(HttpStatusCode.OK, (await GetAudio($"/api/machines/{machine}/clips/{clip}/audio")).StatusCode);
    }
}
