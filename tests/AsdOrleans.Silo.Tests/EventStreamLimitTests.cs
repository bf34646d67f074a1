using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Silo.Tests;

/// <summary>A silo that holds at most three event streams, two of them one person's (Asd:MaxEventStreams 3, Asd:MaxEventStreamsPerLabeller 2).</summary>
public sealed class ThreeEventStreamsSilo() : LoopbackSilo("asd-streams-", modelSeed: 7, SiloFixture.Plan, SiloFixture.DeviceKey, SiloFixture.LabellerKey, SiloFixture.OperatorKey,
    new Dictionary<string, string?>
    {
        ["Logging:LogLevel:Default"] = "Warning",
        ["Asd:MaxEventStreams"] = "3",
        ["Asd:MaxEventStreamsPerLabeller"] = "2",
        [$"Asd:ApiKeys:Labellers:{SiloFixture.NamedLabeller}"] = SiloFixture.NamedLabellerKey,
    })
{
    public ConsoleEventHub Hub => App.Services.GetRequiredService<ConsoleEventHub>();
    protected override Task Started() => Hub.Subscribed.WaitAsync(TimeSpan.FromSeconds(60));
}

public sealed class EventStreamLimitTests(ThreeEventStreamsSilo silo) : IClassFixture<ThreeEventStreamsSilo>
{
    private static readonly TimeSpan EventWait = TimeSpan.FromSeconds(30);

    private async Task<HttpResponseMessage> TryOpen(string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/events");
        request.Headers.Add("X-Api-Key", key);
        return await silo.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    private static async Task<JsonElement> AssertRefused(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(EventStreamLimit.RetryAfterSeconds), response.Headers.RetryAfter?.Delta);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.Equal(EventStreamLimit.Title, problem.GetProperty("title").GetString());
        return problem;
    }

    /// <summary>Waits until every stream of an earlier step has ended (a closed client is seen a moment later).</summary>
    private Task NoneOpen() => Waiting.Until(() => Task.FromResult(silo.Hub.OpenStreams == 0), "the streams to close", seconds: 20);

    [Fact]
    public async Task Streams_beyond_the_silos_limit_are_refused_503_with_Retry_After_and_a_freed_place_is_taken_again()
    {
        await NoneOpen();
        var open = new List<SseReader>();
        for (int i = 0; i < 3; i++) open.Add(await SseReader.Open(silo.Http, SiloFixture.LabellerKey));
        Assert.Equal(3, silo.Hub.OpenStreams);

        var problem = await AssertRefused(await TryOpen(SiloFixture.LabellerKey), HttpStatusCode.ServiceUnavailable);
        Assert.Equal(EventStreamLimit.SiloDetail(3), problem.GetProperty("detail").GetString());
        Assert.Contains("maximum of 3 event streams", problem.GetProperty("detail").GetString());
        Assert.Contains("Asd:MaxEventStreams", problem.GetProperty("detail").GetString());
        // An operator's key and a person's own key are refused alike: the silo's limit is everyone's.
        await AssertRefused(await TryOpen(SiloFixture.OperatorKey), HttpStatusCode.ServiceUnavailable);
        await AssertRefused(await TryOpen(SiloFixture.NamedLabellerKey), HttpStatusCode.ServiceUnavailable);
        Assert.Equal(3, silo.Hub.OpenStreams);
        // The streams held still deliver.
        var published = silo.Hub.Publish(ConsoleEventHub.AlertEvent, "limit.fan-01", new { machineId = "limit.fan-01", clipId = "c-1" });
        foreach (var stream in open)
            Assert.Equal(published.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), (await stream.Next(EventWait)).Id);

        var metrics = await (await silo.Send(HttpMethod.Get, "/metrics", null)).Content.ReadAsStringAsync();
        // Other silos of this test process share the meter: at least this one's three.
        var gauge = System.Text.RegularExpressions.Regex.Match(metrics, @"(?m)^asd_event_streams_open\{[^}]*\} (\d+)");
        Assert.True(gauge.Success, "asd_event_streams_open is exported");
        Assert.True(long.Parse(gauge.Groups[1].Value) >= 3);
        Assert.Matches(@"asd_event_streams_refused_total\{[^}]*limit=""silo""[^}]*\} [1-9]", metrics);

