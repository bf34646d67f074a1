using AsdOrleans.Tests;
using StackExchange.Redis;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// Stop 54's scaling audit: cluster silos given different data directories (three silos on one host, each with its own
/// --data-dir) started without a word, and then a labeller asking one silo for a clip another had stored got 404, the
/// request listed another silo's local path as if it were a gateway's reference, and requests of machines that moved
/// between silos lost their audio. A silo now compares its data directory with the cluster's (a GUID in the directory
/// and in Redis) and warns at start when it is not the shared one.
/// </summary>
public sealed class SharedClipVolumeTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-volume-").FullName;
    private RedisServer _redis = null!;

    public async ValueTask InitializeAsync() => _redis = await RedisServer.StartAsync(Directory.CreateDirectory(Path.Combine(_dir, "redis")).FullName);

    public async ValueTask DisposeAsync()
    {
        await _redis.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private string? Check(string dataFolder) => RedisStartupChecks.Check(_redis.Connection, requireDurable: true, "asd", "asd-orleans",
        TimeSpan.FromMinutes(2), Path.Combine(_dir, dataFolder));

    [Fact]
    public void Silos_on_the_shared_volume_start_quietly_and_one_on_a_directory_of_its_own_is_warned_about()
    {
        Assert.Null(Check("shared")); // the first silo names the volume
        Assert.True(File.Exists(Path.Combine(_dir, "shared", RedisStartupChecks.VolumeFile)));
        Assert.Null(Check("shared")); // the others on it, and its own restarts

        // A silo with an empty directory of its own (before stop 54: no warning at all).
        string? own = Check("silo-3-data");
        Assert.NotNull(own);
        Assert.StartsWith("warning: this silo's data directory", own);
        Assert.Contains(Path.Combine(_dir, "silo-3-data"), own);
        Assert.Contains("is not the one the cluster's other silos use (it has no clip-volume.id", own);
        Assert.Contains("get 404", own);
        // …and it does not adopt the cluster's name: it is warned about at every start, not only the first.
        Assert.False(File.Exists(Path.Combine(_dir, "silo-3-data", RedisStartupChecks.VolumeFile)));
        Assert.NotNull(Check("silo-3-data"));

        // A directory that another cluster's (or an older volume's) silos named.
        Directory.CreateDirectory(Path.Combine(_dir, "other"));
        File.WriteAllText(Path.Combine(_dir, "other", RedisStartupChecks.VolumeFile), Guid.NewGuid().ToString("N"));
        Assert.Contains("names another volume", Check("other"));
    }

    [Fact]
    public async Task A_cluster_whose_redis_was_emptied_takes_its_volume_back_and_a_replaced_volume_is_renamed_by_removing_the_key()
    {
        Assert.Null(Check("shared"));
        using var redis = await ConnectionMultiplexer.ConnectAsync(_redis.Connection);
        var db = redis.GetDatabase();
        string named = (await db.StringGetAsync(RedisStartupChecks.VolumeKey("asd-orleans")))!;
        Assert.Equal(File.ReadAllText(Path.Combine(_dir, "shared", RedisStartupChecks.VolumeFile)), named);

        // Redis lost its data (or is new): the volume's own name is taken again, not a new one.
        await db.KeyDeleteAsync(RedisStartupChecks.VolumeKey("asd-orleans"));
        Assert.Null(Check("shared"));
        Assert.Equal(named, (string?)await db.StringGetAsync(RedisStartupChecks.VolumeKey("asd-orleans")));

        // What the warning advises when the shared volume itself was replaced: remove the key; the first silo names it.
        Assert.NotNull(Check("new-volume"));
        await db.KeyDeleteAsync(RedisStartupChecks.VolumeKey("asd-orleans"));
        Assert.Null(Check("new-volume"));
        Assert.NotNull(Check("shared")); // the old volume is now the odd one out
    }
}
