using System.Net;
using AsdOrleans.Silo;
using AsdOrleans.Tests;
using Microsoft.AspNetCore.Builder;
using StackExchange.Redis;

namespace AsdOrleans.Cli.Tests;

/// <summary>`asd cluster accept-store-loss` against two real silos whose Redis lost its data (stop 55): both report it,
/// one acceptance ends it for both (the other follows the shared data directory).</summary>
public sealed class ClusterStoreLossCommandTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-cluster-loss-").FullName;
    private RedisServer _redis = null!;
    private readonly List<(WebApplication App, string Url)> _silos = [];

    public async ValueTask InitializeAsync()
    {
        _redis = await RedisServer.StartAsync(Directory.CreateDirectory(Path.Combine(_dir, "redis")).FullName);
        for (int i = 0; i < 2; i++)
        {
            var (app, address) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
            {
                ["Asd:Embedder"] = "spectral",
                ["Asd:Redis"] = _redis.Connection,
                ["Asd:ClusterId"] = "cli-loss",
                ["Asd:DataDirectory"] = Path.Combine(_dir, "shared"),
                ["Asd:ApiKeys:Operator:0"] = "op",
            });
            _silos.Add((app, address.ToString()));
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (app, _) in _silos)
        {
            // Redis lost the membership table: a graceful stop would wait minutes for it.
            using var soon = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try { await app.StopAsync(soon.Token); } catch (OperationCanceledException) { }
            await app.DisposeAsync();
        }
        await _redis.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private static async Task<HttpStatusCode> Readiness(string url)
    {
        using var http = new HttpClient { BaseAddress = new Uri(url) };
        return (await http.GetAsync("/readyz")).StatusCode;
    }

    [Fact]
    public async Task One_acceptance_of_a_flushed_redis_ends_the_refusal_on_every_silo_and_another_marker_is_refused()
    {
        string lost = File.ReadAllText(Path.Combine(_dir, "shared", RedisStoreIdentity.FileName("asd-orleans")));
        using (var admin = await ConnectionMultiplexer.ConnectAsync(_redis.Connection + ",allowAdmin=true"))
            await admin.GetServers()[0].FlushAllDatabasesAsync();
        foreach (var (_, url) in _silos)
            await Waiting.Until(async () => await Readiness(url) == HttpStatusCode.ServiceUnavailable, $"{url} is not ready");

        var (code, _, error) = await CliHarness.Run("cluster", "accept-store-loss", "--url", _silos[0].Url, "--key", "op", "--lost", "not-the-marker");
        Assert.NotEqual(0, code);
        Assert.Contains($"this silo remembers store {lost}, not not-the-marker", error);

        (code, var output, error) = await CliHarness.Run("cluster", "accept-store-loss", "--url", _silos[0].Url, "--key", "op", "--lost", lost, "--by", "ops on call");
        Assert.True(code == 0, error);
        Assert.Contains($"accepted: store {lost} is recorded as lost (by ops on call (from ", output);
        Assert.Matches(@"the silo asked dropped the \d+ grain activations that lived through the loss and takes writes again", output);
        foreach (var (_, url) in _silos)
            await Waiting.Until(async () => await Readiness(url) == HttpStatusCode.OK, $"{url} is ready again");
    }
}
