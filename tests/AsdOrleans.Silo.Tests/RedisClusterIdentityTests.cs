using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using AsdOrleans.Abstractions;
using AsdOrleans.Tests;
using Microsoft.AspNetCore.Builder;
using StackExchange.Redis;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// What an operator's audit of a 3-silo Redis cluster found (docs/decisions.md, "what a Redis cluster audit found"),
/// against a real redis-server and real silos: a silo with another cluster id is refused while that cluster runs; a
/// service id with no data beside other services' is warned about; an unreachable Redis is one line also with
/// Asd:RequireDurableRedis=false; and a silo killed with kill -9 is "not answering" for `where` as for `status`, and
/// API clients are told so in their terms, not with Orleans' stack frames.
/// </summary>
public sealed class RedisClusterIdentityTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-identity-").FullName;
    private RedisServer _redis = null!;

    public async ValueTask InitializeAsync() => _redis = await RedisServer.StartAsync(_dir);

    public async ValueTask DisposeAsync()
    {
        await _redis.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private Dictionary<string, string?> Settings(string clusterId, string? serviceId = null) => new()
    {
        ["Asd:Redis"] = _redis.Connection,
        ["Asd:ClusterId"] = clusterId,
        ["Asd:ServiceId"] = serviceId ?? "asd-orleans",
        ["Asd:DataDirectory"] = Path.Combine(_dir, "shared"),
        ["Asd:ApiKeys:Operator:0"] = "op",
    };

    private static async Task Stop(WebApplication app)
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }

    [Fact]
    public async Task A_silo_with_another_cluster_id_is_refused_while_that_cluster_has_live_silos_not_once_they_are_dead_or_stale()
    {
        var (live, _) = await SiloApp.StartOnLoopbackAsync(Settings("asd"));
        var refused = await Assert.ThrowsAsync<SiloConfigurationException>(() => SiloApp.StartOnLoopbackAsync(Settings("asd-typo")));
        Assert.Contains("1 live silo(s) of cluster 'asd' of service 'asd-orleans'", refused.Message);
        Assert.Contains("this silo's cluster id is 'asd-typo' (Asd:ClusterId, Asd__ClusterId)", refused.Message);
        using var redis = await ConnectionMultiplexer.ConnectAsync(_redis.Connection);
        var db = redis.GetDatabase();
        Assert.False(await db.KeyExistsAsync("asd-orleans/members/asd-typo")); // refused before it wrote anything

        // Stopped: its entry is Dead, and the old cluster id no longer blocks.
        await Stop(live);
        RedisKey members = "asd-orleans/members/asd";
        var entries = (await db.HashGetAllAsync(members)).Where(e => e.Name != "Version").ToList();
        Assert.Single(entries);
        // Orleans' own entry made Active again with a fresh IAmAlive: refused (the check reads the entries Orleans writes) …
        await Rewrite(db, members, entries, DateTime.UtcNow);
        await Assert.ThrowsAsync<SiloConfigurationException>(() => SiloApp.StartOnLoopbackAsync(Settings("asd-typo")));
        // … and with an IAmAlive an hour old, as a cluster killed whole leaves it (nobody left to declare it dead): stale.
        await Rewrite(db, members, entries, DateTime.UtcNow.AddHours(-1));
        var (moved, _) = await SiloApp.StartOnLoopbackAsync(Settings("asd-typo"));
        await Stop(moved);
    }

    /// <summary>Each entry as Orleans wrote it, Active, last alive at <paramref name="alive"/>.</summary>
    private static async Task Rewrite(IDatabase db, RedisKey members, List<HashEntry> entries, DateTime alive)
    {
        foreach (var entry in entries)
        {
            var json = JsonNode.Parse(entry.Value.ToString())!;
            Assert.Equal((int)SiloStatus.Dead, json["Status"]!.GetValue<int>()); // Newtonsoft writes the enum as a number
            json["Status"] = (int)SiloStatus.Active;
            json["IAmAliveTime"] = alive.ToString("o");
            json["StartTime"] = alive.AddMinutes(-1).ToString("o");
            await db.HashSetAsync(members, entry.Name, json.ToJsonString());
        }
    }

    [Fact]
    public async Task A_service_id_with_no_data_beside_another_services_data_is_warned_about_not_refused()
    {
        var check = (string serviceId) => RedisStartupChecks.Check(_redis.Connection, requireDurable: true, "asd", serviceId, TimeSpan.FromMinutes(2));
        Assert.Null(check("asd-orleans")); // an empty Redis: a new service
        var (first, _) = await SiloApp.StartOnLoopbackAsync(Settings("asd"));
        try
        {
            Assert.Null(check("asd-orleans")); // its own service
            string? warning = check("asd-orleans-typo");
            Assert.NotNull(warning);
            Assert.StartsWith("warning: ", warning);
            Assert.Contains("service(s) 'asd-orleans' and none of this silo's service id 'asd-orleans-typo' (Asd:ServiceId, Asd__ServiceId)", warning);
            // A warning, not a refusal: a second service on a shared Redis starts.
            var (second, _) = await SiloApp.StartOnLoopbackAsync(Settings("asd", "asd-orleans-typo"));
            await Stop(second);
        }
        finally
        {
            await Stop(first);
        }
    }

    [Fact]
    public async Task An_unreachable_redis_is_one_line_also_when_durability_is_not_required()
    {
        int nobody = SiloApp.FreeLoopbackPort();
        foreach (var durable in new[] { "true", "false" })
        {
            var settings = Settings("asd");
            settings["Asd:Redis"] = $"127.0.0.1:{nobody}";
            settings["Asd:RequireDurableRedis"] = durable;
            var refused = await Assert.ThrowsAsync<SiloConfigurationException>(() => SiloApp.StartOnLoopbackAsync(settings));
            Assert.StartsWith($"cannot reach Redis at '127.0.0.1:{nobody}' to join the cluster", refused.Message);
            Assert.DoesNotContain("abortConnect", refused.Message, StringComparison.OrdinalIgnoreCase); // the silo sets it back: advice that does nothing
            Assert.Contains("host:port[,options]", refused.Message);
        }
        var url = Settings("asd");
        url["Asd:Redis"] = $"redis://127.0.0.1:{_redis.Port}";
        var refusedUrl = await Assert.ThrowsAsync<SiloConfigurationException>(() => SiloApp.StartOnLoopbackAsync(url));
        Assert.Contains("is a URL", refusedUrl.Message);
        Assert.Contains("not a redis:// URL", refusedUrl.Message);
        // A URL's password is not repeated in the refusal, which is printed and logged.
        url["Asd:Redis"] = $"redis://asd:s3cret-pw@127.0.0.1:{_redis.Port}/0";
        var refusedSecret = await Assert.ThrowsAsync<SiloConfigurationException>(() => SiloApp.StartOnLoopbackAsync(url));
        Assert.DoesNotContain("s3cret-pw", refusedSecret.Message);
        Assert.Contains($"'redis://…@127.0.0.1:{_redis.Port}/0' is a URL", refusedSecret.Message);
        // A password may hold '@' or '/' itself: everything before the last '@' goes.
        foreach (var (url2, shown) in new[] { ("redis://:p@ss@h:1/0", "redis://…@h:1/0"), ("redis://:pa/ss@h:1", "redis://…@h:1"), ("redis://h:1/0", "redis://h:1/0") })
            Assert.Equal(shown, RedisStartupChecks.WithoutCredentials(url2));
    }

    [Fact]
    public async Task Where_says_a_silo_killed_with_kill_9_does_not_answer_and_clients_get_a_short_503_detail()
    {
        var cancellation = TestContext.Current.CancellationToken;
        // Orleans' default failure detection: the killed silo stays Active for several seconds.
        var (a, addressA) = await SiloApp.StartOnLoopbackAsync(Settings("kill"));
        using var child = await ChildSilo.Start(Settings("kill"));
        try
        {
            using var throughA = Operator(addressA);
            using var throughB = Operator(child.Address);
            var cluster = await throughA.GetFromJsonAsync<List<SiloView>>("/api/cluster", cancellation);
            string siloB = cluster!.Single(s => s.Address.Contains($":{child.SiloPort}:", StringComparison.Ordinal)).Address;
            // Created through B, in rounds until some are placed on B: placement weighs the silos' load, and under a busy
            // machine (or before B's metadata has spread) a round of 24 has all landed on A.
            var onB = new List<string>();
            for (int round = 0; round < 8 && onB.Count == 0; round++)
            {
                var machines = Enumerable.Range(0, 24).Select(m => $"kill.r{round}.m{m:00}").ToList();
                foreach (var machine in machines)
                    Assert.True((await throughB.PutAsJsonAsync($"/api/machines/{machine}", new MachineSettings(), cancellation)).IsSuccessStatusCode);
                foreach (var machine in machines)
                    if ((await throughA.GetFromJsonAsync<MachinePlacement>($"/api/cluster/machines/{machine}", cancellation))!.Silo == siloB)
                        onB.Add(machine);
            }
            Assert.NotEmpty(onB);

            child.Kill();
            // At once, all together: before the cluster declares B dead.
            var answers = await Task.WhenAll(onB.Select(async m =>
            {
                using var placement = await throughA.GetAsync($"/api/cluster/machines/{m}", cancellation);
                using var status = await throughA.GetAsync($"/api/machines/{m}", cancellation);
                return (Placement: (placement.StatusCode, Body: await placement.Content.ReadAsStringAsync(cancellation)),
                    Status: (status.StatusCode, Body: await status.Content.ReadAsStringAsync(cancellation)));
            }));
            string all = string.Join("\n", answers.Select(x => $"{x.Placement} / {x.Status}")) + "\n" + child.Log;
            // The grain directory may itself have been on B: then `where` is a 503 too, never a 200 saying plain "Active".
            var placed = answers.Where(x => x.Placement.StatusCode == HttpStatusCode.OK).Select(x => JsonDocument.Parse(x.Placement.Body).RootElement).ToList();
            Assert.True(placed.Count > 0, all);
            Assert.Contains(placed, p => p.GetProperty("siloStatus").GetString() == "Active");
            Assert.All(placed.Where(p => p.GetProperty("siloStatus").GetString() == "Active"),
                p => Assert.False(string.IsNullOrEmpty(p.GetProperty("notAnswering").GetString()), all));
            // A machine on the killed silo: 503 in the client's terms, without Orleans' stack frames.
            var refused = answers.Select(x => x.Status).Concat(answers.Select(x => x.Placement))
                .Where(x => x.StatusCode == HttpStatusCode.ServiceUnavailable).ToList();
            Assert.NotEmpty(refused);
            Assert.All(refused, r =>
            {
                string detail = JsonDocument.Parse(r.Body).RootElement.GetProperty("detail").GetString()!;
                Assert.True(detail == ApiFaults.SiloUnreachable || detail == ApiFaults.ClusterTimeout, detail);
            });
        }
        finally
        {
            await Stop(a);
        }
    }

    private static HttpClient Operator(Uri address)
    {
        var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Add("X-Api-Key", "op");
        return http;
    }

    /// <summary>A silo in a child process (<see cref="SiloChildHost"/>), so that the test can kill -9 it.</summary>
    private sealed class ChildSilo(Process process, int siloPort, ConcurrentQueue<string> log) : IDisposable
    {
        public Uri Address { get; private set; } = null!;
        public int SiloPort { get; } = siloPort;
        public string Log => string.Join('\n', log);

        public static async Task<ChildSilo> Start(Dictionary<string, string?> settings)
        {
            int siloPort = SiloApp.FreeLoopbackPort();
            settings["Asd:SiloPort"] = siloPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
            settings["Logging:LogLevel:Default"] = "Warning";
            var (process, log, ready) = SiloChildHost.Launch(settings);
            var silo = new ChildSilo(process, siloPort, log);
            if (await Task.WhenAny(ready, Task.Delay(TimeSpan.FromSeconds(90))) != ready)
            {
                silo.Dispose();
                Assert.Fail($"the child silo did not start: {string.Join('\n', log)}");
            }
            silo.Address = ready.Result;
            return silo;
        }

        public void Kill()
        {
            process.Kill(); // SIGKILL: no shutdown, no leaving the cluster
            process.WaitForExit();
        }

        public void Dispose()
        {
            if (!process.HasExited) process.Kill();
            process.WaitForExit();
            process.Dispose();
        }
    }
}
