using AsdOrleans.Cli.Commands;
using AsdOrleans.Silo;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AsdOrleans.Cli.Tests;

/// <summary>
/// `--url` with several silos (stop 56): a command pointed at a list keeps working when one silo of it is not there.
/// Real silos on 127.0.0.1 with the training-free spectral embedder; short synthetic clips.
/// </summary>
public sealed class SiloFailoverTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-failover-cli-").FullName;

    public ValueTask InitializeAsync()
    {
        LoopbackSiloFiles.WriteClips(_dir, test: 16, seed: 7);
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => LoopbackSiloFiles.Delete(_dir);

    private Dictionary<string, string?> Settings(string dataFolder) => LoopbackSiloFiles.Settings(_dir, dataFolder);

    private static Task Stop(WebApplication app) => LoopbackSiloFiles.Stop(app);

    /// <summary>An address where nothing listens: a port the system handed out and that was closed again.</summary>
    private static string ClosedAddress()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return $"http://127.0.0.1:{port}";
    }

    private static async Task<System.Text.Json.JsonElement> Status(Uri silo, string machine)
    {
        using var http = new HttpClient { BaseAddress = silo };
        http.DefaultRequestHeaders.Add("X-Api-Key", "op");
        return System.Text.Json.JsonDocument.Parse(await http.GetStringAsync($"/api/machines/{machine}")).RootElement;
    }

    [Fact]
    public async Task A_push_to_a_list_whose_first_silo_is_down_delivers_every_clip_to_the_next_and_says_so()
    {
        var (silo, address) = await SiloApp.StartOnLoopbackAsync(Settings("list-data"));
        try
        {
            string live = address.GetLeftPart(UriPartial.Authority), down = ClosedAddress();
            var (code, _, error) = await CliHarness.Run("enroll", "--url", $"{down},{live}", "--key", "op", "--machine", "ops.fan-01", "--data", Path.Combine(_dir, "train"));
            Assert.True(code == 0, error);
            // Every command says where it moved on from (before stop 57 only push and alerts follow did; the rest were silent).
            string moved = $"the silo at {down} cannot be reached (connection refused); trying {live}";
            Assert.Contains(moved, error);
            (code, var listed, error) = await CliHarness.Run("cluster", "status", "--url", $"{down},{live}", "--key", "op");
            Assert.True(code == 0, error);
            Assert.Contains(moved, error);
            Assert.DoesNotContain("cannot be reached", listed); // the notice is on stderr: stdout stays the command's answer
            // --retries 0: the list alone carries it (before, a comma in --url was "not an http(s) address", exit 2).
            (code, var output, error) = await CliHarness.Run("push", "--url", $"{down},{live}", "--key", "dev", "--labeller-key", "lab", "--machine", "ops.fan-01",
                "--data", Path.Combine(_dir, "test"), "--oracle", "--retries", "0");
            Assert.True(code == 0, $"exit {code}\n{output}\n{error}");
            Assert.Contains("pushed 16 clips", output);
            Assert.Contains($"the silo at {down} cannot be reached (connection refused); trying {live}", error);
            Assert.Equal(16, (await Status(address, "ops.fan-01")).GetProperty("clipsSeen").GetInt64());

            // Every silo of the list down: the error names each one tried.
            string alsoDown = ClosedAddress();
            (code, _, error) = await CliHarness.Run("push", "--url", $"{down},{alsoDown}", "--key", "dev", "--machine", "ops.fan-01",
                "--data", Path.Combine(_dir, "test"), "--retries", "0");
            Assert.Equal(2, code);
            Assert.Contains($"cannot reach the silos at {down}, {alsoDown}", error);
            Assert.Contains($"{down}: connection refused; {alsoDown}: connection refused", error);
        }
        finally
        {
            await Stop(silo);
        }
    }

    [Theory]
    [InlineData("http://127.0.0.1:5080,ftp://127.0.0.1:5081", "'ftp://127.0.0.1:5081' (in the list")]
    [InlineData("http://127.0.0.1:5080,,http://127.0.0.1:5081", "has an empty address in its list")]
    [InlineData("http://127.0.0.1:5080,http://127.0.0.1:5080/", "http://127.0.0.1:5080 is listed twice")]
    public async Task A_bad_address_in_the_list_is_a_usage_error_naming_it(string url, string expected)
    {
        var (code, _, error) = await CliHarness.Run("cluster", "status", "--url", url, "--key", "op");
        Assert.Equal(2, code);
        Assert.Contains("--url:", error);
        Assert.Contains(expected, error);
    }

    [Fact]
    public async Task Experiment_via_cluster_takes_a_list_of_silos_as_the_docs_say()
    {
        // docs/client.md lists experiment among the commands that take several silos: its --via-cluster is read as
        // --url is (before, a list was "not an http(s) address"). The list passes, so the next check is the one met.
        string outDir = Path.Combine(_dir, "experiment-out");
        var (code, _, error) = await CliHarness.Run("experiment", "--data", _dir, "--embedder", "spectral", "--out", outDir,
            "--via-cluster", "http://127.0.0.1:1,http://127.0.0.1:2", "--key", "op", "--clusters", "0");
        Assert.Equal(2, code);
        Assert.Contains("--clusters must be at least 1", error);
        // A bad address in the list is named as --url's are, under the option's own name.
        (code, _, error) = await CliHarness.Run("experiment", "--data", _dir, "--embedder", "spectral", "--out", outDir,
            "--via-cluster", "http://127.0.0.1:1,ftp://x", "--key", "op");
        Assert.Equal(2, code);
        Assert.Contains("--via-cluster: 'ftp://x' (in the list 'http://127.0.0.1:1,ftp://x') is not an http(s) address", error);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public async Task A_push_to_a_two_silo_cluster_loses_no_clip_when_one_silo_stops()
    {
        await using var redis = await RedisServer.StartAsync(Directory.CreateDirectory(Path.Combine(_dir, "redis")).FullName);
        var settings = Settings("cluster-data");
        settings["Asd:Redis"] = redis.Connection;
        settings["Asd:ClusterId"] = "failover-" + Path.GetFileName(_dir);
        var first = await SiloApp.StartOnLoopbackAsync(settings);
        var second = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>(settings));
        bool firstStopped = false;
        try
        {
            string list = $"{first.Address.GetLeftPart(UriPartial.Authority)},{second.Address.GetLeftPart(UriPartial.Authority)}";
            var (code, _, error) = await CliHarness.Run("enroll", "--url", list, "--key", "op", "--machine", "ops.pump-01", "--data", Path.Combine(_dir, "train"));
            Assert.True(code == 0, error);
            // 16 clips at 4 a second; the first silo (the list's current one) stops after about 1.5 s.
            var push = CliHarness.Run("push", "--url", list, "--key", "dev", "--machine", "ops.pump-01",
                "--data", Path.Combine(_dir, "test"), "--rate", "4", "--retries", "2");
            await Task.WhenAny(push, Task.Delay(1500));
            Assert.False(push.IsCompleted, "the push ended before the silo stopped");
            await Stop(first.App);
            firstStopped = true;

            (code, var output, error) = await push;
            // With one --url the clips sent while that silo was away were not delivered (SiloRestartUnderLoadTests).
            Assert.True(code == 0, $"exit {code}\n{output}\n{error}");
            Assert.Contains("pushed 16 clips", output);
            Assert.DoesNotContain("not delivered", output + error);
            Assert.Equal(16, (await Status(second.Address, "ops.pump-01")).GetProperty("clipsSeen").GetInt64());
            // The move was announced, naming the silo that took over.
            Assert.Contains(second.Address.GetLeftPart(UriPartial.Authority), error);
        }
        finally
        {
            if (!firstStopped) await Stop(first.App);
            await Stop(second.App);
        }
    }

    [Fact]
    public async Task Following_alerts_on_a_list_goes_on_at_the_next_silo_when_its_silo_stops()
    {
        await using var redis = await RedisServer.StartAsync(Directory.CreateDirectory(Path.Combine(_dir, "redis")).FullName);
        var settings = Settings("follow-data");
        settings["Asd:Redis"] = redis.Connection;
        settings["Asd:ClusterId"] = "follow-list-" + Path.GetFileName(_dir);
        var first = await SiloApp.StartOnLoopbackAsync(settings);
        var second = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>(settings));
        bool firstStopped = false;
        try
        {
            string secondUrl = second.Address.GetLeftPart(UriPartial.Authority);
            string list = $"{first.Address.GetLeftPart(UriPartial.Authority)},{secondUrl}";
            // An alerting clip: the test folder through one machine, then its first alert raised again on a twin.
            var (code, _, error) = await CliHarness.Run("enroll", "--url", secondUrl, "--key", "op", "--machine", "ops.saw-02", "--data", Path.Combine(_dir, "train"));
            Assert.True(code == 0, error);
            (code, _, error) = await CliHarness.Run("push", "--url", secondUrl, "--key", "dev", "--machine", "ops.saw-02", "--data", Path.Combine(_dir, "test"));
            Assert.True(code == 0, error);
            (code, var listed, error) = await CliHarness.Run("alerts", "list", "--url", secondUrl, "--key", "lab", "--machine", "ops.saw-02", "--json");
            Assert.True(code == 0, error);
            string alerting = System.Text.Json.JsonDocument.Parse(listed).RootElement[0].GetProperty("clipId").GetString()!;
            byte[] wav = await File.ReadAllBytesAsync(Path.Combine(_dir, "test", alerting + ".wav"));
            (code, _, error) = await CliHarness.Run("enroll", "--url", secondUrl, "--key", "op", "--machine", "ops.saw-03", "--data", Path.Combine(_dir, "train"));
            Assert.True(code == 0, error);
            using var device = new HttpClient { BaseAddress = second.Address };
            device.DefaultRequestHeaders.Add("X-Api-Key", "dev");
            async Task Raise(string clipId)
            {
                var response = await device.PostAsync($"/api/machines/ops.saw-03/clips?clipId={clipId}", ClusterHttp.Wav(wav));
                Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
            }

            // The follower starts on the list's first silo, sees one alert, and that silo stops for good.
            var follow = CliHarness.Run("alerts", "follow", "--url", list, "--key", "lab", "--machine", "ops.saw-03", "--count", "3", "--json", "--give-up-after", "30s");
            await Task.WhenAny(follow, Task.Delay(2000));
            await Raise("live-0");
            await Task.WhenAny(follow, Task.Delay(2000));
            await Stop(first.App);
            firstStopped = true;
            await Raise("while-away-0");
            await Raise("while-away-1");

            var done = await Task.WhenAny(follow, Task.Delay(TimeSpan.FromSeconds(60)));
            Assert.True(done == follow, "the follower did not go on at the second silo");
            (code, var output, error) = await follow;
            Assert.True(code == 0, $"exit {code}\n{output}\n{error}");
            var clips = output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => System.Text.Json.JsonDocument.Parse(line).RootElement.GetProperty("clipId").GetString()).ToList();
            Assert.Equal(["live-0", "while-away-0", "while-away-1"], clips);
            // The second silo does not hold the first one's events: its reset, and the catch-up from the list of alerts.
            Assert.Contains("the alerts raised meanwhile are printed from the list of alerts", error);
        }
        finally
        {
            if (!firstStopped) await Stop(first.App);
            await Stop(second.App);
        }
    }

    [Fact]
    public async Task A_busy_silo_sends_the_retry_to_the_next_silo_of_the_list_and_the_notice_names_both()
    {
        // Two silos of their own (not one cluster: a machine enrolled on each), the first taking one clip at a time and
        // queueing none, so that four clips in flight meet its 503 "busy" answer.
        var busySettings = Settings("busy-a");
        busySettings["Asd:MaxConcurrentClips"] = "1";
        busySettings["Asd:QueuedClips"] = "0";
        busySettings["Asd:ClusterId"] = "busy-a-" + Path.GetFileName(_dir);
        var roomySettings = Settings("busy-b");
        roomySettings["Asd:ClusterId"] = "busy-b-" + Path.GetFileName(_dir);
        var busy = await SiloApp.StartOnLoopbackAsync(busySettings);
        var roomy = await SiloApp.StartOnLoopbackAsync(roomySettings);
        try
        {
            string busyUrl = busy.Address.GetLeftPart(UriPartial.Authority), roomyUrl = roomy.Address.GetLeftPart(UriPartial.Authority);
            foreach (string url in new[] { busyUrl, roomyUrl })
            {
                var (enrolled, _, enrollError) = await CliHarness.Run("enroll", "--url", url, "--key", "op", "--machine", "ops.belt-01", "--data", Path.Combine(_dir, "train"));
                Assert.True(enrolled == 0, enrollError);
            }
            var (code, output, error) = await CliHarness.Run("push", "--url", $"{busyUrl},{roomyUrl}", "--key", "dev", "--machine", "ops.belt-01",
                "--data", Path.Combine(_dir, "test"), "--concurrency", "4", "--retries", "3");
            Assert.True(code == 0, $"exit {code}\n{output}\n{error}");
            Assert.Contains("pushed 16 clips", output);
            Assert.Contains($"503 Service Unavailable (Retry-After 5 s) from {busyUrl}; try 2 of 4 in", error);
            Assert.Contains($"s, at {roomyUrl}", error);
            long seen = (await Status(busy.Address, "ops.belt-01")).GetProperty("clipsSeen").GetInt64()
                        + (await Status(roomy.Address, "ops.belt-01")).GetProperty("clipsSeen").GetInt64();
            Assert.Equal(16, seen);
        }
        finally
        {
            await Stop(busy.App);
            await Stop(roomy.App);
        }
    }

    /// <summary>A stand-in silo on 127.0.0.1 that answers <c>GET /api/events</c> only, as <paramref name="events"/> says.</summary>
    private static async Task<(WebApplication App, string Url)> FakeSilo(RequestDelegate events)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapGet("/api/events", events);
        await app.StartAsync();
        return (app, app.Urls.Single());
    }

    [Fact]
    public async Task After_a_dropped_stream_and_a_full_silo_the_next_stream_goes_back_to_the_silo_that_served()
    {
        // Two silos: A serves the stream, which drops (A restarting); the reconnect goes to B, which is full (503 +
        // Retry-After, so the follower waits, and the cursor moves back to A). The try after that goes to A, which is
        // up again: not to B once more, and so on for as long as B stays full (before the fix, the dropped stream moved
        // the cursor past A at every try).
        int servedByA = 0, refusedByB = 0;
        var (a, aUrl) = await FakeSilo(async http =>
        {
            Interlocked.Increment(ref servedByA);
            http.Response.ContentType = "text/event-stream";
            await http.Response.WriteAsync("retry: 2000\n\n");
        });
        var (b, bUrl) = await FakeSilo(async http =>
        {
            Interlocked.Increment(ref refusedByB);
            http.Response.StatusCode = 503;
            http.Response.Headers.RetryAfter = "1";
            await http.Response.WriteAsJsonAsync(new { status = 503, detail = "the silo holds its maximum of 1 event streams" });
        });
        try
        {
            using var http = new ClusterHttp($"{aUrl},{bUrl}", "lab");
            var cancellation = TestContext.Current.CancellationToken;
            var (body, _, silo) = await http.OpenEventStreamAsync("/api/events?types=alert", null, cancellation);
            await body.DisposeAsync();
            Assert.Equal(aUrl, SiloFailover.Name(silo));

            var full = await Assert.ThrowsAsync<SiloRefusedException>(() => http.OpenEventStreamAsync("/api/events?types=alert", null, cancellation));
            Assert.Equal((503, 1), (full.Status, refusedByB));

            for (int i = 0; i < 3; i++)
            {
                (body, _, silo) = await http.OpenEventStreamAsync("/api/events?types=alert", null, cancellation);
                await body.DisposeAsync();
                Assert.Equal(aUrl, SiloFailover.Name(silo));
                Assert.Equal(2 + i, servedByA);
                // It dropped again: the next try is B's, once.
                full = await Assert.ThrowsAsync<SiloRefusedException>(() => http.OpenEventStreamAsync("/api/events?types=alert", null, cancellation));
                Assert.Equal(2 + i, refusedByB);
            }
        }
        finally
        {
            await Stop(a);
            await Stop(b);
        }
    }
}
