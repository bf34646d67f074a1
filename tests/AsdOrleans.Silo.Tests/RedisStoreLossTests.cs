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
/// A Redis that restarted without its data, was flushed, or was replaced by an empty one made every machine look new and
/// unenrolled without a word (before stop 55). Real redis-servers and silos: the loss is noticed by a silo that runs
/// through it and by one that starts after it (/readyz 503 naming it, writes refused, an error logged once); a restore
/// of Redis or the operator's acceptance ends it; a fresh cluster and a Redis restart that kept its data raise nothing.
/// </summary>
public sealed class RedisStoreLossTests() : RedisStoreSiloTests("loss")
{
    [Fact]
    public async Task A_fresh_cluster_starts_ready_and_marks_its_store_in_redis_and_the_data_directory()
    {
        Assert.False(File.Exists(MarkerFile));
        var (http, log, _) = await StartSilo();
        Assert.Equal((HttpStatusCode.OK, null), await Readiness(http));
        using var admin = await Admin(_redis);
        string? marker = await admin.GetDatabase().StringGetAsync(RedisStoreIdentity.MarkerKey(Service));
        Assert.NotNull(marker);
        Assert.Equal(marker, File.ReadAllText(MarkerFile));
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "loss.m1", 0.5)).StatusCode);
        await Task.Delay(RedisStoreWatch.Period * 2); // the watch has looked again
        Assert.Equal((HttpStatusCode.OK, null), await Readiness(http));
        Assert.Empty(Errors(log));
    }

    [Fact]
    public async Task A_redis_restart_that_kept_its_data_raises_nothing_in_a_running_or_a_restarted_silo()
    {
        var (http, log, app) = await StartSilo();
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "loss.m1", 0.5)).StatusCode);
        int port = _redis.Port;
        await _redis.DisposeAsync(); // a crash: the append-only file has every acknowledged write
        _redis = await StartRedis("redis", port);
        await Waiting.Until(async () => (await Configure(http, "loss.m1", 0.4)).StatusCode == HttpStatusCode.OK, "writes are taken after Redis's restart");
        await Task.Delay(RedisStoreWatch.Period * 2);
        Assert.Equal((HttpStatusCode.OK, null), await Readiness(http));
        Assert.Empty(Errors(log));

        await StopSilo(app);
        (http, log, _) = await StartSilo();
        Assert.Equal((HttpStatusCode.OK, null), await Readiness(http));
        var status = await http.GetFromJsonAsync<JsonElement>("/api/machines/loss.m1");
        Assert.Equal(0.4, status.GetProperty("settings").GetProperty("budget").GetDouble());
        Assert.Empty(Errors(log));
    }

    [Fact]
    public async Task A_redis_flushed_under_a_running_silo_is_reported_and_accepting_the_loss_clears_it_and_is_recorded()
    {
        var (http, log, app) = await StartSilo();
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "loss.m1", 0.5)).StatusCode);
        string lost = File.ReadAllText(MarkerFile);
        using var admin = await Admin(_redis);
        await Task.Delay(RedisStoreWatch.Period * 2); // the watch has read the silo's membership row, written once it joined
        await admin.GetServers()[0].FlushAllDatabasesAsync();

        string said = await ExpectLossReported(http, "has lost the cluster's stored state");
        Assert.Contains($"Redis at '127.0.0.1:{_redis.Port}'", said);
        Assert.Contains($"store {lost} of service '{Service}'", said);
        Assert.Contains("labels", said);
        Assert.Contains("restores Redis from its backup", said);
        Assert.Contains($"POST /api/cluster/store/accept-loss {{\"lost\":\"{lost}\"}}", said);
        Assert.Contains("Redis did not restart", said); // flushed, not restarted
        await ExpectWritesRefused(http);
        Assert.Single(Errors(log)); // once, not per request or per look

        // Accepting names the store the problem names: another id is refused, and a missing one.
        var wrong = await Accept(http, "0123456789abcdef0123456789abcdef");
        Assert.Equal(HttpStatusCode.Conflict, wrong.StatusCode);
        Assert.Contains($"remembers store {lost}", await wrong.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, (await http.PostAsJsonAsync("/api/cluster/store/accept-loss", new { })).StatusCode);
        // A name that would write a line of its own into the loss log is refused.
        Assert.Equal(HttpStatusCode.BadRequest, (await http.PostAsJsonAsync("/api/cluster/store/accept-loss",
            new { lost, by = "ops\n2026-12-06T00:00:00Z service 'x': store y accepted as lost by nobody" })).StatusCode);

        var accepted = await Accept(http, lost);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        var record = await accepted.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(lost, record.GetProperty("lost").GetString());
        string store = record.GetProperty("store").GetString()!;
        Assert.NotEqual(lost, store);
        Assert.StartsWith("test operator (from ", record.GetProperty("by").GetString());
        await ExpectReady(http);
        Assert.Equal(store, File.ReadAllText(MarkerFile));
        Assert.Equal(store, (string?)await admin.GetDatabase().StringGetAsync(RedisStoreIdentity.MarkerKey(Service)));
        var recorded = Assert.Single(await RedisStoreIdentity.RecordedLossesAsync(admin.GetDatabase(), Service));
        Assert.Equal((lost, store), (recorded.Lost, recorded.Store));
        Assert.Contains($"store {lost} accepted as lost by test operator", File.ReadAllText(Path.Combine(DataDirectory, RedisStoreIdentity.LossLog)));
        Assert.Contains(log, e => e.Level == LogLevel.Warning && e.Message.Contains($"the loss of the cluster's store {lost} was accepted", StringComparison.Ordinal));

        // Nothing left to accept.
        Assert.Equal(HttpStatusCode.Conflict, (await Accept(http, lost)).StatusCode);

        // The machine active through the loss was dropped before the acceptance was answered: its first write into the
        // new store is taken (before stop 56's fix, Orleans' version check failed it).
        Assert.True(record.GetProperty("droppedActivations").GetInt32() > 0);
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "loss.m1", 0.1)).StatusCode);

        // The flush took Orleans' membership table too; the silo's own row and the table's version are written back, so
        // its status changes work again: it stops in seconds (before stop 57, two minutes of failed version checks).
        Assert.True(await admin.GetDatabase().HashExistsAsync(RedisMembershipRow.TableKey(Service, "loss"), SiloAddressOf(app)));
        Assert.True((long?)await admin.GetDatabase().HashGetAsync(RedisMembershipRow.TableKey(Service, "loss"), RedisMembershipRow.VersionField) > 0);
        var stopping = System.Diagnostics.Stopwatch.StartNew();
        await StopSilo(app);
        Assert.True(stopping.Elapsed < StopAfterLoss, $"stopped in {stopping.Elapsed}");
    }

    /// <summary>How long a silo may take to stop after an accepted loss (a stop's own work: seconds; Orleans gives up on
    /// an unwritable membership table after a minute per step).</summary>
    private static readonly TimeSpan StopAfterLoss = TimeSpan.FromSeconds(30);

    private static string SiloAddressOf(WebApplication silo) => silo.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToString();

    private static async Task<List<string>> Listed(HttpClient http)
        => (await http.GetFromJsonAsync<JsonElement>("/api/machines")).EnumerateArray().Select(m => m.GetProperty("machineId").GetString()!).ToList();

    [Fact]
    public async Task After_an_accepted_loss_machines_are_configured_enrolled_listed_and_labelled_again_at_once_with_no_version_conflict()
    {
        // Before stop 56's fix: the registry shards, machines and pub-sub grains active through the loss kept the lost
        // state's versions; every registry write failed with InconsistentStateException, so a machine configured again
        // was never listed (404), and a machine's memory mixed the lost state with new writes.
        var (http, log, app) = await StartSilo();
        string[] machines = [.. Enumerable.Range(0, 6).Select(i => $"loss.kept{i}")];
        foreach (var machine in machines) await ConfigureAndEnroll(http, machine);
        foreach (var machine in machines) await ClipAndLabel(app, machine, "before");
        Assert.Equal(machines, (await Listed(http)).Order(StringComparer.Ordinal));

        string lost = File.ReadAllText(MarkerFile);
        await Task.Delay(RedisStoreWatch.Period * 2); // the watch has read the silo's membership row (written back after the loss)
        using (var admin = await Admin(_redis))
            await admin.GetServers()[0].FlushAllDatabasesAsync();
        await ExpectLossReported(http, "has lost the cluster's stored state");
        var accepted = await Accept(http, lost);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        int since = log.Count; // what is logged once the acceptance is answered

        // At once, no retry: the first write of each is taken.
        foreach (var machine in machines.Take(3).Append("loss.new")) await ConfigureAndEnroll(http, machine);
        Assert.Equal(["loss.kept0", "loss.kept1", "loss.kept2", "loss.new"], (await Listed(http)).Order(StringComparer.Ordinal));
        foreach (var machine in machines.Take(3).Append("loss.new"))
        {
            await ClipAndLabel(app, machine, "after");
            await ExpectState(http, machine, clips: 1, normalLabels: 1);
        }
        // Machines not configured again are gone with the store.
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/api/machines/loss.kept5")).StatusCode);
        await Task.Delay(RedisStoreWatch.Period * 2); // the watch, flushes and stream pub-sub have run again
        Assert.Empty(Conflicts(log.Skip(since)));
        Assert.Equal((HttpStatusCode.OK, null), await Readiness(http));
    }

    [Fact]
    public async Task A_loss_accepted_on_a_silo_whose_watch_had_not_judged_it_yet_still_drops_what_lived_through_it()
    {
        // Review of stop 56: the acceptance set the watch's known store to the new one before its look, so a watch that had
        // not judged the loss itself (accepted within its 5 s period of the loss, or while its looks failed) saw neither a
        // loss ending nor a store changed, dropped nothing, and the answer said it had dropped 0 and took writes again.
        var (http, _, app) = await StartSilo();
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "loss.unjudged", 0.5)).StatusCode);
        string lost = File.ReadAllText(MarkerFile);
        await StopSilo(app);
        using (var admin = await Admin(_redis))
            await admin.GetServers()[0].FlushAllDatabasesAsync();

        // A watch as a silo's, started on the intact store and not looking by itself (its ticks are not run).
        var options = Microsoft.Extensions.Options.Options.Create(new SiloOptions { Redis = _redis.Connection, ServiceId = Service, DataDirectory = DataDirectory });
        await using var connection = new SiloRedisConnection(options);
        var watch = new RedisStoreWatch(options, Microsoft.Extensions.Logging.Abstractions.NullLogger<RedisStoreWatch>.Instance,
            new RedisStoreWatch.AtStart(new RedisStoreIdentity.Verdict(lost, null, lost)), connection, new StoreLossActivations());
        Assert.Null(watch.Problem);
        Assert.Null(watch.LastDrop);

        var (accepted, refused) = await watch.AcceptAsync(lost, "test operator");
        Assert.True(accepted is not null, refused);
        Assert.NotNull(watch.LastDrop); // dropped before answering
        Assert.Null(watch.Problem); // and takes writes again
    }

    [Fact]
    public async Task After_a_loss_accepted_on_one_silo_the_other_drops_what_lived_through_it_too_and_both_take_writes_with_no_conflict()
    {
        var (a, logA, appA) = await StartSilo();
        var (b, logB, appB) = await StartSilo();
        // Enough machines that both silos host some, and their registry shards.
        string[] machines = [.. Enumerable.Range(0, 10).Select(i => $"loss.two{i}")];
        foreach (var (machine, i) in machines.Select((m, i) => (m, i))) await ConfigureAndEnroll(i % 2 == 0 ? a : b, machine);
        foreach (var (machine, i) in machines.Select((m, i) => (m, i))) await ClipAndLabel(i % 2 == 0 ? appA : appB, machine, "before");
        Assert.Equal(machines.Order(StringComparer.Ordinal), await Listed(b));

        string lost = File.ReadAllText(MarkerFile);
        await Task.Delay(RedisStoreWatch.Period * 2); // both watches have read their silo's membership row
        using (var admin = await Admin(_redis))
            await admin.GetServers()[0].FlushAllDatabasesAsync();
        await ExpectLossReported(a, "has lost the cluster's stored state");
        await ExpectLossReported(b, "has lost the cluster's stored state");
        Assert.Equal(HttpStatusCode.OK, (await Accept(a, lost)).StatusCode);
        // Silo b follows within its watch's period, and is not ready (nor takes writes) until it has dropped its activations.
        await Waiting.Until(async () => (await b.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK, "silo b takes writes again");
        foreach (var log in new[] { logA, logB })
            Assert.Contains(log, e => e.Message.StartsWith("dropped the ", StringComparison.Ordinal) && e.Message.Contains("grain activations that lived through the loss", StringComparison.Ordinal));
        int sinceA = logA.Count, sinceB = logB.Count;

        foreach (var (machine, i) in machines.Select((m, i) => (m, i))) await ConfigureAndEnroll(i % 2 == 0 ? b : a, machine);
        Assert.Equal(machines.Order(StringComparer.Ordinal), await Listed(a));
        foreach (var (machine, i) in machines.Select((m, i) => (m, i)))
        {
            await ClipAndLabel(i % 2 == 0 ? appB : appA, machine, "after");
            await ExpectState(i % 2 == 0 ? a : b, machine, clips: 1, normalLabels: 1);
        }
        await Task.Delay(RedisStoreWatch.Period * 2);
        Assert.Empty(Conflicts(logA.Skip(sinceA)));
        Assert.Empty(Conflicts(logB.Skip(sinceB)));

        // Each silo wrote its own membership row back (the one that accepted, and the one that followed), so both stop in
        // seconds; before stop 57 each waited two minutes on a membership table the flush had taken.
        using (var admin = await Admin(_redis))
            foreach (var app in new[] { appA, appB })
                Assert.True(await admin.GetDatabase().HashExistsAsync(RedisMembershipRow.TableKey(Service, "loss"), SiloAddressOf(app)), SiloAddressOf(app));
        foreach (var app in new[] { appB, appA })
        {
            var stopping = System.Diagnostics.Stopwatch.StartNew();
            await StopSilo(app);
            Assert.True(stopping.Elapsed < StopAfterLoss, $"stopped in {stopping.Elapsed}");
        }
    }

    [Fact]
    public async Task A_redis_restarted_empty_under_a_running_silo_is_reported_and_a_restore_of_its_data_clears_it()
    {
        var (http, log, _) = await StartSilo();
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "loss.m1", 0.5)).StatusCode);
        int port = _redis.Port;
        var kept = _redis;
        await kept.DisposeAsync();
        var empty = await StartRedis("redis-empty", port); // restarted without its append-only file, or a new Redis

        string said = await ExpectLossReported(http, "has lost the cluster's stored state");
        Assert.Contains("Redis restarted while this silo ran (its run id changed)", said);
        await ExpectWritesRefused(http);
        Assert.Single(Errors(log));

        // The operator restores Redis from its backup (here: its own folder again): the silo goes on by itself.
        await empty.DisposeAsync();
        _redis = await StartRedis("redis", port);
        await ExpectReady(http);
        var status = await http.GetFromJsonAsync<JsonElement>("/api/machines/loss.m1");
        Assert.Equal(0.5, status.GetProperty("settings").GetProperty("budget").GetDouble());
        Assert.Single(Errors(log));
    }

    [Fact]
    public async Task A_silo_starting_on_a_redis_that_lost_its_data_is_not_ready_saying_so_until_the_loss_is_accepted()
    {
        var (http, _, app) = await StartSilo();
        Assert.Equal(HttpStatusCode.OK, (await Configure(http, "loss.m1", 0.5)).StatusCode);
        await StopSilo(app);
        string lost = File.ReadAllText(MarkerFile);
        using (var admin = await Admin(_redis))
            await admin.GetServers()[0].FlushAllDatabasesAsync();

        (http, _, _) = await StartSilo();
        string said = await ExpectLossReported(http, "has lost the cluster's stored state");
        Assert.Contains($"the data directory remembers ({MarkerFile}) store {lost}", said);
        Assert.DoesNotContain("Seen while this silo ran", said);
        await ExpectWritesRefused(http);
        Assert.Equal(HttpStatusCode.OK, (await Accept(http, lost)).StatusCode);
        await ExpectReady(http);
    }

    [Fact]
    public async Task Another_clusters_store_is_reported_and_an_accepted_loss_is_followed_by_silos_that_remember_the_lost_store()
    {
        using var redis = await ConnectionMultiplexer.ConnectAsync(_redis.Connection);
        var db = redis.GetDatabase();
        string shared = Path.Combine(_dir, "shared"), other = Path.Combine(_dir, "other"), own = Path.Combine(_dir, "own");
        var first = await RedisStoreIdentity.JudgeAsync(db, "redis", Service, shared, seen: null, mark: true);
        Assert.Null(first.Problem);
        Assert.Equal(first, await RedisStoreIdentity.JudgeAsync(db, "redis", Service, shared, seen: null, mark: true) with { Remembered = null });
        // A directory of its own takes Redis's marker (the clip volume check warns about it).
        Assert.Null((await RedisStoreIdentity.JudgeAsync(db, "redis", Service, own, seen: null, mark: true)).Problem);
        // Another service's directory, or this one's under another service id, is not this store.
        Assert.Null((await RedisStoreIdentity.JudgeAsync(db, "redis", "another-service", shared, seen: null, mark: true)).Problem);

        // A data directory of another cluster's store.
        Directory.CreateDirectory(other);
        File.WriteAllText(Path.Combine(other, RedisStoreIdentity.FileName(Service)), "feedfeedfeedfeedfeedfeedfeedfeed");
        var foreign = await RedisStoreIdentity.JudgeAsync(db, "redis", Service, other, seen: null, mark: true);
        Assert.StartsWith($"Redis at 'redis' holds store {first.Marker}, and the data directory remembers", foreign.Problem);
        Assert.Contains("store feedfeedfeedfeedfeedfeedfeedfeed", foreign.Problem);

        // Redis loses its data, a silo on the shared directory accepts the loss; a silo that remembers the lost store
        // in a directory of its own follows the record instead of taking the new store for another cluster's.
        await db.KeyDeleteAsync(RedisStoreIdentity.MarkerKey(Service));
        Assert.Contains("has lost the cluster's stored state", (await RedisStoreIdentity.JudgeAsync(db, "redis", Service, own, seen: null, mark: true)).Problem);
        var (accepted, refused) = await RedisStoreIdentity.AcceptAsync(db, "redis", Service, shared, seen: null, first.Marker!, "test");
        Assert.Null(refused);
        var followed = await RedisStoreIdentity.JudgeAsync(db, "redis", Service, own, seen: null, mark: false);
        Assert.Equal((accepted!.Store, (string?)null), (followed.Marker, followed.Problem));
        Assert.Equal(accepted.Store, File.ReadAllText(Path.Combine(own, RedisStoreIdentity.FileName(Service))));
        // …and the foreign directory is still not this store's.
        Assert.NotNull((await RedisStoreIdentity.JudgeAsync(db, "redis", Service, other, seen: null, mark: false)).Problem);
    }
}
