using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// What the store-loss tests (<see cref="RedisStoreLossTests"/>, <see cref="RedisStoreRewindTests"/>) share: real
/// redis-servers in a folder of the test's, silos of one cluster on them with one data directory, and the checks of what
/// /readyz, the API and the log say about the cluster's store. <paramref name="name"/> names the test's folder, cluster,
/// encoder and the machines the checks write.
/// </summary>
public abstract class RedisStoreSiloTests(string name) : IAsyncLifetime
{
    protected const string Service = "asd-orleans";
    protected readonly string _dir = Directory.CreateTempSubdirectory($"asd-{name}-").FullName;
    protected readonly List<WebApplication> _silos = [];
    private readonly List<RedisServer> _servers = [];
    protected RedisServer _redis = null!;
    private string Key => $"{name}-operator";
    private string Encoder => $"enc-{name}";
    private readonly Random _vectors = new(5);

    public async ValueTask InitializeAsync() => _redis = await StartRedis("redis");

    public async ValueTask DisposeAsync()
    {
        foreach (var silo in _silos) await Stop(silo);
        foreach (var server in _servers) await server.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    protected string DataDirectory => Path.Combine(_dir, "data");
    protected string MarkerFile => Path.Combine(DataDirectory, RedisStoreIdentity.FileName(Service));

    /// <summary>A redis-server in its own folder under the test's, on <paramref name="port"/> (a restart) or a free one.</summary>
    protected async Task<RedisServer> StartRedis(string folder, int? port = null)
    {
        var server = await RedisServer.StartAsync(Directory.CreateDirectory(Path.Combine(_dir, folder)).FullName, port: port);
        _servers.Add(server);
        return server;
    }

    /// <summary>A silo whose Redis lost the membership table stops in minutes gracefully; the tests need no graceful stop.</summary>
    protected static async Task Stop(WebApplication silo)
    {
        using var soon = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try { await silo.StopAsync(soon.Token); } catch (OperationCanceledException) { }
        await silo.DisposeAsync();
    }

    /// <summary>Stops a silo the test started, before the test ends.</summary>
    protected async Task StopSilo(WebApplication silo)
    {
        _silos.Remove(silo);
        await Stop(silo);
    }

    protected async Task<(HttpClient Http, ConcurrentQueue<(LogLevel Level, string Message)> Log, WebApplication App)> StartSilo()
    {
        var (app, address) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
        {
            ["Asd:Redis"] = _redis.Connection,
            ["Asd:ClusterId"] = name,
            ["Asd:DataDirectory"] = DataDirectory,
            ["Asd:ApiKeys:Operator:0"] = Key,
        });
        _silos.Add(app);
        var log = new ConcurrentQueue<(LogLevel, string)>();
        app.Services.GetRequiredService<ILoggerFactory>().AddProvider(new WarningLogProvider(log, withExceptions: true));
        var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Add("X-Api-Key", Key);
        return (http, log, app);
    }

    protected static Task<HttpResponseMessage> Configure(HttpClient http, string machine, double budget)
        => http.PutAsJsonAsync($"/api/machines/{machine}", new MachineSettings { Strategy = "random", Budget = budget, Seed = 1 });

    protected static Task<HttpResponseMessage> Accept(HttpClient http, string lost)
        => http.PostAsJsonAsync("/api/cluster/store/accept-loss", new { lost, by = "test operator" });

    protected static async Task<ConnectionMultiplexer> Admin(RedisServer server)
        => await ConnectionMultiplexer.ConnectAsync(server.Connection + ",allowAdmin=true");

    /// <summary>/readyz's status code and the description of its redis-store check.</summary>
    protected static async Task<(HttpStatusCode Status, string? Store)> Readiness(HttpClient http)
    {
        var response = await http.GetAsync("/readyz");
        var checks = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("checks");
        return (response.StatusCode, checks.GetProperty("redis-store").GetProperty("description").GetString());
    }

