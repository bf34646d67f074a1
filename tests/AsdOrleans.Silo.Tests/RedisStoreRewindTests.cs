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
/// A Redis restored from an older copy of its data (a backup's AOF/RDB files, a replica that lagged) kept the store
/// marker, so before stop 57 nothing was reported and every label acknowledged after the copy was gone without a word,
/// while grains active through it held newer state than the store. Real redis-servers and silos: the copy is the Redis
/// folder as a crash left it, taken while the silo runs; Redis is then restarted from it on the same port. The store
/// clock (<see cref="RedisStoreClock"/>) tells it to a silo running through it and to one starting after it; accepting
/// the loss or restoring the newer data ends it; a Redis restart that kept its data, a restored (older) data directory
/// and many silos advancing the clock together raise nothing.
/// </summary>
public sealed class RedisStoreRewindTests() : RedisStoreSiloTests("rewind")
{
    private const string OlderCopy = "holds an older copy of the cluster's stored state";
    private string ClockFile => Path.Combine(DataDirectory, RedisStoreClock.FileName(Service));

    /// <summary>
    /// The copy: Redis killed (a crash; its append-only file has every acknowledged write), its folder copied to
    /// <paramref name="copy"/>, and Redis started again on its own folder and port. Returns the store clock as read just
    /// before (at most one look of a running silo slips in between the read and the kill).
    /// </summary>
    private async Task<long> TakeCopy(string copy)
    {
        long before;
        using (var admin = await Admin(_redis))
            before = (long)await admin.GetDatabase().HashGetAsync(RedisStoreClock.ClockKey(Service), "tick");
        int port = _redis.Port;
        await _redis.DisposeAsync();
        CopyFolder(Path.Combine(_dir, "redis"), Path.Combine(_dir, copy));
        _redis = await StartRedis("redis", port);
        return before;
    }

    /// <summary>Until the data directory remembers a store clock above the copy's (a silo's watch has looked since), so the
    /// copy is older than what the silos saw, as a backup taken before the latest writes is.</summary>
    private Task PastTheCopy(long copied)
        => Waiting.Until(() => RedisStoreClock.ReadFile(ClockFile) is { } clock && clock.Tick >= copied + 2,
            $"the data directory remembers a store clock past the copy's ({copied})");

