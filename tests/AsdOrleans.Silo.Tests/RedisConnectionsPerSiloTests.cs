using System.Net;
using System.Net.Http.Json;
using AsdOrleans.Abstractions;
using Microsoft.AspNetCore.Builder;
using StackExchange.Redis;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// A cluster silo opened a StackExchange.Redis multiplexer (two connections: interactive and pub/sub) for each of
/// Orleans' membership table, grain storage and reminder table, its store and durability watches and its readiness
/// check: twelve connections to Redis per silo (before stop 56). They share one now (<see cref="SiloRedisConnection"/>).
/// Counted as an operator would, with CLIENT LIST, on a real redis-server once the silo is ready, has written a
/// machine and its watches have looked.
/// </summary>
public sealed class RedisConnectionsPerSiloTests : IAsyncLifetime
{
    private const string Key = "connections-operator";
    private const string AdminName = "asd-test-admin";
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-connections-").FullName;
    private RedisServer _redis = null!;
    private WebApplication? _silo;

    public async ValueTask InitializeAsync() => _redis = await RedisServer.StartAsync(_dir);

    public async ValueTask DisposeAsync()
    {
        if (_silo is not null)
        {
            await _silo.StopAsync();
            await _silo.DisposeAsync();
        }
        await _redis.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Connections to Redis other than the test's own (named <see cref="AdminName"/>).</summary>
    private async Task<List<ClientInfo>> SiloConnections()
    {
        await using var admin = await ConnectionMultiplexer.ConnectAsync($"{_redis.Connection},allowAdmin=true,name={AdminName}");
        return (await admin.GetServers()[0].ClientListAsync()).Where(c => c.Name != AdminName).ToList();
    }

    [Fact]
    public async Task A_cluster_silo_talks_to_redis_over_one_multiplexer()
    {
        Assert.Empty(await SiloConnections());
        Uri address;
        (_silo, address) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
        {
            ["Asd:Redis"] = _redis.Connection,
            ["Asd:ClusterId"] = "connections",
            ["Asd:DataDirectory"] = Path.Combine(_dir, "data"),
            ["Asd:ApiKeys:Operator:0"] = Key,
        });
        using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Add("X-Api-Key", Key);
        await Waiting.Until(async () => (await http.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK, "/readyz is 200");
        // Grain storage (a machine's state, the registry), membership (the silo joined) and reminders (the table was read at
        // start) have all used Redis by now; the watches look every 5 s.
        Assert.Equal(HttpStatusCode.OK, (await http.PutAsJsonAsync("/api/machines/connections.m1", new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 1 })).StatusCode);
        await Task.Delay(RedisStoreWatch.Period * 2);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/readyz")).StatusCode);

        var connections = await SiloConnections();
        string listed = string.Join("; ", connections.Select(c => $"{c.Address} name={c.Name} cmd={c.LastCommand}"));
        TestContext.Current.SendDiagnosticMessage($"Redis connections of one cluster silo: {connections.Count} ({listed})");
        // One multiplexer: its interactive connection and its pub/sub one.
        Assert.True(connections.Count <= 2, $"{connections.Count} connections: {listed}");
    }
}
