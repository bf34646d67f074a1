using StackExchange.Redis;

namespace AsdOrleans.Silo;

/// <summary>A silo that cannot start as configured; the message says what to change.</summary>
public sealed class SiloConfigurationException(string message, Exception? inner = null) : InvalidOperationException(message, inner);

/// <summary>
/// Cluster silos acknowledge a label once Redis has it; that survives a Redis crash only with the append-only file
/// fsynced on every write (docs/design.md §2). A silo checks this at start and refuses a Redis that would lose acknowledged
/// writes, unless told the durability is the Redis provider's business (Asd:RequireDurableRedis = false).
/// </summary>
public static class RedisDurability
{
    public static void Require(string connection)
    {
        var options = ConfigurationOptions.Parse(connection);
        options.AllowAdmin = true; // CONFIG GET is an admin command
        options.AbortOnConnectFail = true;
        options.ConnectTimeout = 10_000;
        string appendOnly, appendFsync;
        try
        {
            using var redis = ConnectionMultiplexer.Connect(options);
            var settings = redis.GetServers()[0].ConfigGet("append*").ToDictionary(p => p.Key, p => p.Value, StringComparer.OrdinalIgnoreCase);
            appendOnly = settings.GetValueOrDefault("appendonly", "?");
            appendFsync = settings.GetValueOrDefault("appendfsync", "?");
        }
        catch (RedisConnectionException e)
        {
            throw new SiloConfigurationException($"cannot reach Redis at '{options.EndPoints.FirstOrDefault()}' to join the cluster: {e.Message}", e);
        }
        catch (RedisServerException e)
        {
            throw new SiloConfigurationException(
                $"cannot read Redis's durability settings (CONFIG GET: {e.Message}); if the Redis service itself guarantees that acknowledged " +
                "writes survive a crash (append-only file fsynced on every write), start the silo with Asd:RequireDurableRedis=false", e);
        }
        if (appendOnly != "yes" || appendFsync != "always")
            throw new SiloConfigurationException(
                $"Redis at '{options.EndPoints.FirstOrDefault()}' has appendonly {appendOnly} and appendfsync {appendFsync}: a crash of Redis could lose " +
                "acknowledged labels. Run it with 'appendonly yes' and 'appendfsync always' (redis.conf, or redis-cli CONFIG SET appendonly yes; " +
                "CONFIG SET appendfsync always), or start the silo with Asd:RequireDurableRedis=false to accept that risk");
    }
}