        // A console that closes gives its place back.
        await open[0].DisposeAsync();
        open.RemoveAt(0);
        await Waiting.Until(() => Task.FromResult(silo.Hub.OpenStreams == 2), "the closed stream's place to be given back", seconds: 20);
        open.Add(await SseReader.Open(silo.Http, SiloFixture.LabellerKey));
        foreach (var stream in open) await stream.DisposeAsync();
        await NoneOpen();
    }

    [Fact]
    public async Task A_persons_own_key_holds_at_most_its_own_limit_429_and_leaves_the_rest_to_others()
    {
        await NoneOpen();
        var open = new List<SseReader>
        {
            await SseReader.Open(silo.Http, SiloFixture.NamedLabellerKey),
            await SseReader.Open(silo.Http, SiloFixture.NamedLabellerKey),
        };
        Assert.Equal(2, silo.Hub.OpenStreamsOf(SiloFixture.NamedLabeller));
        var problem = await AssertRefused(await TryOpen(SiloFixture.NamedLabellerKey), HttpStatusCode.TooManyRequests);
        Assert.Equal(EventStreamLimit.LabellerDetail(SiloFixture.NamedLabeller, 2), problem.GetProperty("detail").GetString());
        Assert.Contains("Asd:MaxEventStreamsPerLabeller", problem.GetProperty("detail").GetString());
        // The silo's third place is still anyone's; a shared key is many people's and has only the silo's limit.
        open.Add(await SseReader.Open(silo.Http, SiloFixture.LabellerKey));
        Assert.Equal(3, silo.Hub.OpenStreams);
        foreach (var stream in open) await stream.DisposeAsync();
        await NoneOpen();
        Assert.Equal(0, silo.Hub.OpenStreamsOf(SiloFixture.NamedLabeller));
    }

    [Fact]
    public async Task A_stuck_client_is_dropped_from_the_hub_and_its_stream_closed_so_it_holds_no_memory_or_place()
    {
        await NoneOpen();
        // A client that asks for the stream and then never reads: its socket buffers fill, then Kestrel's, then the listener's channel.
        using var stuck = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await stuck.ConnectAsync(silo.Http.BaseAddress!.Host, silo.Http.BaseAddress.Port);
        await stuck.SendAsync(Encoding.ASCII.GetBytes(
            $"GET /api/events HTTP/1.1\r\nHost: {silo.Http.BaseAddress.Authority}\r\nX-Api-Key: {SiloFixture.LabellerKey}\r\n\r\n"));
        await Waiting.Until(() => Task.FromResult(silo.Hub.OpenStreams == 1), "the stuck client's stream to open", seconds: 20);
        // A client that reads alongside it, to the end.
        await using var reading = await SseReader.Open(silo.Http, SiloFixture.LabellerKey);
        long seen = 0;
        using var stop = new CancellationTokenSource();
        var reader = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
                Interlocked.Exchange(ref seen, long.Parse((await reading.Next(TimeSpan.FromMinutes(5))).Id!, System.Globalization.CultureInfo.InvariantCulture));
        });

        // Far more than the sockets, Kestrel's buffer and the listener's backlog hold together (~32 MB), paced by the
        // client that reads so that only the stuck one falls behind.
        string filler = new('x', 16 * 1024);
        for (int i = 0; i < 2_000; i++)
        {
            var last = silo.Hub.Publish(ConsoleEventHub.AlertEvent, "limit.fan-02", new { machineId = "limit.fan-02", clipId = $"s-{i}", filler });
            if (i % 100 == 99)
                await Waiting.Until(() => Interlocked.Read(ref seen) >= last.Id || reader.IsFaulted, "the reading client to keep up", seconds: 30);
        }
        Assert.False(reader.IsFaulted, reader.Exception?.ToString());
        var published = System.Diagnostics.Stopwatch.StartNew();
        // The stuck stream is closed (its listener dropped as it fell behind, then Kestrel's minimum response data rate) and
        // its place given back, while the client that reads stays.
        await Waiting.Until(() => silo.Hub.OpenStreams == 1, "the stuck client's stream to be closed", seconds: 90);
        Console.WriteLine($"stuck stream closed {published.Elapsed.TotalSeconds:F1} s after the last event");
        Assert.False(reader.IsCompleted, reader.Exception?.ToString());
        stop.Cancel();
    }

    [Theory]
    [InlineData(0, 10, "Asd:MaxEventStreams (Asd__MaxEventStreams) must be at least 1 stream, got 0")]
    [InlineData(1000, 0, "Asd:MaxEventStreamsPerLabeller (Asd__MaxEventStreamsPerLabeller) must be at least 1 stream, got 0")]
    public void Limits_the_silo_cannot_use_stop_its_start(int max, int perLabeller, string problem)
        => Assert.Equal(problem, SiloStartupChecks.Problem(new SiloOptions { MaxEventStreams = max, MaxEventStreamsPerLabeller = perLabeller }));

    [Fact]
    public void The_defaults_hold_a_plants_labellers()
    {
        var defaults = new SiloOptions();
        Assert.Equal(1_000, defaults.MaxEventStreams);
        Assert.True(defaults.MaxEventStreamsPerLabeller >= 2 && defaults.MaxEventStreamsPerLabeller < defaults.MaxEventStreams);
        Assert.Null(SiloStartupChecks.Problem(defaults));
    }
}

