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
/// A real redis-server that answers but refuses the silo (full, a read-only replica, a foreign key of another type,
/// credentials refused, also a password changed under a running silo, an ACL user without the rights): a starting silo
/// names the refusal in one line; a running one
/// answers API clients 503 with a detail naming it and no Retry-After (no retry helps until an operator acts), and logs it
/// at error level once, not once per request; /readyz, which proves a write, is 503 naming it until it is fixed.
/// </summary>
public sealed class RedisRefusalTests : IAsyncLifetime
{
    private const string Key = "refusal-operator";
    private const string LabellerKey = "refusal-labeller";
    /// <summary>The password of the ACL user "asd" the tests below create.</summary>
    private const string AclPassword = "acl-secret";
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-refusal-").FullName;
    private readonly List<RedisServer> _servers = [];
    private readonly List<WebApplication> _silos = [];
    private RedisServer _redis = null!;

    public async ValueTask InitializeAsync() => _redis = await StartRedis();

    public async ValueTask DisposeAsync()
    {
        // A silo stops in seconds on a Redis that takes writes again, in a minute on one that refuses them.
        foreach (var server in _servers)
        {
            try
            {
                using var admin = await Admin(server);
                await admin.GetServers()[0].ExecuteAsync("REPLICAOF", "NO", "ONE");
                await admin.GetServers()[0].ExecuteAsync("CONFIG", "SET", "maxmemory", "0");
            }
            catch (RedisException) { } // a Redis with a password: no silo ran on it
        }
        foreach (var silo in _silos)
        {
            await silo.StopAsync();
            await silo.DisposeAsync();
        }
        foreach (var server in _servers) await server.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<RedisServer> StartRedis()
    {
        var server = await RedisServer.StartAsync(Directory.CreateDirectory(Path.Combine(_dir, "redis-" + _servers.Count)).FullName);
        _servers.Add(server);
        return server;
    }

    private Dictionary<string, string?> Settings(string connection) => new()
    {
        ["Asd:Redis"] = connection,
        ["Asd:ClusterId"] = "refusal",
        ["Asd:DataDirectory"] = Path.Combine(_dir, "data"),
        ["Asd:ApiKeys:Operator:0"] = Key,
        ["Asd:ApiKeys:Labeller:0"] = LabellerKey,
    };

    /// <summary>Creates (or changes) the ACL user "asd" on <see cref="_redis"/> with <paramref name="rules"/>; its connection string.</summary>
    private async Task<string> AclUser(string rules)
    {
        using var admin = await Admin(_redis);
        await admin.GetServers()[0].ExecuteAsync("ACL", ["SETUSER", "asd", "reset", "on", ">" + AclPassword, .. rules.Split(' ')]);
        return _redis.Connection + $",user=asd,password={AclPassword}";
    }

    /// <summary>A silo on <see cref="_redis"/>, its log at warning and above, and a client with the operator key.</summary>
    private async Task<(HttpClient Http, ConcurrentQueue<(LogLevel Level, string Message)> Log)> StartSilo(string? connection = null)
    {
        var (app, address) = await SiloApp.StartOnLoopbackAsync(Settings(connection ?? _redis.Connection));
        _silos.Add(app);
        var log = new ConcurrentQueue<(LogLevel, string)>();
        app.Services.GetRequiredService<ILoggerFactory>().AddProvider(new WarningLogProvider(log));
        var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Add("X-Api-Key", Key);
        return (http, log);
    }

    /// <summary>A failover: a replica of the silo's Redis syncs and takes over, and the silo's Redis becomes its replica;
    /// returns an admin connection to the silo's (now read-only) Redis.</summary>
    private async Task<ConnectionMultiplexer> FailOver()
    {
        var promoted = await StartRedis();
        var oldPrimary = await Admin(_redis);
        using var newPrimary = await Admin(promoted);
        await newPrimary.GetServers()[0].ExecuteAsync("REPLICAOF", "127.0.0.1", _redis.Port.ToString());
        await Waiting.Until(async () => (await newPrimary.GetServers()[0].InfoRawAsync("replication"))!.Contains("master_link_status:up"), "the replica has synced");
        await newPrimary.GetServers()[0].ExecuteAsync("REPLICAOF", "NO", "ONE");
        await oldPrimary.GetServers()[0].ExecuteAsync("REPLICAOF", "127.0.0.1", promoted.Port.ToString());
        return oldPrimary;
    }

    private static async Task<ConnectionMultiplexer> Admin(RedisServer server)
        => await ConnectionMultiplexer.ConnectAsync(server.Connection + ",allowAdmin=true");

    private static Task<HttpResponseMessage> Configure(HttpClient http, string machine, double budget)
        => http.PutAsJsonAsync($"/api/machines/{machine}", new MachineSettings { Strategy = "random", Budget = budget, Seed = 1 });

    /// <summary>A 503 whose detail is <paramref name="detail"/>, without Retry-After, and with nothing of the cause in it.</summary>
    private static async Task ExpectRefused(HttpResponseMessage response, string detail)
    {
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{(int)response.StatusCode}: {body}");
        Assert.Equal(detail, JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString());
        Assert.Null(response.Headers.RetryAfter);
        Assert.DoesNotContain("127.0.0.1", body);
        Assert.DoesNotContain("   at ", body);
    }

    /// <summary>/readyz's status code and the description of its Redis check.</summary>
    private static async Task<(HttpStatusCode Status, string? Redis)> Readiness(HttpClient http)
    {
        var response = await http.GetAsync("/readyz");
        var redis = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("checks").GetProperty("redis");
        return (response.StatusCode, redis.GetProperty("description").GetString());
    }

    /// <summary>Waits until /readyz is 503 with a Redis check naming <paramref name="refusal"/>, then until it is 200
    /// once <paramref name="fix"/> has run.</summary>
    private static async Task ExpectNotReadyUntilFixed(HttpClient http, RedisRefusal refusal, Func<Task> fix)
    {
        string expected = "Redis " + refusal.Problem;
        await Waiting.Until(async () => await Readiness(http) is (HttpStatusCode.ServiceUnavailable, { } said) && said.StartsWith(expected, StringComparison.Ordinal),
            $"/readyz is 503 saying '{expected}' (last: {await Readiness(http)})");
        await fix();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        for (var response = await http.GetAsync("/readyz"); response.StatusCode != HttpStatusCode.OK; response = await http.GetAsync("/readyz"))
        {
            Assert.True(DateTime.UtcNow < deadline, "/readyz is not 200 again: " + await response.Content.ReadAsStringAsync());
            await Task.Delay(100);
        }
    }

    private static void ExpectLoggedOnce(ConcurrentQueue<(LogLevel Level, string Message)> log, RedisRefusal refusal)
    {
        var errors = log.Where(e => e.Level >= LogLevel.Error && e.Message.Contains(refusal.Problem, StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 1, $"{errors.Count} error(s) naming '{refusal.Kind}':\n" + string.Join('\n', log.Select(e => $"{e.Level}: {e.Message}")));
    }

    [Fact]
    public async Task A_redis_made_not_durable_under_a_running_silo_stops_its_writes_until_it_is_durable_again()
    {
        var (http, log) = await StartSilo();
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "durable.m1", 0.5)).StatusCode);
        using var admin = await Admin(_redis);
        var server = admin.GetServers()[0];
        await server.ExecuteAsync("CONFIG", "SET", "appendonly", "no"); // an operator's change, or a restart from a redis.conf without it

