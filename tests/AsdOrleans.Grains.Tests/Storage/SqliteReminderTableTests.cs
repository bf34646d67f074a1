using AsdOrleans.Storage.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AsdOrleans.Grains.Tests.Storage;

/// <summary>The SQLite reminder table on a real file: Orleans' <see cref="IReminderTable"/> contract and durability.</summary>
public sealed class SqliteReminderTableTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string DatabasePath => _folder.File("data/reminders.db");

    private SqliteReminderTable Open(string? path = null)
        => new(Options.Create(new SqliteReminderTableOptions { DatabasePath = path ?? DatabasePath }), NullLogger<SqliteReminderTable>.Instance);

    private static GrainId Machine(string key) => GrainId.Create("machine", key);

    private static ReminderEntry Entry(GrainId grain, string name, int minutes) => new()
    {
        GrainId = grain,
        ReminderName = name,
        StartAt = new DateTime(2026, 11, 25, 8, 0, 0, DateTimeKind.Utc),
        Period = TimeSpan.FromMinutes(minutes),
    };

    [Fact]
    public async Task Register_read_update_and_remove()
    {
        using var table = Open();
        await table.StartAsync();
        var grain = Machine("plant-a.saw-1");
        Assert.Null(await table.ReadRow(grain, "expiry"));
        Assert.Empty((await table.ReadRows(grain)).Reminders);

        string? first = await table.UpsertRow(Entry(grain, "expiry", 60));
        await table.UpsertRow(Entry(grain, "other", 5));
        await table.UpsertRow(Entry(Machine("plant-a.saw-2"), "expiry", 7));
        var read = await table.ReadRow(grain, "expiry");
        Assert.NotNull(read);
        Assert.Equal(grain, read.GrainId);
        Assert.Equal("expiry", read.ReminderName);
        Assert.Equal(TimeSpan.FromMinutes(60), read.Period);
        Assert.Equal(new DateTime(2026, 11, 25, 8, 0, 0, DateTimeKind.Utc), read.StartAt);
        Assert.Equal(DateTimeKind.Utc, read.StartAt.Kind);
        Assert.Equal(first, read.ETag);
        Assert.Equal(["expiry", "other"], (await table.ReadRows(grain)).Reminders.Select(r => r.ReminderName).Order());

        // An upsert of the same key replaces the row and gives it a new ETag.
        string? second = await table.UpsertRow(Entry(grain, "expiry", 30));
        Assert.NotEqual(first, second);
        read = await table.ReadRow(grain, "expiry");
        Assert.Equal(TimeSpan.FromMinutes(30), read!.Period);
        Assert.Equal(second, read.ETag);
        Assert.Equal(2, (await table.ReadRows(grain)).Reminders.Count);

        Assert.True(await table.RemoveRow(grain, "expiry", second!));
        Assert.Null(await table.ReadRow(grain, "expiry"));
        Assert.False(await table.RemoveRow(grain, "expiry", second!)); // already gone
        Assert.NotNull(await table.ReadRow(grain, "other"));
        Assert.NotNull(await table.ReadRow(Machine("plant-a.saw-2"), "expiry"));
    }

    [Fact]
    public async Task A_remove_with_a_stale_ETag_is_refused_and_keeps_the_row()
    {
        using var table = Open();
        var grain = Machine("etag.m1");
        string? stale = await table.UpsertRow(Entry(grain, "expiry", 60));
        string? current = await table.UpsertRow(Entry(grain, "expiry", 61));
        Assert.False(await table.RemoveRow(grain, "expiry", stale!));
        Assert.Equal(current, (await table.ReadRow(grain, "expiry"))!.ETag);

        // ETags are never reused: one from before a remove and re-add cannot remove the new row.
        Assert.True(await table.RemoveRow(grain, "expiry", current!));
        string? reborn = await table.UpsertRow(Entry(grain, "expiry", 60));
        Assert.False(await table.RemoveRow(grain, "expiry", current!));
        Assert.False(await table.RemoveRow(grain, "expiry", stale!));
        Assert.Equal(reborn, (await table.ReadRow(grain, "expiry"))!.ETag);
    }

    [Fact]
    public async Task Hash_ranges_follow_the_ring_including_the_wrap_around()
    {
        using var table = Open();
        var grains = Enumerable.Range(0, 40).Select(i => Machine($"ring.m{i}")).ToList();
        foreach (var grain in grains)
            await table.UpsertRow(Entry(grain, "expiry", 60));
        var hashes = grains.Select(g => g.GetUniformHashCode()).Order().ToList();
        uint begin = hashes[9], end = hashes[29];

        HashSet<GrainId> Expected(Func<uint, bool> inRange) => grains.Where(g => inRange(g.GetUniformHashCode())).ToHashSet();
        Assert.Equal(Expected(h => h > begin && h <= end), (await table.ReadRows(begin, end)).Reminders.Select(r => r.GrainId).ToHashSet());
        Assert.Equal(20, (await table.ReadRows(begin, end)).Reminders.Count);
        Assert.Equal(Expected(h => h > end || h <= begin), (await table.ReadRows(end, begin)).Reminders.Select(r => r.GrainId).ToHashSet());
        Assert.Equal(40, (await table.ReadRows(begin, begin)).Reminders.Count); // begin == end: the whole ring
        Assert.Equal(Expected(h => h > 0), (await table.ReadRows(0u, uint.MaxValue)).Reminders.Select(r => r.GrainId).ToHashSet());
    }

    [Fact]
    public async Task Reminders_survive_reopening_the_file_which_is_in_WAL_mode()
    {
        var grain = Machine("durable.m1");
        string? etag;
        using (var table = Open())
        {
            etag = await table.UpsertRow(Entry(grain, "expiry", 60));
            await table.UpsertRow(Entry(grain, "gone", 60));
            Assert.True(await table.RemoveRow(grain, "gone", (await table.ReadRow(grain, "gone"))!.ETag!));
        }

        using (var reopened = Open())
        {
            var read = await reopened.ReadRow(grain, "expiry");
            Assert.NotNull(read);
            Assert.Equal(etag, read.ETag);
            Assert.Equal(TimeSpan.FromMinutes(60), read.Period);
            Assert.Null(await reopened.ReadRow(grain, "gone"));
            Assert.True(await reopened.RemoveRow(grain, "expiry", etag!)); // the ETag still holds after reopening
        }

        using var connection = new SqliteConnection($"Data Source={DatabasePath}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", command.ExecuteScalar() as string);
    }

    [Fact]
    public async Task An_unusable_file_gets_an_error_that_names_it()
    {
        string notADatabase = _folder.File("garbage.db");
        await File.WriteAllTextAsync(notADatabase, new string('x', 4096));
        using var table = Open(notADatabase);
        var error = await Assert.ThrowsAsync<SqliteReminderTableException>(() => table.StartAsync());
        Assert.Contains(notADatabase, error.Message);
        error = await Assert.ThrowsAsync<SqliteReminderTableException>(() => table.UpsertRow(Entry(Machine("m"), "expiry", 1)));
        Assert.Contains(notADatabase, error.Message);

        var missingPath = Assert.Throws<OrleansConfigurationException>(() => Open(""));
        Assert.Contains("DatabasePath", missingPath.Message);
    }
}