    protected static async Task<string> ExpectLossReported(HttpClient http, string saying)
    {
        string? said = null;
        await Waiting.Until(async () => await Readiness(http) is (HttpStatusCode.ServiceUnavailable, { } store) && (said = store).Contains(saying, StringComparison.Ordinal),
            $"/readyz is 503 with a redis-store check saying '{saying}' (last: {said})");
        return said!;
    }

    protected async Task ExpectWritesRefused(HttpClient http)
    {
        var response = await Configure(http, $"{name}.refused", 0.2);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{(int)response.StatusCode}: {body}");
        Assert.Equal(RedisStoreWatch.ClientDetail, JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString());
        Assert.Null(response.Headers.RetryAfter);
    }

    protected async Task ExpectReady(HttpClient http)
    {
        await Waiting.Until(async () => (await http.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK, "/readyz is 200");
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, $"{name}.after", 0.3)).StatusCode);
    }

    protected static List<string> Errors(ConcurrentQueue<(LogLevel Level, string Message)> log)
        => log.Where(e => e.Level >= LogLevel.Error && e.Message.StartsWith("refusing writes: ", StringComparison.Ordinal)).Select(e => e.Message).ToList();

    /// <summary>Log entries naming Orleans' version conflict (a write with a lost state's ETag), with their exceptions.</summary>
    protected static List<string> Conflicts(IEnumerable<(LogLevel Level, string Message)> log)
        => log.Select(e => e.Message).Where(m => m.Contains("InconsistentState", StringComparison.Ordinal)).ToList();

    private float[] Vector()
    {
        lock (_vectors) return Enumerable.Range(0, 16).Select(_ => (float)_vectors.NextDouble() - 0.5f).ToArray();
    }

    /// <summary>Configures and enrolls <paramref name="machine"/> through <paramref name="http"/>, once, each write answered 200.</summary>
    protected async Task ConfigureAndEnroll(HttpClient http, string machine)
    {
        var configured = await http.PutAsJsonAsync($"/api/machines/{machine}", new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 });
        Assert.True(configured.StatusCode == HttpStatusCode.OK, $"configure {machine}: {(int)configured.StatusCode} {await configured.Content.ReadAsStringAsync()}");
        var enrollment = new EnrollmentRequest(Enumerable.Range(0, 30).Select(i => new EnrollmentClip(Vector(), i % 10 == 0)).ToList(), Encoder);
        var enrolled = await http.PostAsJsonAsync($"/api/machines/{machine}/enrollment", enrollment);
        Assert.True(enrolled.StatusCode == HttpStatusCode.OK, $"enroll {machine}: {(int)enrolled.StatusCode} {await enrolled.Content.ReadAsStringAsync()}");
    }

    /// <summary>A clip scored and its label request answered (acknowledged), through the grain (the path HTTP's clips and
    /// the .NET client take).</summary>
    protected async Task ClipAndLabel(WebApplication silo, string machine, string clip)
    {
        var grain = silo.Services.GetRequiredService<IGrainFactory>().GetGrain<IMachineGrain>(machine);
        var verdict = await grain.ProcessClip(new ClipSubmission(clip, Vector(), Encoder));
        Assert.True(verdict.LabelRequested, $"{machine}: {clip} asks for a label (budget 1)");
        var receipt = await grain.SubmitLabel(clip, ClipLabelValue.Normal, "ann");
        Assert.Equal((clip, ClipLabelValue.Normal, false), (receipt.ClipId, receipt.Label, receipt.AlreadyApplied));
    }

    /// <summary>The clips seen and normal labels <paramref name="machine"/> reports: what the store holds, nothing lost mixed in.</summary>
    protected static async Task ExpectState(HttpClient http, string machine, long clips, long normalLabels)
    {
        var status = await http.GetAsync($"/api/machines/{machine}");
        string body = await status.Content.ReadAsStringAsync();
        Assert.True(status.StatusCode == HttpStatusCode.OK, $"GET /api/machines/{machine}: {(int)status.StatusCode} {body}");
        var json = JsonDocument.Parse(body).RootElement;
        Assert.Equal((clips, normalLabels), (json.GetProperty("clipsSeen").GetInt64(), json.GetProperty("normalLabels").GetInt64()));
    }
}
