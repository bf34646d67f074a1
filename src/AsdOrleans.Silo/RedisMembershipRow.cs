using StackExchange.Redis;

namespace AsdOrleans.Silo;

/// <summary>
/// One silo's row of Orleans' Redis membership table (the hash <c>{service}/members/{cluster}</c>: a field per silo, and
/// the table's <c>Version</c>), kept so that it can be written back after the store is lost. The table lives in the same
/// Redis as the grain state, so a flush or a Redis restarted empty takes every row and the version with it, and Orleans
/// re-creates neither while silos run (only a starting silo initialises the table). Without them, the silos went on
/// serving from their last view, but every status change failed its version check: a silo's stop waited two minutes for
/// it (Orleans' own limit), a silo killed afterwards could never be declared dead, and once a starting silo had made a new
/// table whose version passed the running silos' view, each of them found itself missing from a newer view and stopped
/// itself. So the store watch (<see cref="RedisStoreWatch"/>) remembers this silo's row and the version at each healthy
/// look, and when a loss ends writes them back before it takes writes again: the row only where it is missing (a restored
/// backup's row is newer), the version only upwards, and neither moved past what the cluster has seen, so no silo's view
/// changes and none finds itself missing. Each silo writes back its own row within one look of the loss's end.
/// </summary>
public sealed class RedisMembershipRow(string serviceId, string clusterId, string siloField)
{
    /// <summary>Orleans' Redis clustering key (<c>RedisClusteringOptions.DefaultCreateRedisKey</c>) and its version field.</summary>
    public static string TableKey(string serviceId, string clusterId) => $"{serviceId}/members/{clusterId}";
    public const string VersionField = "Version";

    private const string RestoreScript = """
        local restored = 0
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
          redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
          restored = 1
        end
        local version = tonumber(redis.call('HGET', KEYS[1], 'Version') or '') or -1
        if version < tonumber(ARGV[3]) then
          redis.call('HSET', KEYS[1], 'Version', ARGV[3])
          restored = restored + 2
        end
        return restored
        """;

    private readonly RedisKey _key = TableKey(serviceId, clusterId);
    private string? _row;
    private long _version = -1;

    /// <summary>Whether a row has been read to write back.</summary>
    public bool Known => _row is not null;

    /// <summary>Reads this silo's row and the table's version as they are now (a look at a healthy store).</summary>
    public async Task RememberAsync(IDatabase redis)
    {
        var values = await redis.HashGetAsync(_key, [siloField, VersionField]).ConfigureAwait(false);
        if (values[0].HasValue) _row = values[0].ToString();
        if (values[1].HasValue && long.TryParse(values[1].ToString(), System.Globalization.CultureInfo.InvariantCulture, out long version))
            _version = Math.Max(_version, version);
    }

    /// <summary>Writes the remembered row back where the table lacks it, and the version where the table's is lower.
    /// Returns what it wrote: (row, version).</summary>
    public async Task<(bool Row, bool Version)> RestoreAsync(IDatabase redis)
    {
        if (_row is null) return (false, false);
        long written = (long)await redis.ScriptEvaluateAsync(RestoreScript, [_key], [siloField, _row, _version]).ConfigureAwait(false);
        return ((written & 1) != 0, (written & 2) != 0);
    }
}
