using System.Diagnostics;
using AsdOrleans.Storage.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Storage;
using Orleans.TestingHost;

namespace AsdOrleans.Grains.Tests.Storage;

/// <summary>The provider registered in a real (in-process) silo, with grains using <c>[PersistentState]</c>.</summary>
public sealed class SqliteGrainStorageClusterTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string NamedPath => _folder.File("named/grains.db");
    private string DefaultPath => _folder.File("default/grains.db");

    private async Task<InProcessTestCluster> StartCluster(string? namedPath = null)
    {
        var builder = new InProcessTestClusterBuilder(1);
        var path = namedPath ?? NamedPath;
        builder.ConfigureSilo((_, silo) => silo
            .AddSqliteGrainStorage(SqliteStorageTestGrain.ProviderName, o => o.DatabasePath = path)
            .AddSqliteGrainStorageAsDefault(o => o.DatabasePath = DefaultPath));
        var cluster = builder.Build();
        try
        {
            await cluster.DeployAsync();
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
        return cluster;
    }

    private static async Task StopCluster(InProcessTestCluster cluster)
    {
        await cluster.StopAllSilosAsync();
        await cluster.DisposeAsync();
    }

    [Fact]
    public async Task State_written_and_cleared_by_grains_is_there_after_a_restart_on_the_same_file()
    {
        var first = await StartCluster();
        try
        {
            await first.Client.GetGrain<ISqliteStorageTestGrain>("kept").Set(41, "forty-one");
            await first.Client.GetGrain<ISqliteStorageTestGrain>("kept").Set(42, "forty-two");
            await first.Client.GetGrain<ISqliteStorageTestGrain>("cleared").Set(7, "seven");
            await first.Client.GetGrain<ISqliteStorageTestGrain>("cleared").Clear();
            await first.Client.GetGrain<IDefaultStorageTestGrain>("default").Set(3, "three");

            // Registered as keyed IGrainStorage services, "Default" also as the unkeyed one.
            var services = first.Silos[0].ServiceProvider;
            var named = Assert.IsType<SqliteGrainStorage>(services.GetRequiredKeyedService<IGrainStorage>(SqliteStorageTestGrain.ProviderName));
            Assert.Equal(NamedPath, named.DatabasePath);
            var asDefault = Assert.IsType<SqliteGrainStorage>(services.GetRequiredService<IGrainStorage>());
            Assert.Equal(DefaultPath, asDefault.DatabasePath);

            // The provider's serializer is Orleans' binary format, not the silo-wide default (JSON in Orleans 10).
            var options = services.GetRequiredService<IOptionsMonitor<SqliteGrainStorageOptions>>();
            Assert.IsType<CompactOrleansStorageSerializer>(options.Get(SqliteStorageTestGrain.ProviderName).GrainStorageSerializer);
        }
        finally
        {
            await StopCluster(first);
        }

        var second = await StartCluster();
        try
        {
            var kept = await second.Client.GetGrain<ISqliteStorageTestGrain>("kept").Get();
            Assert.Equal(42, kept.Value);
            Assert.Equal("forty-two", kept.Text);
            Assert.Equal([41, 42], kept.History);
            Assert.True(kept.RecordExists);
            Assert.Equal("2", kept.ETag);

            var cleared = await second.Client.GetGrain<ISqliteStorageTestGrain>("cleared").Get();
            Assert.Equal(0, cleared.Value);
            Assert.Empty(cleared.History);
            Assert.False(cleared.RecordExists);

            var viaDefault = await second.Client.GetGrain<IDefaultStorageTestGrain>("default").Get();
            Assert.Equal(3, viaDefault.Value);
            Assert.True(viaDefault.RecordExists);

            var never = await second.Client.GetGrain<ISqliteStorageTestGrain>("never").Get();
            Assert.False(never.RecordExists);
            Assert.Null(never.ETag);
        }
        finally
        {
            await StopCluster(second);
        }

        // The payload on disk is Orleans' binary format, not JSON text.
        var payload = ReadPayload(NamedPath, "kept");
        Assert.NotEqual((byte)'{', payload[0]);
    }

    [Fact]
    public async Task Two_hundred_grains_writing_five_times_each_concurrently_all_persist()
    {
        const int grains = 200, writes = 5;
        var cluster = await StartCluster();
        try
        {
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, grains).Select(async g =>
            {
                var grain = cluster.Client.GetGrain<ISqliteStorageTestGrain>($"machine-{g}");
                for (var w = 1; w <= writes; w++)
                    await grain.Set(w, $"g{g}w{w}");
            }));
            clock.Stop();
            TestContext.Current.SendDiagnosticMessage(
                $"SQLite grain storage: {grains * writes} grain writes (each one call, one durable write) in {clock.ElapsedMilliseconds} ms, " +
                $"{grains * writes / clock.Elapsed.TotalSeconds:F0} writes/s through the silo.");
        }
        finally
        {
            await StopCluster(cluster);
        }

        using var connection = new SqliteConnection($"Data Source={NamedPath};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*), min(version), max(version) FROM grain_state WHERE state_name = 'state'";
        using var reader = command.ExecuteReader();
        Assert.True(reader.Read());
        Assert.Equal(grains, reader.GetInt64(0));
        Assert.Equal(writes, reader.GetInt64(1));
        Assert.Equal(writes, reader.GetInt64(2));
    }

    [Fact]
    public async Task A_corrupt_database_file_stops_the_silo_at_startup_with_an_error_naming_the_path()
    {
        var path = _folder.File("corrupt/grains.db");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllBytesAsync(path, [.. Enumerable.Repeat((byte)0x5A, 16384)]);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => StartCluster(path));
        Assert.Contains(path, error.ToString());
        Assert.Contains("not a database", error.ToString());
    }

    [Fact]
    public async Task A_silo_configured_without_a_database_path_refuses_to_start()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => StartCluster(""));
        Assert.Contains(nameof(SqliteGrainStorageOptions.DatabasePath), error.ToString());
    }

    private static byte[] ReadPayload(string path, string key)
    {
        using var connection = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT payload FROM grain_state WHERE grain_id LIKE $pattern";
        command.Parameters.AddWithValue("$pattern", "%/" + key);
        return (byte[])command.ExecuteScalar()!;
    }
}
