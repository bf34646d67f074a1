using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AsdOrleans.Abstractions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Silo.Tests;

/// <summary>Two silos in one Redis cluster on loopback, with a real redis-server started by the test.</summary>
public sealed class RedisClusterTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-redis-").FullName;
    private RedisServer _redis = null!;
    private string _connection = "";
    private readonly List<(WebApplication App, HttpClient Http)> _silos = [];

    public async ValueTask InitializeAsync()
    {
        _redis = await RedisServer.StartAsync(_dir);
        _connection = _redis.Connection;
        for (int i = 0; i < 2; i++)
            _silos.Add(await StartSilo());
    }


    private async Task<(WebApplication, HttpClient)> StartSilo()
    {
        var (app, address) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
        {
            ["Asd:Redis"] = _connection,
            ["Asd:ClusterId"] = "test-" + Path.GetFileName(_dir),
            ["Asd:DataDirectory"] = Path.Combine(_dir, "shared"),
            ["Asd:ApiKeys:Operator:0"] = "op",
        });
        var http = new HttpClient { BaseAddress = address };
        http.DefaultRequestHeaders.Add("X-Api-Key", "op");
        return (app, http);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (app, http) in _silos)
        {
            http.Dispose();
            await app.StopAsync();
            await app.DisposeAsync();
        }
        await _redis.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Both_silos_serve_the_same_machines_and_state_lives_in_redis()
    {
        var random = new Random(1);
        float[] Vector() => Enumerable.Range(0, 16).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var enrollment = new EnrollmentRequest(Enumerable.Range(0, 30).Select(i => new EnrollmentClip(Vector(), i % 10 == 0)).ToList(), "enc-redis");
        var (_, a) = _silos[0];
        var (_, b) = _silos[1];
        for (int m = 0; m < 12; m++)
        {
            Assert.Equal(HttpStatusCode.OK, (await a.PutAsJsonAsync($"/api/machines/redis.m{m}", new MachineSettings { Seed = (ulong)m })).StatusCode);
            var enrolled = await b.PostAsJsonAsync($"/api/machines/redis.m{m}/enrollment", enrollment);
            Assert.True(enrolled.IsSuccessStatusCode, await enrolled.Content.ReadAsStringAsync());
        }
        // Either silo answers for any machine, from the one activation the cluster holds.
        for (int m = 0; m < 12; m++)
            Assert.Equal(await a.GetStringAsync($"/api/machines/redis.m{m}"), await b.GetStringAsync($"/api/machines/redis.m{m}"));
        var list = JsonDocument.Parse(await b.GetStringAsync("/api/machines")).RootElement;
        Assert.Equal(12, list.GetArrayLength());

        // State is stored with Orleans' binary serializer, not the silo-wide JSON default.
        using (var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_connection))
        {
            var server = redis.GetServers()[0];
            var values = new List<byte[]>();
            foreach (var key in server.Keys(pattern: "*redis.m*"))
            {
                var type = await redis.GetDatabase().KeyTypeAsync(key);
                if (type == StackExchange.Redis.RedisType.Hash)
                    values.AddRange((await redis.GetDatabase().HashGetAllAsync(key)).Select(e => (byte[])e.Value!));
                else if (type == StackExchange.Redis.RedisType.String)
                    values.Add((byte[])(await redis.GetDatabase().StringGetAsync(key))!);
            }
            Assert.NotEmpty(values);
            Assert.DoesNotContain(values, v => v.Length > 1000 && v[0] == (byte)'{');
            Assert.Contains(values, v => v.Length > 1000); // the machine state itself
        }

        // Grain state is in Redis (the append-only file grows), not in a silo's memory.
        Assert.True(Directory.EnumerateFiles(_dir, "*.aof*", SearchOption.AllDirectories).Any(f => new FileInfo(f).Length > 0),
            "redis wrote no append-only file");
    }

    [Fact]
    public async Task A_paged_score_history_keeps_its_head_and_each_full_page_in_a_redis_record_of_its_own()
    {
        // The paged history reads and writes several state names of one grain: Redis must key records by state name too.
        var grains = _silos[0].App.Services.GetRequiredService<IGrainFactory>();
        var history = grains.GetGrain<IScoreHistoryGrain>("redis.history");
        Assert.Empty(await history.Get(null, 1)); // active before its one-way calls
        for (int i = 0; i < 250; i++)
            await history.Record(new ScorePoint(DateTimeOffset.UnixEpoch.AddSeconds(i), $"c{i}", i, 0.1, 0.5, false, false));
        // One-way calls across silos can be overtaken by the Get: wait for all of them.
        var arrived = DateTime.UtcNow.AddSeconds(20);
        while ((await history.Get(null, 1_000)).Count < 250 && DateTime.UtcNow < arrived)
            await Task.Delay(100);
        Assert.Equal(250, (await history.Get(null, 1_000)).Count);

        using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_connection);
        var server = redis.GetServers()[0];
        var deadline = DateTime.UtcNow.AddSeconds(20);
        List<StackExchange.Redis.RedisKey> keys;
        do
        {
            await Task.Delay(500); // written behind, within the history's flush interval
            keys = server.Keys(pattern: "*redis.history*").ToList();
        }
        while (keys.Count < 3 && DateTime.UtcNow < deadline);
        Assert.True(keys.Count == 3, "the head and two sealed pages: " + string.Join(", ", keys));
    }

    [Fact]
    public async Task A_silo_refuses_a_redis_that_could_lose_acknowledged_labels_unless_told_otherwise()
    {
        string dir = Directory.CreateTempSubdirectory("asd-volatile-redis-").FullName;
        try
        {
            await using var volatileRedis = await RedisServer.StartAsync(dir, durable: false);
            var settings = new Dictionary<string, string?>
            {
                ["Asd:Redis"] = volatileRedis.Connection,
                ["Asd:ClusterId"] = "volatile",
                ["Asd:DataDirectory"] = Path.Combine(dir, "shared"),
                ["Asd:ApiKeys:Operator:0"] = "op",
            };
            var refused = await Assert.ThrowsAsync<SiloConfigurationException>(() => SiloApp.StartOnLoopbackAsync(settings));
            Assert.Contains("appendonly no", refused.Message);
            Assert.Contains("appendfsync always", refused.Message);

            settings["Asd:RequireDurableRedis"] = "false";
            var (app, _) = await SiloApp.StartOnLoopbackAsync(settings);
            await app.StopAsync();
            await app.DisposeAsync();
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