/// <summary>The console in a browser when its silo holds as many event streams as it takes.</summary>
[Collection(ConsoleBrowserTests.Name)]
public sealed class EventStreamLimitConsoleTests(ThreeEventStreamsSilo silo) : IClassFixture<ThreeEventStreamsSilo>
{
    [Fact]
    public async Task A_console_refused_says_why_waits_as_asked_and_goes_live_once_a_place_is_free()
    {
        var held = new List<SseReader>();
        for (int i = 0; i < 3; i++) held.Add(await SseReader.Open(silo.Http, SiloFixture.LabellerKey));
        var profile = Directory.CreateTempSubdirectory("asd-selenium-").FullName;
        try
        {
            using var driver = ConsoleBrowserTests.StartBrowser(profile);
            driver.Navigate().GoToUrl(new Uri(silo.Http.BaseAddress!, "/ui/"));
            await ConsoleBrowserTests.Until(driver, () => driver.FindElements(OpenQA.Selenium.By.Id("key")).Count == 1, "the sign-in form");
            driver.FindElement(OpenQA.Selenium.By.Id("key")).SendKeys(SiloFixture.LabellerKey);
            driver.FindElement(OpenQA.Selenium.By.Id("labeller")).SendKeys("grace");
            driver.FindElement(OpenQA.Selenium.By.Id("signin-button")).Click();

            // Signed in (the lists load: they are not limited), not live, and it says why.
            var live = OpenQA.Selenium.By.Id("live");
            await ConsoleBrowserTests.Until(driver, () => driver.FindElement(live).Text == "waiting for the silo…", "the console to say it waits");
            string why = driver.FindElement(live).GetAttribute("title")!;
            Assert.Contains("maximum of 3 event streams", why);
            Assert.Contains("Asd:MaxEventStreams", why);
            Assert.Equal(3, silo.Hub.OpenStreams);

            // A place freed: the console takes it after Retry-After (15 s, with up to half again of jitter), not at once.
            await held[0].DisposeAsync();
            held.RemoveAt(0);
            await Waiting.Until(() => driver.FindElement(live).Text == "● live", "the console to go live", seconds: 40);
            Assert.Equal(3, silo.Hub.OpenStreams);
        }
        finally
        {
            foreach (var stream in held) await stream.DisposeAsync();
            try { Directory.Delete(profile, recursive: true); } catch (IOException) { }
        }
    }
}
