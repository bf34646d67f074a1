using AsdOrleans.Storage.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Serialization;
using Orleans.Serialization.Serializers;
using Orleans.Storage;

namespace AsdOrleans.Grains.Tests.Storage;

/// <summary>The provider called directly (no silo), on real SQLite files in a temp folder.</summary>
public sealed class SqliteGrainStorageTests : IDisposable
{
    private const string StateName = "state";
    private static readonly ServiceProvider Services = new ServiceCollection().AddSerializer().BuildServiceProvider();

    private readonly TempFolder _folder = new();
    private readonly List<SqliteGrainStorage> _providers = [];

    public void Dispose()
    {
        foreach (var provider in _providers)
            provider.Dispose();
        _folder.Dispose();
    }

    private string DefaultPath => _folder.File("grains.db");

    private SqliteGrainStorage NewProvider(string? path = null)
    {
        var provider = new SqliteGrainStorage(
            "test",
            new SqliteGrainStorageOptions
            {
                DatabasePath = path ?? DefaultPath,
                GrainStorageSerializer = new OrleansGrainStorageSerializer(Services.GetRequiredService<Serializer>()),
            },
            Services.GetRequiredService<IActivatorProvider>(),
            NullLogger<SqliteGrainStorage>.Instance);
        _providers.Add(provider);
        return provider;
    }

    private static GrainId Id(string key) => GrainId.Create("storagetest", key);

    private static GrainState<StorageTestState> State(int value, string text = "", string? etag = null) =>
        new(new StorageTestState { Value = value, Text = text, History = [value] }, etag);

    private static async Task<GrainState<StorageTestState>> Read(SqliteGrainStorage provider, string key, string stateName = StateName)
    {
        var state = new GrainState<StorageTestState> { State = new StorageTestState { Value = -1 } };
        await provider.ReadStateAsync(stateName, Id(key), state);
        return state;
    }

    [Fact]
    public async Task Reading_a_state_never_written_gives_the_default_state_no_etag_and_no_record()
    {
        var state = await Read(NewProvider(), "absent");

        Assert.Equal(0, state.State!.Value);
        Assert.Empty(state.State!.History);
        Assert.Null(state.ETag);
        Assert.False(state.RecordExists);
    }

    [Fact]
    public async Task A_written_state_reads_back_from_another_provider_instance_with_its_etag()
    {
        var writer = NewProvider();
        var state = State(7, "seven");
        await writer.WriteStateAsync(StateName, Id("a"), state);
        Assert.Equal("1", state.ETag);
        Assert.True(state.RecordExists);

        state.State!.Value = 8;
        await writer.WriteStateAsync(StateName, Id("a"), state);
        Assert.Equal("2", state.ETag);

        var read = await Read(NewProvider(), "a");
        Assert.Equal(8, read.State!.Value);
        Assert.Equal("seven", read.State!.Text);
        Assert.Equal([7], read.State!.History);
        Assert.Equal("2", read.ETag);
        Assert.True(read.RecordExists);
    }

    [Fact]
    public async Task State_names_and_grain_ids_key_separate_rows()
    {
        var provider = NewProvider();
        await provider.WriteStateAsync("one", Id("a"), State(1));
        await provider.WriteStateAsync("two", Id("a"), State(2));
        await provider.WriteStateAsync("one", Id("b"), State(3));

        Assert.Equal(1, (await Read(provider, "a", "one")).State!.Value);
        Assert.Equal(2, (await Read(provider, "a", "two")).State!.Value);
        Assert.Equal(3, (await Read(provider, "b", "one")).State!.Value);
        Assert.False((await Read(provider, "b", "two")).RecordExists);
    }

    [Fact]
    public async Task A_write_with_a_stale_etag_throws_InconsistentStateException_and_changes_nothing()
    {
        var first = NewProvider();
        var second = NewProvider();
        var mine = State(1, "mine");
        await first.WriteStateAsync(StateName, Id("a"), mine);

        var theirs = await Read(second, "a");
        theirs.State!.Text = "theirs";
        await second.WriteStateAsync(StateName, Id("a"), theirs);
        Assert.Equal("2", theirs.ETag);

        mine.State!.Text = "lost?";
        var conflict = await Assert.ThrowsAsync<InconsistentStateException>(() => first.WriteStateAsync(StateName, Id("a"), mine));
        Assert.Equal("2", conflict.StoredEtag);
        Assert.Equal("1", conflict.CurrentEtag);
        Assert.Contains("state", conflict.Message);
        Assert.Equal("1", mine.ETag); // the grain's ETag is left as it was

        var stored = await Read(NewProvider(), "a");
        Assert.Equal("theirs", stored.State!.Text);
        Assert.Equal("2", stored.ETag);
    }

