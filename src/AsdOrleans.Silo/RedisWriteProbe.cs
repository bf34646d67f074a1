using StackExchange.Redis;

namespace AsdOrleans.Silo;

/// <summary>
/// Proves that Redis takes a write of the service's, as Orleans' membership and grain state writes need: SET of a probe
/// key under the service id (so an ACL user limited to other keys is refused as the silo's writes would be), with a
/// minute's expiry (a probe that a crash left behind goes by itself), then DEL. A full Redis (OOM), a read-only replica
/// (READONLY) and a user without the rights (NOPERM) refuse the SET; <see cref="RedisRefusals"/> names each.
/// Used by the start-up check and by /readyz.
/// </summary>
public static class RedisWriteProbe
{
    /// <param name="purpose">Names the probe key (<c>&lt;service id&gt;/&lt;purpose&gt;-probe/&lt;guid&gt;</c>), for whoever sees one in Redis.</param>
    public static async Task ProveAsync(IDatabase db, string serviceId, string purpose)
    {
        RedisKey probe = $"{serviceId}/{purpose}-probe/{Guid.NewGuid():N}";
        await db.StringSetAsync(probe, "1", TimeSpan.FromMinutes(1)).ConfigureAwait(false);
        await db.KeyDeleteAsync(probe).ConfigureAwait(false);
    }
}
