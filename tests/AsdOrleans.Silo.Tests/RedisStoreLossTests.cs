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

public sealed class RedisStoreLossTests : IAsyncLifetime
{
    private const string Key = "loss-operator";
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-loss-").FullName;
    private readonly List<WebApplication> _silos = [];
    private RedisServer _redis = null!;

    public async ValueTask InitializeAsync() => _redis = await RedisServer.StartAsync(Directory.CreateDirectory(Path.Combine(_dir, "redis")).FullName);

    public async ValueTask DisposeAsync()
    {
        foreach (var silo in _silos)
        {
            await silo.StopAsync();
            await silo.DisposeAsync();
        }
        await _redis.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private Dictionary<string, string?> Settings() => new()
    {
        ["Asd:Redis"] = _redis.Connection,
        ["Asd:ClusterId"] = "loss",
        ["Asd:DataDirectory"] = Path.Combine(_dir, "data"),
        ["Asd:ApiKeys:Operator:0"] = Key,
    };

    private async Task<(HttpClient Http, ConcurrentQueue<(LogLevel Level, string Message)> Log)> StartSilo()
    {
        var (app, address) = await SiloApp.StartOnLoopbackAsync(Settings());
        _silos.Add(app);
        var log = new ConcurrentQueue<(LogLevel, string)>();
        app.Services.GetRequiredService<ILoggerFactory>().AddProvider(new WarningLogProvider(log));
        var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Add("X-Api-Key", Key);
        return (http, log);
    }

    private static void Out(string line) => File.AppendAllText("/tmp/rl/exp.log", DateTime.UtcNow.ToString("HH:mm:ss ") + line + "\n");

    [Fact]
    public async Task Experiment_flush()
    {
        var (http, log) = await StartSilo();
        var put = await http.PutAsJsonAsync("/api/machines/loss.m1", new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 1 });
        Out($"put {put.StatusCode}");
        using var admin = await ConnectionMultiplexer.ConnectAsync(_redis.Connection + ",allowAdmin=true");
        await admin.GetServers()[0].FlushAllDatabasesAsync();
        for (int i = 0; i < 8; i++)
        {
            await Task.Delay(5000);
            var r = await http.GetAsync("/readyz");
            var s = await http.GetAsync("/api/machines/loss.m1");
            var p = await http.PutAsJsonAsync("/api/machines/loss.m2", new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 1 });
            Out($"{i}: readyz {r.StatusCode} {await r.Content.ReadAsStringAsync()} | m1 {s.StatusCode} {(await s.Content.ReadAsStringAsync())[..Math.Min(200, (int)(s.Content.Headers.ContentLength ?? 200))]} | put m2 {p.StatusCode}");
            Out(string.Join(" ; ", (await admin.GetServers()[0].KeysAsync().ToListAsync()).Select(k => k.ToString())));
        }
        foreach (var e in log) Out($"LOG {e.Level}: {e.Message[..Math.Min(300, e.Message.Length)]}");
    }
}
