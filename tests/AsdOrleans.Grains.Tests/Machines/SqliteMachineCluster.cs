using AsdOrleans.Grains.Placement;
using AsdOrleans.Grains.Tests.Storage;
using AsdOrleans.Storage.Sqlite;
using Microsoft.Data.Sqlite;
using Orleans.TestingHost;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>An in-process cluster (one silo unless told) whose machine grains keep their state in the SQLite file <c>databasePath</c>.</summary>
internal static class SqliteMachineCluster
{
    /// <param name="storage">Further storage options (the database path is set).</param>
    /// <param name="silo">Further silo configuration, applied before the silo roles.</param>
    /// <param name="client">Further client configuration.</param>
    public static async Task<InProcessTestCluster> StartAsync(string databasePath, Action<SqliteGrainStorageOptions>? storage = null, Action<ISiloBuilder>? silo = null, short silos = 1,
        Action<IClientBuilder>? client = null)
    {
        var builder = new InProcessTestClusterBuilder(silos);
        if (client is not null) builder.ConfigureClient(client);
        builder.ConfigureSilo((_, siloBuilder) =>
        {
            siloBuilder.AddSqliteGrainStorage(MachineGrain.StorageName, o =>
            {
                o.DatabasePath = databasePath;
                storage?.Invoke(o);
            });
            silo?.Invoke(siloBuilder);
            siloBuilder.AddAsdSiloRoles(SiloRoles.All);
        });
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }
}

/// <summary>A test class with its own <see cref="SqliteMachineCluster"/> in a fresh temporary folder, stopped and removed after its tests.</summary>
public abstract class SqliteMachineClusterTest(Action<SqliteGrainStorageOptions>? storage = null, Action<ISiloBuilder>? silo = null, short silos = 1) : IAsyncLifetime
{
    private readonly TempFolder _folder = new();

    protected InProcessTestCluster Cluster { get; private set; } = null!;

    /// <summary>The grain state database.</summary>
    protected string DatabasePath => _folder.File("grains.db");

    /// <summary>A connection of the test's own to the grain state database (unpooled: closed for real when disposed).</summary>
    protected SqliteConnection OpenDatabase()
    {
        var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        connection.Open();
        return connection;
    }

    /// <summary>Holds SQLite's write lock until disposed: the silo's writes then fail (busy), as in a storage outage.</summary>
    protected SqliteConnection HoldWriteLock()
    {
        var connection = OpenDatabase();
        using var begin = connection.CreateCommand();
        begin.CommandText = "BEGIN EXCLUSIVE";
        begin.ExecuteNonQuery();
        return connection;
    }

    public async ValueTask InitializeAsync() => Cluster = await SqliteMachineCluster.StartAsync(DatabasePath, storage, silo, silos);

    public async ValueTask DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        _folder.Dispose();
    }
}
