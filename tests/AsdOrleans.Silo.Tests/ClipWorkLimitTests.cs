using System.Net;
using System.Text.Json;
using AsdOrleans.Abstractions;

namespace AsdOrleans.Silo.Tests;

/// <summary>A silo that takes one clip at a time and queues none (Asd:MaxConcurrentClips 1, Asd:QueuedClips 0).</summary>
public sealed class OneClipAtATimeSilo() : LoopbackSilo("asd-busy-", modelSeed: 7, SiloFixture.Plan, SiloFixture.DeviceKey, SiloFixture.LabellerKey, SiloFixture.OperatorKey,
    new Dictionary<string, string?> { ["Asd:MaxConcurrentClips"] = "1", ["Asd:QueuedClips"] = "0" });

public sealed class ClipWorkLimitTests(OneClipAtATimeSilo silo) : IClassFixture<OneClipAtATimeSilo>
{
    /// <summary>A WAV body that sends its first bytes, then waits for <see cref="Release"/>: its request holds the only permit.</summary>
    private sealed class HeldWav(byte[] wav) : HttpContent
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly TaskCompletionSource Started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public void Release() => _release.TrySetResult();

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(wav.AsMemory(0, 64));
            await stream.FlushAsync();
            Started.TrySetResult();
            // Trickled while held, above Kestrel's minimum body rate (240 B/s after a 5 s grace): a slow test run must not
            // see the upload ended with 408, which would free the permit it holds. The last 64 bytes wait for the release.
            int sent = 64;
            while (!_release.Task.IsCompleted && sent + 512 <= wav.Length - 64)
            {
                if (await Task.WhenAny(_release.Task, Task.Delay(1000)) == _release.Task) break;
                await stream.WriteAsync(wav.AsMemory(sent, 512));
                await stream.FlushAsync();
                sent += 512;
            }
            await _release.Task;
            await stream.WriteAsync(wav.AsMemory(sent));
        }

        protected override bool TryComputeLength(out long length) { length = wav.Length; return true; }
    }

    private async Task<long> ClipsSeen(string machine)
        => (await silo.Get($"/api/machines/{machine}")).GetProperty("clipsSeen").GetInt64();

    private Task<HttpResponseMessage> PostClip(string machine, string clipId, HttpContent content)
        => silo.Send(HttpMethod.Post, $"/api/machines/{machine}/clips?clipId={clipId}", SiloFixture.DeviceKey, content);

    /// <summary>Waits until a clip to a machine nobody enrolled is refused for that (409), not for a busy silo.</summary>
    private Task SiloIsFree() => Waiting.Until(async () =>
        (await PostClip("busy.unenrolled-probe", "probe", SiloFixture.WavContent(SiloFixture.TestWav(0)))).StatusCode != HttpStatusCode.ServiceUnavailable,
        "the permit to be free", seconds: 10);

    private static async Task AssertBusy(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(ClipWorkLimit.RetryAfterSeconds), response.Headers.RetryAfter?.Delta);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(503, problem.GetProperty("status").GetInt32());
        Assert.Equal(ClipWorkLimit.Title, problem.GetProperty("title").GetString());
        Assert.Equal(ClipWorkLimit.Detail, problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Clips_beyond_the_limit_are_refused_503_with_Retry_After_and_the_others_scored_whole()
    {
        const string machine = "busy.press-01";
        await silo.Enroll(machine, new MachineSettings { Strategy = "random", Budget = 0.2, Seed = 4 });
        var wav = SiloFixture.TestWav(0);

        // One upload holds the only permit (its body is still coming): every other clip is refused at once, unread.
        // A probe may reach the silo before the held upload's headers and take the permit itself, and the held upload is
        // then refused: it is sent again until a probe finds the permit held.
        HeldWav held = null!;
        Task<HttpResponseMessage>? holding = null;
        await Waiting.Until(async () =>
        {
            if (holding is null || holding.IsCompleted)
            {
                held?.Release();
                held = new HeldWav(wav);
                held.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("audio/wav");
                holding = PostClip(machine, "held", held);
                await held.Started.Task.WaitAsync(TimeSpan.FromSeconds(30));
                await Task.Delay(100);
            }
            return (await PostClip("busy.unenrolled-probe", "probe", SiloFixture.WavContent(wav))).StatusCode == HttpStatusCode.ServiceUnavailable
                && !holding.IsCompleted;
        }, "the held upload to take the permit", seconds: 20);
        var refused = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => PostClip(machine, $"refused-{i}", SiloFixture.WavContent(wav))));
        foreach (var response in refused) await AssertBusy(response);
        // An audio enrollment is clip work too; health, reads and labellers' other endpoints are not limited.
        var enrollment = new MultipartFormDataContent { { SiloFixture.WavContent(wav), "clips", "a.wav" } };
        await AssertBusy(await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/enrollment/audio", SiloFixture.OperatorKey, enrollment));
        // So are a JSON enrollment (keepLabels embeds kept audio) and a spectrogram (it decodes and transforms a clip).
        await AssertBusy(await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/enrollment", SiloFixture.OperatorKey,
            System.Net.Http.Json.JsonContent.Create(LoopbackSilo.EnrollmentOf(silo.Model, SiloFixture.Plan))));
        await AssertBusy(await silo.Send(HttpMethod.Get, $"/api/machines/{machine}/clips/any/spectrogram.png", SiloFixture.LabellerKey));
        Assert.Equal(HttpStatusCode.OK, (await silo.Send(HttpMethod.Get, "/healthz", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await silo.Send(HttpMethod.Get, "/api/label-requests", SiloFixture.LabellerKey)).StatusCode);
        Assert.Equal(0, await ClipsSeen(machine));

        held.Release();
        var first = await holding!;
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(1, await ClipsSeen(machine));

        // The permit goes back as the request's pipeline ends, a moment after its client has the answer.
        await SiloIsFree();
        // A burst: some scored, the rest refused whole; the machine saw exactly the clips answered 200.
        var burst = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => PostClip(machine, $"burst-{i}", SiloFixture.WavContent(SiloFixture.TestWav(i % 8)))));
        int ok = burst.Count(r => r.StatusCode == HttpStatusCode.OK);
        Assert.InRange(ok, 1, 11);
        foreach (var response in burst.Where(r => r.StatusCode != HttpStatusCode.OK)) await AssertBusy(response);
        Assert.Equal(1 + ok, await ClipsSeen(machine));

        // A refused clip sent again with its id, once the silo is free, is scored once.
        await SiloIsFree();
        var again = await PostClip(machine, "refused-0", SiloFixture.WavContent(wav));
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(2 + ok, await ClipsSeen(machine));

        var metrics = await (await silo.Send(HttpMethod.Get, "/metrics", null)).Content.ReadAsStringAsync();
        Assert.Matches(@"asd_requests_refused_busy_total\{[^}]*endpoint=""clip""[^}]*\} \d+", metrics);
    }

    [Theory]
    [InlineData(0, 0, "Asd:MaxConcurrentClips (Asd__MaxConcurrentClips) must be at least 1 request, got 0")]
    [InlineData(4, -1, "Asd:QueuedClips (Asd__QueuedClips) must be 0 (refuse at once) or more, got -1")]
    public void Limits_the_silo_cannot_use_stop_its_start(int permits, int queued, string problem)
        => Assert.Equal(problem, SiloStartupChecks.Problem(new SiloOptions { MaxConcurrentClips = permits, QueuedClips = queued }));

    [Fact]
    public void The_defaults_take_the_demo_and_the_tests_bursts_and_scale_with_the_cores()
    {
        var defaults = new SiloOptions();
        Assert.True(defaults.MaxConcurrentClips >= 8 && defaults.MaxConcurrentClips >= 4 * Environment.ProcessorCount);
        Assert.True(defaults.MaxConcurrentClips + defaults.QueuedClips >= 24); // the demo streams 12 machines at once, tests post 12
        Assert.Null(SiloStartupChecks.Problem(defaults));
    }
}