    /// <summary>Redis killed and started from <paramref name="folder"/> on the same port (the operator's restore, or a failover).</summary>
    private async Task RestartRedisFrom(string folder)
    {
        int port = _redis.Port;
        await _redis.DisposeAsync();
        _redis = await StartRedis(folder, port);
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    private static Task<string> ExpectReported(HttpClient http) => ExpectLossReported(http, OlderCopy);

    [Fact]
    public async Task A_redis_restored_from_an_older_copy_under_a_running_silo_is_reported_and_accepting_the_loss_clears_it_with_no_version_conflict()
    {
        var (http, log, app) = await StartSilo();
        await ConfigureAndEnroll(http, "rewind.m1");
        await ClipAndLabel(app, "rewind.m1", "in-the-copy");
        await PastTheCopy(await TakeCopy("copy"));
        // Acknowledged after the copy was taken: a label, and a machine configured.
        await ClipAndLabel(app, "rewind.m1", "after-the-copy");
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "rewind.m2", 0.5)).StatusCode);
        await ExpectState(http, "rewind.m1", clips: 2, normalLabels: 2);
        Assert.Empty(Errors(log)); // taking the copy (a Redis restart that kept its data) raised nothing
        string store = File.ReadAllText(MarkerFile);

        await RestartRedisFrom("copy");

        string said = await ExpectReported(http);
        Assert.Contains($"Redis at '127.0.0.1:{_redis.Port}' {OlderCopy} (store {store} of service '{Service}')", said);
        Assert.Contains("Redis went back about ", said);
        Assert.Contains("restored from an older backup", said);
        Assert.Contains("every label", said);
        Assert.Contains($"POST /api/cluster/store/accept-loss {{\"lost\":\"{store}\"}}", said);
        Assert.Contains("Redis restarted while this silo ran (its run id changed)", said);
        await ExpectWritesRefused(http);
        // The .NET client's path (grain calls) is refused too, before the method runs.
        var grain = app.Services.GetRequiredService<IGrainFactory>().GetGrain<IMachineGrain>("rewind.m1");
        await Assert.ThrowsAsync<ClusterStoreLostException>(() => grain.SubmitLabel("in-the-copy", ClipLabelValue.Anomalous, "ann"));
        await Task.Delay(RedisStoreWatch.Period * 2); // the watch has looked again: still reported, once, and the older copy's clock not advanced past it
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await Readiness(http)).Status);
        Assert.Single(Errors(log));

        Assert.Equal(HttpStatusCode.Conflict, (await Accept(http, "0123456789abcdef0123456789abcdef")).StatusCode);
        var accepted = await Accept(http, store);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        var record = await accepted.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(store, record.GetProperty("lost").GetString());
        string renewed = record.GetProperty("store").GetString()!;
        Assert.NotEqual(store, renewed);
        Assert.True(record.GetProperty("droppedActivations").GetInt32() > 0);
        Assert.StartsWith("Redis held an older copy: its store clock read ", record.GetProperty("olderCopy").GetString()); // the answer says what was accepted
        int since = log.Count;
        await ExpectReady(http);
        Assert.Equal(renewed, File.ReadAllText(MarkerFile));
        using (var admin = await Admin(_redis))
        {
            var db = admin.GetDatabase();
            Assert.Equal(renewed, (string?)await db.StringGetAsync(RedisStoreIdentity.MarkerKey(Service)));
            var recorded = Assert.Single(await RedisStoreIdentity.RecordedLossesAsync(db, Service));
            Assert.Equal((store, renewed), (recorded.Lost, recorded.Store));
            Assert.StartsWith("Redis held an older copy", recorded.OlderCopy);
            Assert.False(await db.KeyExistsAsync(RedisStoreClock.RewoundKey(Service)));
        }
        Assert.Contains("Redis held an older copy", File.ReadAllText(Path.Combine(DataDirectory, RedisStoreIdentity.LossLog)));
        Assert.Contains(log, e => e.Level == LogLevel.Warning && e.Message.Contains($"an older copy of the cluster's store {store} lacks was accepted", StringComparison.Ordinal));

        // The machine as the copy has it, reloaded: its next label is taken at once (no version conflict) and adds to the
        // copy's state only (1 + 1), not to the newer state the activation held (2 + 1). The machine configured after the
        // copy is gone with it.
        await ClipAndLabel(app, "rewind.m1", "after-acceptance");
        await ExpectState(http, "rewind.m1", clips: 2, normalLabels: 2);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/api/machines/rewind.m2")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "rewind.m2", 0.4)).StatusCode);
        await Task.Delay(RedisStoreWatch.Period * 2);
        Assert.Empty(Conflicts(log.Skip(since)));
        Assert.Equal((HttpStatusCode.OK, null), await Readiness(http));
        Assert.Single(Errors(log));
    }

    [Fact]
    public async Task A_silo_starting_on_an_older_copy_reports_it_from_its_data_directory_until_the_loss_is_accepted()
    {
        // The copy is taken while no silo runs, so that its membership table lists none as active: a silo starting on it
        // would first spend a minute and a half declaring one dead.
        var (http, _, app) = await StartSilo();
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "rewind.m1", 0.5)).StatusCode);
        await StopSilo(app);
        long copied = await TakeCopy("copy");
        (http, _, app) = await StartSilo();
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "rewind.m1", 0.3)).StatusCode); // after the copy
        await PastTheCopy(copied);
        await StopSilo(app);
        string store = File.ReadAllText(MarkerFile);
        await RestartRedisFrom("copy");

        (http, _, _) = await StartSilo();
        string said = await ExpectReported(http);
        Assert.Contains($"while the data directory ({ClockFile}) saw it at", said);
        Assert.DoesNotContain("Seen while this silo ran", said);
        await ExpectWritesRefused(http);
        Assert.Equal(0.5, (await http.GetFromJsonAsync<JsonElement>("/api/machines/rewind.m1")).GetProperty("settings").GetProperty("budget").GetDouble());

        Assert.Equal(HttpStatusCode.OK, (await Accept(http, store)).StatusCode);
        await ExpectReady(http);
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "rewind.m1", 0.2)).StatusCode);
    }

    [Fact]
    public async Task A_silo_running_through_an_older_copy_goes_on_by_itself_once_the_newer_data_is_restored()
    {
        var (http, log, _) = await StartSilo();
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "rewind.m1", 0.5)).StatusCode);
        await PastTheCopy(await TakeCopy("copy"));
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "rewind.m1", 0.3)).StatusCode); // after the copy

        await RestartRedisFrom("copy");
        await ExpectReported(http);
        await ExpectWritesRefused(http);

        // The operator restores Redis from the newer data (here: its own folder again), which lacks the older copy's record.
        await RestartRedisFrom("redis");
        await ExpectReady(http);
        Assert.Equal(0.3, (await http.GetFromJsonAsync<JsonElement>("/api/machines/rewind.m1")).GetProperty("settings").GetProperty("budget").GetDouble());
        Assert.Single(Errors(log));
        Assert.Contains(log, e => e.Message.StartsWith("dropped the ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_fresh_cluster_a_redis_restart_that_kept_its_data_and_a_restored_older_data_directory_raise_nothing()
    {
        var (http, log, app) = await StartSilo();
        Assert.Equal((HttpStatusCode.OK, null), await Readiness(http));
        string store = File.ReadAllText(MarkerFile);
        var first = RedisStoreClock.ReadFile(ClockFile);
        Assert.Equal(store, first?.Store);
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "rewind.m1", 0.5)).StatusCode);

        await RestartRedisFrom("redis"); // a crash: the append-only file has every acknowledged write, the clock's ticks too
        await Waiting.Until(async () => (await Configure(http, "rewind.m1", 0.4)).StatusCode == HttpStatusCode.OK, "writes are taken after Redis's restart");
        await Waiting.Until(() => RedisStoreClock.ReadFile(ClockFile)!.Tick >= first!.Tick + 2, "the watch goes on advancing the store clock");
        Assert.Equal((HttpStatusCode.OK, null), await Readiness(http));
        Assert.Empty(Errors(log));

        // The data directory restored from an older backup of its own: it remembers an older clock, which Redis is past.
        await StopSilo(app);
        File.WriteAllText(ClockFile, $"{store} {first!.Tick} {first.At:O}");
        (http, log, _) = await StartSilo();
        Assert.Equal((HttpStatusCode.OK, null), await Readiness(http));
        await Task.Delay(RedisStoreWatch.Period * 2);
        Assert.Equal((HttpStatusCode.OK, null), await Readiness(http));
        Assert.Equal(0.4, (await http.GetFromJsonAsync<JsonElement>("/api/machines/rewind.m1")).GetProperty("settings").GetProperty("budget").GetDouble());
        Assert.Empty(Errors(log));
    }

    [Fact]
    public async Task Silos_advancing_the_clock_together_raise_nothing_and_a_clock_set_back_is_reported_to_every_silo_until_accepted()
    {
        using var redis = await ConnectionMultiplexer.ConnectAsync(_redis.Connection);
        var db = redis.GetDatabase();
        string shared = Path.Combine(_dir, "shared");
        var first = await RedisStoreIdentity.JudgeAsync(db, "redis", Service, shared, seen: null, mark: true, new RedisStoreClock.Look(null, Advance: true));
        Assert.Null(first.Problem);
        string store = first.Marker!;

        // Eight silos, four on the shared volume and four on volumes of their own, each looking 25 times, all at once.
        var silos = Enumerable.Range(0, 8).Select(i => i < 4 ? shared : Path.Combine(_dir, $"own{i}")).ToArray();
        var memories = new RedisStoreClock.Reading?[silos.Length];
        await Task.WhenAll(silos.Select((directory, i) => Task.Run(async () =>
        {
            for (int look = 0; look < 25; look++)
            {
                var verdict = await RedisStoreIdentity.JudgeAsync(db, "redis", Service, directory, store, mark: false, new RedisStoreClock.Look(memories[i], Advance: true));
                Assert.True(verdict.Problem is null, verdict.Problem);
                Assert.True(verdict.Clock!.Tick > (memories[i]?.Tick ?? 0), "each look advances the clock past what the silo saw");
                memories[i] = verdict.Clock;
            }
        })));
        long now = (long)await db.HashGetAsync(RedisStoreClock.ClockKey(Service), "tick");
        Assert.Equal(1 + 8 * 25, now);

        // Redis's clock set back, as an older copy has it: a silo with a memory finds it, and from then on every silo
        // reports it, also one on a fresh volume that remembers nothing; its looks do not advance the older copy's clock.
        await db.HashSetAsync(RedisStoreClock.ClockKey(Service), "tick", now - 50);
        var found = await RedisStoreIdentity.JudgeAsync(db, "redis", Service, silos[5], store, mark: false, new RedisStoreClock.Look(memories[5], Advance: true));
        Assert.Contains("holds an older copy", found.Problem);
        Assert.Equal(now - 50, found.Rewound!.Found);
        var fresh = await RedisStoreIdentity.JudgeAsync(db, "redis", Service, Path.Combine(_dir, "fresh"), seen: null, mark: true, new RedisStoreClock.Look(null, Advance: true));
        Assert.Equal(found.Problem, fresh.Problem);
        Assert.Equal(now - 50, (long)await db.HashGetAsync(RedisStoreClock.ClockKey(Service), "tick"));

        var (accepted, refused) = await RedisStoreIdentity.AcceptAsync(db, "redis", Service, shared, store, store, "test", memories[0]);
        Assert.True(accepted is not null, refused);
        Assert.Equal(found.Rewound.Id, accepted.Store);
        foreach (var (directory, i) in silos.Select((d, i) => (d, i)))
        {
            var verdict = await RedisStoreIdentity.JudgeAsync(db, "redis", Service, directory, store, mark: false, new RedisStoreClock.Look(memories[i], Advance: true));
            Assert.True(verdict.Problem is null, verdict.Problem);
            Assert.Equal(accepted.Store, verdict.Marker); // each follows the record, and adopts Redis's clock for the new store
            Assert.Equal(accepted.Store, verdict.Clock!.Store);
        }
    }
}