        await Waiting.Until(async () => (await http.GetAsync("/readyz")).StatusCode == HttpStatusCode.ServiceUnavailable, "/readyz is 503");
        var ready = JsonDocument.Parse(await (await http.GetAsync("/readyz")).Content.ReadAsStringAsync()).RootElement;
        Assert.StartsWith($"Redis at '127.0.0.1:{_redis.Port}' has appendonly no and appendfsync always",
            ready.GetProperty("checks").GetProperty("redis-durability").GetProperty("description").GetString());
        await ExpectRefused(await Configure(http, "durable.m1", 0.1), RedisDurabilityWatch.ClientDetail);
        var status = await http.GetFromJsonAsync<JsonElement>("/api/machines/durable.m1"); // reads still work, and nothing changed
        Assert.Equal(0.5, status.GetProperty("settings").GetProperty("budget").GetDouble());
        Assert.Single(log, e => e.Level >= LogLevel.Error && e.Message.StartsWith("refusing writes: ", StringComparison.Ordinal)); // once, not per request
        // The .NET client's path (grain calls, which the HTTP gate never sees) is refused too, before the method runs
        // (before stop 57 it took writes that a crash of Redis would lose); its reads are answered.
        var grain = _silos[0].Services.GetRequiredService<IClusterClient>().GetGrain<IMachineGrain>("durable.m1");
        var refused = await Assert.ThrowsAsync<ClusterStoreNotDurableException>(() => grain.Configure(new MachineSettings { Strategy = "random", Budget = 0.2, Seed = 1 }));
        Assert.Contains("would not keep them through a crash of Redis", refused.Message);
        Assert.Equal(0.5, (await grain.GetStatus()).Settings.Budget);
        // A spreading round's first step lets no machine go: leaving, a machine flushes what it had not written, into a
        // Redis that would not keep it (stop 58). An operator's round is refused at the gate like any write.
        var silo = _silos[0].Services;
        var shed = (await silo.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0).SendControlCommandToProvider<MachineSpreader>(
                MachineSpreader.ProviderName, MachineSpreader.ShedCommand,
                new SpreadOrder([new SpreadMove(silo.GetRequiredService<ILocalSiloDetails>().SiloAddress, SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 1), 1), 1)], 100)))
            .OfType<SpreadShed>().Single();
        Assert.True(shed.Asked == 1 && shed.Left.Count == 0 && shed.Refused == "its Redis store takes no writes now (see its log or /readyz)", JsonSerializer.Serialize(shed));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.PostAsync("/api/cluster/spread", null)).StatusCode);

        await server.ExecuteAsync("CONFIG", "SET", "appendonly", "yes");
        await Waiting.Until(async () => (await Configure(http, "durable.m1", 0.1)).StatusCode == HttpStatusCode.OK, "writes are taken again");
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/readyz")).StatusCode);
    }

    [Fact]
    public async Task A_full_redis_answers_503_saying_so_and_changes_nothing()
    {
        var (http, log) = await StartSilo();
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "full.m1", 0.5)).StatusCode);
        using var admin = await Admin(_redis);
        var server = admin.GetServers()[0];
        await admin.GetDatabase().StringSetAsync("filler", new string('x', 2 << 20)); // over the maxmemory set next
        await server.ExecuteAsync("CONFIG", "SET", "maxmemory-policy", "noeviction");
        await server.ExecuteAsync("CONFIG", "SET", "maxmemory", "1mb");

        for (int i = 0; i < 3; i++) // the first write fails; the next calls meet the activation reloading or a new one failing
        {
            var refused = await Configure(http, "full.m1", 0.1);
            if (i > 0 && refused.StatusCode == HttpStatusCode.ServiceUnavailable && refused.Headers.RetryAfter is not null)
                continue; // "reloading its state after a failed write; retry"
            await ExpectRefused(refused, RedisRefusals.OutOfMemory.ClientDetail);
        }
        ExpectLoggedOnce(log, RedisRefusals.OutOfMemory);
        var status = await http.GetFromJsonAsync<JsonElement>("/api/machines/full.m1"); // reads still work
        Assert.Equal(0.5, status.GetProperty("settings").GetProperty("budget").GetDouble());

        await server.ExecuteAsync("CONFIG", "SET", "maxmemory", "0");
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "full.m1", 0.1)).StatusCode);
    }

    [Fact]
    public async Task A_redis_demoted_to_a_replica_by_a_failover_answers_503_saying_so()
    {
        var (http, log) = await StartSilo();
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "failover.m1", 0.5)).StatusCode);
        // A failover: a replica of the silo's Redis takes over, and the silo's Redis becomes its replica.
        using var oldPrimary = await FailOver();

        var refused = await Configure(http, "failover.m1", 0.1);
        await ExpectRefused(refused, RedisRefusals.ReadOnlyReplica.ClientDetail);
        await ExpectRefused(await Configure(http, "failover.m2", 0.1), RedisRefusals.ReadOnlyReplica.ClientDetail);
        ExpectLoggedOnce(log, RedisRefusals.ReadOnlyReplica);
    }

    [Fact]
    public async Task A_foreign_key_of_another_type_where_a_machine_is_stored_answers_503_saying_so()
    {
        var (http, log) = await StartSilo();
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "foreign.m1", 0.5)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "foreign.ok", 0.5)).StatusCode);
        using var admin = await Admin(_redis);
        var stored = admin.GetServers()[0].Keys(pattern: "*foreign.m1*").Single(k => !k.ToString().Contains("journal", StringComparison.Ordinal)); // the state, not its journal
        await admin.GetDatabase().KeyDeleteAsync(stored);
        await admin.GetDatabase().StringSetAsync(stored, "another application's value");

        await ExpectRefused(await Configure(http, "foreign.m1", 0.1), RedisRefusals.WrongType.ClientDetail);
        // The discarded activation reloads: the read meets the foreign value too.
        await Waiting.Until(async () => (await http.GetAsync("/api/machines/foreign.m1")).Headers.RetryAfter is null, "the activation has reloaded");
        await ExpectRefused(await http.GetAsync("/api/machines/foreign.m1"), RedisRefusals.WrongType.ClientDetail);
        ExpectLoggedOnce(log, RedisRefusals.WrongType);
        // One key's problem: a page of machines names that machine and lists the others.
        using var page = await http.GetAsync("/api/machines");
        string body = await page.Content.ReadAsStringAsync();
        Assert.True(page.StatusCode == HttpStatusCode.OK, body);
        var listed = JsonDocument.Parse(body).RootElement;
        Assert.Equal(["foreign.m1", "foreign.ok"], listed.EnumerateArray().Select(m => m.GetProperty("machineId").GetString()!).ToArray());
        Assert.True(listed[0].TryGetProperty("unreadable", out _), body);
        Assert.False(listed[1].TryGetProperty("unreadable", out _), body);
    }

    [Fact]
    public async Task A_machine_whose_stored_state_does_not_decode_is_listed_as_unreadable_and_the_others_are_listed()
    {
        var (http, _) = await StartSilo();
        foreach (var machine in new[] { "damaged.a", "damaged.b", "damaged.c" })
            Assert.Equal(HttpStatusCode.OK, (await Configure(http, machine, 0.5)).StatusCode);
        await _silos[^1].Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        using (var admin = await Admin(_redis))
        {
            var stored = admin.GetServers()[0].Keys(pattern: "*damaged.b*").Single(k => !k.ToString().Contains("journal", StringComparison.Ordinal)); // the state, not its journal
            await admin.GetDatabase().HashSetAsync(stored, "data", Enumerable.Repeat((byte)0xEE, 64).ToArray());
        }

        // A value the deserializer refuses is that machine's problem, not Redis's: the page lists all three.
        using var page = await http.GetAsync("/api/machines");
        string body = await page.Content.ReadAsStringAsync();
        Assert.True(page.StatusCode == HttpStatusCode.OK, body);
        var listed = JsonDocument.Parse(body).RootElement;
        Assert.Equal(["damaged.a", "damaged.b", "damaged.c"], listed.EnumerateArray().Select(m => m.GetProperty("machineId").GetString()!).ToArray());
        Assert.Equal(AsdOrleans.Application.MachineUseCases.UnreadableReason, listed[1].GetProperty("unreadable").GetString());
        Assert.False(listed[0].TryGetProperty("unreadable", out _));
        using var one = await http.GetAsync("/api/machines/damaged.b");
        Assert.Equal(HttpStatusCode.InternalServerError, one.StatusCode);
        Assert.Contains("machine 'damaged.b' cannot be read", await one.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_starting_silo_names_refused_credentials_without_echoing_the_password()
    {
        using (var admin = await Admin(_redis))
            await admin.GetServers()[0].ExecuteAsync("CONFIG", "SET", "requirepass", "the-real-secret");
        foreach (var connection in new[] { _redis.Connection, _redis.Connection + ",password=a-wrong-secret" })
        {
            var refused = await Assert.ThrowsAsync<SiloConfigurationException>(() => SiloApp.StartOnLoopbackAsync(Settings(connection)));
            Assert.Equal($"Redis at '127.0.0.1:{_redis.Port}' {RedisRefusals.CredentialsRefused.Problem}", refused.Message);
            Assert.DoesNotContain("secret", refused.Message);
        }
    }

    [Fact]
    public async Task A_starting_silo_names_a_replica_and_a_full_redis()
    {
        var replica = await StartRedis();
        using (var admin = await Admin(replica))
            await admin.GetServers()[0].ExecuteAsync("REPLICAOF", "127.0.0.1", _redis.Port.ToString());
        var refused = await Assert.ThrowsAsync<SiloConfigurationException>(() => SiloApp.StartOnLoopbackAsync(Settings(replica.Connection)));
        Assert.Equal($"Redis at '127.0.0.1:{replica.Port}' {RedisRefusals.ReadOnlyReplica.Problem}; its primary is 127.0.0.1:{_redis.Port}", refused.Message);

        using (var admin = await Admin(_redis))
        {
            await admin.GetDatabase().StringSetAsync("filler", new string('x', 2 << 20));
            await admin.GetServers()[0].ExecuteAsync("CONFIG", "SET", "maxmemory", "1mb");
        }
        refused = await Assert.ThrowsAsync<SiloConfigurationException>(() => SiloApp.StartOnLoopbackAsync(Settings(_redis.Connection)));
        Assert.Equal($"Redis at '127.0.0.1:{_redis.Port}' {RedisRefusals.OutOfMemory.Problem}", refused.Message);
    }

    [Fact]
    public async Task Readyz_is_503_naming_a_full_redis_and_200_once_it_has_room()
    {
        var (http, _) = await StartSilo();
        Assert.Equal(HttpStatusCode.OK, (await Readiness(http)).Status);
        using var admin = await Admin(_redis);
        var server = admin.GetServers()[0];
        await admin.GetDatabase().StringSetAsync("filler", new string('x', 2 << 20));
        await server.ExecuteAsync("CONFIG", "SET", "maxmemory-policy", "noeviction");
        await server.ExecuteAsync("CONFIG", "SET", "maxmemory", "1mb");

        await ExpectNotReadyUntilFixed(http, RedisRefusals.OutOfMemory, () => server.ExecuteAsync("CONFIG", "SET", "maxmemory", "0"));
    }

    [Fact]
    public async Task Readyz_is_503_naming_a_redis_demoted_by_a_failover_and_200_once_it_is_primary_again()
    {
        var (http, _) = await StartSilo();
        Assert.Equal(HttpStatusCode.OK, (await Readiness(http)).Status);
        using var oldPrimary = await FailOver();

        await ExpectNotReadyUntilFixed(http, RedisRefusals.ReadOnlyReplica, () => oldPrimary.GetServers()[0].ExecuteAsync("REPLICAOF", "NO", "ONE"));
    }

    [Fact]
    public async Task Readyz_proves_a_write_at_most_once_in_a_few_seconds_however_often_it_is_asked()
    {
        var (http, _) = await StartSilo();
        using var admin = await Admin(_redis);
        async Task<long> Writes() => RedisCommandCalls(await admin.GetServers()[0].InfoRawAsync("commandstats"), "set", "setex");
        long before = await Writes();
        var asking = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await Readiness(http)).Status);
            await Task.Delay(100);
        }
        long proofs = await Writes() - before;
        long allowed = 1 + (long)(asking.Elapsed / SiloHealthChecks.RedisWriteProofLifetime);
        Assert.True(proofs >= 1 && proofs <= allowed, $"{proofs} probe write(s) for 20 readiness checks in {asking.Elapsed.TotalSeconds:0.0} s; at most {allowed}");
    }

    /// <summary>The calls of <paramref name="commands"/> in Redis's INFO commandstats ("cmdstat_set:calls=3,…").</summary>
    private static long RedisCommandCalls(string? commandStats, params string[] commands) => (commandStats ?? "").Split('\n')
        .Select(line => System.Text.RegularExpressions.Regex.Match(line, @"^cmdstat_(?<command>[a-z|]+):calls=(?<calls>\d+)"))
        .Where(m => m.Success && commands.Contains(m.Groups["command"].Value))
        .Sum(m => long.Parse(m.Groups["calls"].Value));

    [Fact]
    public async Task A_starting_silo_names_an_acl_user_without_the_rights_it_needs()
    {
        string endpoint = $"127.0.0.1:{_redis.Port}";
        foreach (string rules in new[] { "~* +@all -@write", "~another-service/* +@all" }) // no writes; none of the service's keys
        {
            string connection = await AclUser(rules);
            var refused = await Assert.ThrowsAsync<SiloConfigurationException>(() => SiloApp.StartOnLoopbackAsync(Settings(connection)));
            Assert.StartsWith($"Redis at '{endpoint}' {RedisRefusals.NoPermission.Problem} (Redis: NOPERM ", refused.Message);
            Assert.DoesNotContain(AclPassword, refused.Message);
        }
        // The documented rights without CONFIG GET: only the durability check needs it.
        string withoutConfigGet = await AclUser($"~asd-orleans/* {RedisRefusals.SiloAclCommands.Replace(" +config|get", "")}");
        var durability = await Assert.ThrowsAsync<SiloConfigurationException>(() => SiloApp.StartOnLoopbackAsync(Settings(withoutConfigGet)));
        Assert.Contains("grant the silo's ACL user +config|get", durability.Message);
    }

    [Fact]
    public async Task A_silo_runs_as_an_acl_user_with_the_documented_rights()
    {
        var (http, log) = await StartSilo(await AclUser($"~asd-orleans/* {RedisRefusals.SiloAclCommands}"));
        const string machine = "acl.m1";
        var random = new Random(3);
        float[] Vector() => Enumerable.Range(0, 16).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, machine, 1.0)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsJsonAsync($"/api/machines/{machine}/enrollment",
            new EnrollmentRequest(Enumerable.Range(0, 30).Select(i => new EnrollmentClip(Vector(), i % 10 == 0)).ToList(), "enc-acl"))).StatusCode);
        // This silo has no encoder: the embedded clip goes in as the ingest endpoint would send it.
        var grain = _silos[0].Services.GetRequiredService<IClusterClient>().GetGrain<IMachineGrain>(machine);
        for (int i = 0; i < 5; i++) await grain.ProcessClip(new ClipSubmission($"clip-{i}", Vector(), "enc-acl"));
        var pending = await grain.GetPendingLabelRequests(10);
        Assert.NotEmpty(pending); // each has a reminder (expiry) in Redis
        using var labeller = new HttpClient { BaseAddress = http.BaseAddress };
        labeller.DefaultRequestHeaders.Add("X-Api-Key", LabellerKey);
        var labelled = await labeller.PostAsJsonAsync($"/api/machines/{machine}/clips/{pending[0].ClipId}/label", new { label = "normal" });
        Assert.True(labelled.StatusCode == HttpStatusCode.OK, await labelled.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await Readiness(http)).Status);
        using (var admin = await Admin(_redis))
        {
            var denied = (RedisResult[])(await admin.GetServers()[0].ExecuteAsync("ACL", "LOG"))!;
            // StackExchange.Redis's optional handshake (CLUSTER NODES, its tie-break key, SUBSCRIBE) may be denied; nothing else.
            var others = denied.Select(entry => ((RedisResult[])entry!).Select(x => x.ToString()).ToList())
                .Select(fields => fields[fields.IndexOf("object") + 1])
                .Where(what => what is not ("cluster|nodes" or "__Booksleeve_TieBreak" or "subscribe")).ToList();
            Assert.True(others.Count == 0, "refused the documented user: " + string.Join(", ", others));
        }
        Assert.DoesNotContain(log, e => e.Level >= LogLevel.Error);
    }

    [Fact]
    public async Task A_running_silo_whose_acl_user_loses_write_rights_answers_503_and_is_not_ready_saying_so()
    {
        string rights = $"~asd-orleans/* {RedisRefusals.SiloAclCommands}";
        var (http, log) = await StartSilo(await AclUser(rights));
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "perm.m1", 0.5)).StatusCode);
        await AclUser(rights + " -@write"); // ACL changes apply to the silo's open connections

        await ExpectRefused(await Configure(http, "perm.m2", 0.1), RedisRefusals.NoPermission.ClientDetail);
        ExpectLoggedOnce(log, RedisRefusals.NoPermission);
        await ExpectNotReadyUntilFixed(http, RedisRefusals.NoPermission, () => AclUser(rights));
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "perm.m2", 0.1)).StatusCode);
    }

    /// <summary>A password changed under a running silo. Its open connections stay authenticated; the change shows when
    /// they drop (a Redis restart, a network fault; here CLIENT KILL) and StackExchange.Redis reconnects with the old
    /// password, which it reports as no connection available. The silo names the refusal, and takes writes again without
    /// a restart once the password is restored.</summary>
    [Theory]
    [InlineData("requirepass")]
    [InlineData("acl user")]
    public async Task A_password_changed_under_a_running_silo_is_named_and_the_silo_recovers_once_it_is_restored(string whose)
    {
        const string first = "the-first-secret", changed = "the-changed-secret";
        string connection = whose == "acl user" ? await AclUser($"~asd-orleans/* {RedisRefusals.SiloAclCommands}") : _redis.Connection + $",password={first}";
        using var admin = await Admin(_redis); // stays authenticated as the default user through the changes below
        var server = admin.GetServers()[0];
        await server.ExecuteAsync("CONFIG", "SET", "requirepass", first); // an ACL user refused does not fall back to the default user
        var (http, log) = await StartSilo(connection);
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "creds.m1", 0.5)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Readiness(http)).Status);

        Task ChangePassword(string password) => whose == "acl user"
            ? server.ExecuteAsync("ACL", "SETUSER", "asd", "resetpass", ">" + password)
            : server.ExecuteAsync("CONFIG", "SET", "requirepass", password);
        await ChangePassword(changed);
        await server.ExecuteAsync("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");

        await ExpectRefused(await Configure(http, "creds.m1", 0.1), RedisRefusals.CredentialsRefused.ClientDetail);
        await ExpectRefused(await Configure(http, "creds.m2", 0.1), RedisRefusals.CredentialsRefused.ClientDetail);
        ExpectLoggedOnce(log, RedisRefusals.CredentialsRefused);
        var restored = System.Diagnostics.Stopwatch.StartNew();
        await ExpectNotReadyUntilFixed(http, RedisRefusals.CredentialsRefused, async () => { await ChangePassword(whose == "acl user" ? AclPassword : first); restored.Restart(); });
        // Orleans' own connections reconnect too: the refused change goes through once the activation has reloaded.
        await Waiting.Until(async () => (await Configure(http, "creds.m1", 0.1)).StatusCode == HttpStatusCode.OK, "a settings change is taken again");
        Assert.Equal(0.1, (await http.GetFromJsonAsync<JsonElement>("/api/machines/creds.m1")).GetProperty("settings").GetProperty("budget").GetDouble());
        TestContext.Current.TestOutputHelper?.WriteLine($"{whose}: writes taken again {restored.Elapsed.TotalSeconds:0.0} s after the password was restored");
        Assert.DoesNotContain(log, e => e.Message.Contains("secret", StringComparison.Ordinal));
        await server.ExecuteAsync("CONFIG", "SET", "requirepass", ""); // the fixture's admin connections have no password
    }
}
