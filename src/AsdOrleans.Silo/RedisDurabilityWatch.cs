using StackExchange.Redis;

namespace AsdOrleans.Silo;

/// <summary>
/// Reads Redis's append-only settings every <see cref="Period"/> while a cluster silo runs (with Asd:RequireDurableRedis),
/// as the start-up check read them once: an operator's CONFIG SET appendonly no, or a Redis restarted from a redis.conf
/// that never had the settings CONFIG SET gave it, made the silo go on acknowledging labels that a crash of Redis would
/// lose. While <see cref="Problem"/> is set, the API refuses writes (503, no Retry-After: an operator must act) and
/// /readyz is 503 naming it. A Redis that cannot be asked is left to the readiness check's own probe.
/// </summary>
public sealed class RedisDurabilityWatch(SiloRedisConnection connection, ILogger<RedisDurabilityWatch> logger)
    : BackgroundService
{
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(5);

    /// <summary>What an API client is told (Redis's address and settings are the operator's: /readyz and the log).</summary>
    public const string ClientDetail = "the silo takes no writes now: its Redis would not keep them through a crash of Redis; "
        + "an operator must restore Redis's durability (the silo's log and /readyz say what)";

    private volatile string? _problem;

    /// <summary>Why acknowledged writes would not survive a Redis crash now; null while they would, or not yet known.</summary>
    public string? Problem => _problem;

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        ConnectionMultiplexer redis; // the silo's one connection (SiloRedisConnection: admin commands allowed for CONFIG GET)
        try
        {
            redis = await connection.ConnectAsync();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A failed watch must not stop the silo (a BackgroundService's failure does): the start-up check passed.
            logger.LogError(e, "cannot watch Redis's durability settings; they were checked at start only");
            return;
        }
        using var timer = new PeriodicTimer(Period);
        do
        {
            try
            {
                if (redis.GetServers().FirstOrDefault(s => s.IsConnected && !s.IsReplica) is { } server)
                {
                    Set(RedisStartupChecks.DurabilityProblem(server.EndPoint.ToString() ?? "?", await server.ConfigGetAsync(RedisStartupChecks.DurabilitySettings)));
                }
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                // unreachable or refusing: the readiness check's write probe names it; the last answer stands
            }
        }
        while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false));
    }

    private void Set(string? problem)
    {
        if (problem == _problem) return;
        _problem = problem;
        if (problem is not null)
            logger.LogError("refusing writes: {Problem}", problem);
        else
            logger.LogInformation("taking writes again: Redis's append-only file is fsynced on every write");
    }
}