    [Fact]
    public async Task Inserting_over_an_existing_row_and_updating_a_missing_row_both_conflict()
    {
        var provider = NewProvider();
        await provider.WriteStateAsync(StateName, Id("a"), State(1));

        var fresh = State(2); // ETag null: believes there is no row
        var insertConflict = await Assert.ThrowsAsync<InconsistentStateException>(() => provider.WriteStateAsync(StateName, Id("a"), fresh));
        Assert.Equal("1", insertConflict.StoredEtag);
        Assert.Null(insertConflict.CurrentEtag);

        var phantom = State(3, etag: "5"); // believes there is a row
        var updateConflict = await Assert.ThrowsAsync<InconsistentStateException>(() => provider.WriteStateAsync(StateName, Id("b"), phantom));
        Assert.Null(updateConflict.StoredEtag);
        Assert.Equal("5", updateConflict.CurrentEtag);

        Assert.Equal(1, (await Read(provider, "a")).State!.Value);
        Assert.False((await Read(provider, "b")).RecordExists);
    }

    [Fact]
    public async Task Clear_leaves_a_tombstone_with_a_new_etag_and_reads_back_as_the_default_state()
    {
        var provider = NewProvider();
        var state = State(5, "five");
        await provider.WriteStateAsync(StateName, Id("a"), state);

        await provider.ClearStateAsync(StateName, Id("a"), state);
        Assert.Equal("2", state.ETag);
        Assert.False(state.RecordExists);
        Assert.Equal(0, state.State!.Value);

        var read = await Read(NewProvider(), "a");
        Assert.False(read.RecordExists);
        Assert.Equal(0, read.State!.Value);
        Assert.Equal("", read.State!.Text);
        Assert.Equal("2", read.ETag);

        // The next write continues from the tombstone's version; a version number is never reused.
        read.State!.Value = 6;
        await provider.WriteStateAsync(StateName, Id("a"), read);
        Assert.Equal("3", read.ETag);
        Assert.True((await Read(provider, "a")).RecordExists);
    }

    [Fact]
    public async Task Clear_with_a_stale_etag_conflicts_and_clearing_a_state_never_written_writes_nothing()
    {
        var provider = NewProvider();
        var stale = State(1);
        await provider.WriteStateAsync(StateName, Id("a"), stale);
        var current = await Read(provider, "a");
        await provider.WriteStateAsync(StateName, Id("a"), current);

        var conflict = await Assert.ThrowsAsync<InconsistentStateException>(() => provider.ClearStateAsync(StateName, Id("a"), stale));
        Assert.Equal("2", conflict.StoredEtag);
        Assert.True((await Read(provider, "a")).RecordExists);

        var never = State(9);
        await provider.ClearStateAsync(StateName, Id("never"), never);
        Assert.Null(never.ETag);
        Assert.False(never.RecordExists);
        Assert.Equal(0, never.State!.Value);
        Assert.Equal(0L, CountRows(DefaultPath, "never"));
    }

    [Fact]
    public async Task Concurrent_writers_on_many_grains_all_persist_and_a_conflict_fails_only_its_own_write()
    {
        var provider = NewProvider();
        const int grains = 200, writes = 5;
        var stale = State(0);
        await provider.WriteStateAsync(StateName, Id("contended"), stale);
        await provider.WriteStateAsync(StateName, Id("contended"), State(0, etag: stale.ETag));

        var staleWrite = provider.WriteStateAsync(StateName, Id("contended"), State(99, etag: stale.ETag));
        await Task.WhenAll(Enumerable.Range(0, grains).Select(g => Task.Run(async () =>
        {
            var state = State(0);
            for (var w = 1; w <= writes; w++)
            {
                state.State!.Value = w;
                state.State!.History.Add(w);
                await provider.WriteStateAsync(StateName, Id($"g{g}"), state);
            }
        })));
        await Assert.ThrowsAsync<InconsistentStateException>(() => staleWrite);

        var reader = NewProvider();
        for (var g = 0; g < grains; g++)
        {
            var read = await Read(reader, $"g{g}");
            Assert.Equal(writes, read.State!.Value);
            Assert.Equal(writes.ToString(System.Globalization.CultureInfo.InvariantCulture), read.ETag);
            Assert.Equal([0, 1, 2, 3, 4, 5], read.State!.History);
        }
        Assert.Equal(0, (await Read(reader, "contended")).State!.Value);
    }

