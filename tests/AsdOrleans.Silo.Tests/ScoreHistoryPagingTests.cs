using AsdOrleans.Abstractions;
using AsdOrleans.Grains;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// The score history is paged (issue 13): a flush rewrites only the open page, full pages are written once, and the
/// history reads back the same after a restart, labels on old points included.
/// </summary>
public sealed class ScoreHistoryPagingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-history-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<(WebApplication App, IGrainFactory Grains)> Start()
    {
        var (app, _) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?> { ["Asd:DataDirectory"] = _dir });
        return (app, app.Services.GetRequiredService<IGrainFactory>());
    }

    private static readonly DateTimeOffset Epoch = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    private static ScorePoint Point(int i) => new(Epoch.AddSeconds(i), $"clip-{i}", i, i / 1000.0, 0.5, i % 7 == 0, i % 10 == 0);

    /// <summary>Payload bytes of each stored record of one grain, by state name.</summary>
    private Dictionary<string, long> StoredBytes(string grainKey)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(_dir, "grains.db")};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT state_name, length(payload) FROM grain_state WHERE grain_id LIKE $key";
        command.Parameters.AddWithValue("$key", $"%{grainKey}");
        var sizes = new Dictionary<string, long>();
        using var reader = command.ExecuteReader();
        while (reader.Read()) sizes[reader.GetString(0)] = reader.IsDBNull(1) ? 0 : reader.GetInt64(1);
        return sizes;
    }

    [Fact]
    public async Task A_long_history_keeps_its_last_points_and_labels_across_a_restart_and_a_flush_writes_only_the_open_page()
    {
        const int recorded = 1_234;
        var (app, grains) = await Start();
        IReadOnlyList<ScorePoint> before;
        try
        {
            var history = grains.GetGrain<IScoreHistoryGrain>("paging.m1");
            // Activated first, as a machine's history is when its clips arrive: one-way calls queued while a grain
            // activates are not delivered in order.
            Assert.Empty(await history.Get(null, 1));
            for (int i = 0; i < recorded; i++)
                await history.Record(Point(i));
            await history.RecordLabel("clip-300", ClipLabelValue.Anomalous);   // in a sealed page
            await history.RecordLabel("clip-1230", ClipLabelValue.Normal);     // in the open page
            await history.RecordLabel("clip-5", ClipLabelValue.Normal);        // no longer kept: ignored

            // Record and RecordLabel are one-way: wait until the last of them has been applied.
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while ((await history.Get(null, 1)).SingleOrDefault()?.ClipId != $"clip-{recorded - 1}" && DateTime.UtcNow < deadline)
                await Task.Delay(50);
            before = await history.Get(null, MachineScoreHistory.Capacity);
            Assert.Equal(Enumerable.Range(recorded - MachineScoreHistory.Capacity, MachineScoreHistory.Capacity).Select(i => $"clip-{i}"), before.Select(p => p.ClipId));
            Assert.Equal(ClipLabelValue.Anomalous, before.Single(p => p.ClipId == "clip-300").Label);
            Assert.Equal(ClipLabelValue.Normal, before.Single(p => p.ClipId == "clip-1230").Label);
            Assert.Equal(["clip-1232", "clip-1233"], (await history.Get(null, 2)).Select(p => p.ClipId));
            Assert.Equal(Enumerable.Range(1200, 34).Select(i => $"clip-{i}"), (await history.Get(Epoch.AddSeconds(1200), 100)).Select(p => p.ClipId));
            Assert.Equal(Enumerable.Range(1210, 24).Select(i => $"clip-{i}"), (await history.Get(Epoch.AddSeconds(1210), 100)).Select(p => p.ClipId));
            Assert.Equal(Enumerable.Range(1150, 84).Select(i => $"clip-{i}"), (await history.Get(Epoch.AddSeconds(1150), 100)).Select(p => p.ClipId));
        }
        finally
        {
            await app.StopAsync(); // deactivation flushes the history
            await app.DisposeAsync();
        }

        // The head holds the open page only (34 points); each sealed page is a record of its own, ≤ 11 slots in all.
        var sizes = StoredBytes("paging.m1");
        long pageBytes = sizes.Where(s => s.Key.StartsWith("scores-page-", StringComparison.Ordinal)).Max(s => s.Value);
        Assert.True(sizes["scores"] < pageBytes, $"head {sizes["scores"]} B, a full page {pageBytes} B");
        Assert.InRange(sizes.Count(s => s.Key.StartsWith("scores-page-", StringComparison.Ordinal)), MachineScoreHistory.SealedPagesKept, MachineScoreHistory.SealedPagesKept + 1);

        (app, grains) = await Start();
        try
        {
            var history = grains.GetGrain<IScoreHistoryGrain>("paging.m1");
            var after = await history.Get(null, MachineScoreHistory.Capacity);
            Assert.Equal(before, after);
            await history.Record(Point(recorded));
            Assert.Equal($"clip-{recorded}", (await history.Get(null, 1)).Single().ClipId);
            Assert.Equal($"clip-{recorded - MachineScoreHistory.Capacity + 1}", (await history.Get(null, MachineScoreHistory.Capacity))[0].ClipId);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_young_machines_first_page_is_read_back_after_a_restart()
    {
        // Page 0's number is 0, the value a JSON storage leaves out; in the embedded store's binary format it must read back as page 0.
        const int recorded = 150;
        var (app, grains) = await Start();
        try
        {
            var history = grains.GetGrain<IScoreHistoryGrain>("paging.young");
            Assert.Empty(await history.Get(null, 1));
            for (int i = 0; i < recorded; i++)
                await history.Record(Point(i));
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while ((await history.Get(null, 1)).SingleOrDefault()?.ClipId != $"clip-{recorded - 1}" && DateTime.UtcNow < deadline)
                await Task.Delay(50);
        }
        finally
        {
            await app.StopAsync(); // deactivation writes page 0 and the head, and the next activation reads them
            await app.DisposeAsync();
        }
        (app, grains) = await Start();
        try
        {
            var after = await grains.GetGrain<IScoreHistoryGrain>("paging.young").Get(null, MachineScoreHistory.Capacity);
            Assert.Equal(Enumerable.Range(0, recorded).Select(i => $"clip-{i}"), after.Select(p => p.ClipId));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_history_written_before_paging_is_split_into_pages_on_activation()
    {
        var (app, grains) = await Start();
        try
        {
            // The previous build's record: every point in the head (format 0).
            var history = grains.GetGrain<IScoreHistoryGrain>("paging.old");
            var storage = app.Services.GetRequiredKeyedService<IGrainStorage>(MachineGrain.StorageName);
            var old = new GrainState<ScoreHistoryState>(new ScoreHistoryState { Points = Enumerable.Range(0, 1_000).Select(Point).ToList() });
            await storage.WriteStateAsync("scores", history.GetGrainId(), old);

            var points = await history.Get(null, MachineScoreHistory.Capacity);
            Assert.Equal(Enumerable.Range(0, 1_000).Select(i => $"clip-{i}"), points.Select(p => p.ClipId));
            await history.Record(Point(1_000));
            Assert.Equal("clip-1", (await history.Get(null, MachineScoreHistory.Capacity))[0].ClipId);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
        Assert.Equal(MachineScoreHistory.SealedPagesKept, StoredBytes("paging.old").Count(s => s.Key.StartsWith("scores-page-", StringComparison.Ordinal)));

        (app, grains) = await Start();
        try
        {
            var points = await grains.GetGrain<IScoreHistoryGrain>("paging.old").Get(null, MachineScoreHistory.Capacity);
            Assert.Equal(Enumerable.Range(1, 1_000).Select(i => $"clip-{i}"), points.Select(p => p.ClipId));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_history_of_the_former_history_grain_is_adopted_by_the_machine_and_its_old_records_removed()
    {
        var legacyId = GrainId.Create(MachineScoreHistory.LegacyGrainType, "paging.legacy");
        var (app, grains) = await Start();
        try
        {
            // The previous build's records: a head with the open page 3 and three sealed pages in slots 0–2.
            var storage = app.Services.GetRequiredKeyedService<IGrainStorage>(MachineGrain.StorageName);
            for (int page = 0; page < 3; page++)
                await storage.WriteStateAsync($"scores-page-{page}", legacyId, new GrainState<ScoreHistoryPage>(new ScoreHistoryPage
                {
                    Sequence = page, Points = Enumerable.Range(page * MachineScoreHistory.PageSize, MachineScoreHistory.PageSize).Select(Point).ToList(),
                }));
            await storage.WriteStateAsync("scores", legacyId, new GrainState<ScoreHistoryState>(new ScoreHistoryState
            {
                Format = 1, OpenPage = 3, Points = Enumerable.Range(300, 30).Select(Point).ToList(),
            }));

            var history = grains.GetGrain<IScoreHistoryGrain>("paging.legacy");
            Assert.Equal(Enumerable.Range(0, 330).Select(i => $"clip-{i}"), (await history.Get(null, MachineScoreHistory.Capacity)).Select(p => p.ClipId));
            await history.RecordLabel("clip-42", ClipLabelValue.Anomalous);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        (app, grains) = await Start();
        try
        {
            var points = await grains.GetGrain<IScoreHistoryGrain>("paging.legacy").Get(null, MachineScoreHistory.Capacity);
            Assert.Equal(Enumerable.Range(0, 330).Select(i => $"clip-{i}"), points.Select(p => p.ClipId));
            Assert.Equal(ClipLabelValue.Anomalous, points[42].Label);
            var storage = app.Services.GetRequiredKeyedService<IGrainStorage>(MachineGrain.StorageName);
            var oldHead = new GrainState<ScoreHistoryState>(new ScoreHistoryState());
            await storage.ReadStateAsync("scores", legacyId, oldHead);
            Assert.False(oldHead.RecordExists); // removed once written under the machine
            var oldPage = new GrainState<ScoreHistoryPage>(new ScoreHistoryPage());
            await storage.ReadStateAsync("scores-page-1", legacyId, oldPage);
            Assert.False(oldPage.RecordExists);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