    [Fact]
    public async Task An_acknowledged_write_is_in_the_files_on_disk_without_a_clean_close()
    {
        // What kill -9 leaves behind: the database and its WAL as they are on disk (the OS keeps what was written),
        // with no checkpoint and no close. Copy them while the provider is still open and read the copy.
        var provider = NewProvider();
        await provider.WriteStateAsync(StateName, Id("a"), State(42, "acknowledged"));

        var copy = _folder.File("copy/grains.db");
        Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
        File.Copy(DefaultPath, copy);
        if (File.Exists(DefaultPath + "-wal"))
            File.Copy(DefaultPath + "-wal", copy + "-wal");

        var read = await Read(NewProvider(copy), "a");
        Assert.Equal(42, read.State!.Value);
        Assert.Equal("acknowledged", read.State!.Text);
        Assert.Equal("wal", JournalMode(DefaultPath));
    }

    [Fact]
    public async Task The_database_folder_is_created_when_missing()
    {
        var path = _folder.File("nested/deeper/grains.db");
        var provider = NewProvider(path);
        await provider.WriteStateAsync(StateName, Id("a"), State(1));

        Assert.True(File.Exists(path));
        Assert.Equal(1, (await Read(NewProvider(path), "a")).State!.Value);
    }

    [Fact]
    public async Task A_file_that_is_not_a_database_gives_an_error_naming_the_path_on_open_and_on_read()
    {
        var path = _folder.File("corrupt.db");
        await File.WriteAllBytesAsync(path, [.. Enumerable.Repeat((byte)'x', 8192)]);
        var provider = NewProvider(path);

        var onOpen = Assert.Throws<SqliteGrainStorageException>(provider.Open);
        Assert.Contains(path, onOpen.Message);
        Assert.IsType<SqliteException>(onOpen.InnerException);

        var onRead = await Assert.ThrowsAsync<SqliteGrainStorageException>(() => Read(provider, "a"));
        Assert.Contains(path, onRead.Message);
        var onWrite = await Assert.ThrowsAsync<SqliteGrainStorageException>(() => provider.WriteStateAsync(StateName, Id("a"), State(1)));
        Assert.Contains(path, onWrite.Message);
    }

    [Fact]
    public async Task A_file_with_a_newer_schema_version_is_refused()
    {
        await NewProvider().WriteStateAsync(StateName, Id("a"), State(1));
        using (var connection = new SqliteConnection($"Data Source={DefaultPath};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA user_version = 99;";
            command.ExecuteNonQuery();
        }

        var error = Assert.Throws<SqliteGrainStorageException>(NewProvider().Open);
        Assert.Contains("schema version 99", error.Message);
        Assert.Contains(DefaultPath, error.Message);
    }

    [Fact]
    public async Task A_blob_that_does_not_decode_gives_an_error_naming_the_state_and_path()
    {
        var provider = NewProvider();
        await provider.WriteStateAsync(StateName, Id("a"), State(1));
        using (var connection = new SqliteConnection($"Data Source={DefaultPath};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "UPDATE grain_state SET payload = x'DEADBEEF'";
            command.ExecuteNonQuery();
        }

        // Its own type: a damaged row is not a storage outage that a retry gets past (ApiFaults).
        var error = await Assert.ThrowsAsync<SqliteGrainStateUndecodableException>(() => Read(provider, "a"));
        Assert.Contains(DefaultPath, error.Message);
        Assert.Contains("state 'state'", error.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void An_empty_database_path_is_a_configuration_error(string path)
    {
        var error = Assert.Throws<OrleansConfigurationException>(() => NewProvider(path));
        Assert.Contains(nameof(SqliteGrainStorageOptions.DatabasePath), error.Message);
    }

    [Fact]
    public async Task Operations_after_dispose_are_refused()
    {
        var provider = NewProvider();
        await provider.WriteStateAsync(StateName, Id("a"), State(1));
        await provider.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => provider.WriteStateAsync(StateName, Id("a"), State(2, etag: "1")));
    }

    private static long CountRows(string path, string key)
    {
        using var connection = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM grain_state WHERE grain_id = $id";
        command.Parameters.AddWithValue("$id", Id(key).ToString());
        return (long)command.ExecuteScalar()!;
    }

    private static string JournalMode(string path)
    {
        using var connection = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode;";
        return (string)command.ExecuteScalar()!;
    }
}
