using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace AsdOrleans.Silo;

/// <summary>
/// Tells a Redis that refuses the silo from one that cannot be reached. Existing connections outlive a password change
/// (<c>requirepass</c>, an ACL user's password); the reconnections after a dropped connection or a Redis restart are
/// refused, and StackExchange.Redis reports them as no connection available, without Redis's reply. A fresh
/// short-lived connection with the silo's Redis configuration, as the start-up check makes, hears the refusal
/// (NOAUTH/WRONGPASS, or a failed TLS handshake). One such connection at most every <see cref="Interval"/>: callers in
/// between share its answer.
/// </summary>
public sealed class UnreachableRedisDiagnosis(IOptions<SiloOptions> options)
{
    internal static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);
    /// <summary>Within readiness's 3 s: a Redis that does not answer at all is not waited for longer.</summary>
    internal static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(2);

    private readonly Lock _gate = new();
    private Task<RedisRefusal?>? _latest;
    private long _latestStarted;

    /// <summary>The refusal a fresh connection meets; null when it connects, cannot reach Redis, or the silo has no Redis.</summary>
    public Task<RedisRefusal?> RefusalAsync()
    {
        if (string.IsNullOrWhiteSpace(options.Value.Redis))
            return Task.FromResult<RedisRefusal?>(null);
        lock (_gate)
        {
            if (_latest is not null && Environment.TickCount64 - _latestStarted < Interval.TotalMilliseconds)
                return _latest;
            _latestStarted = Environment.TickCount64;
            return _latest = Connect(options.Value.Redis);
        }
    }

    private static async Task<RedisRefusal?> Connect(string connection)
    {
        var configuration = ConfigurationOptions.Parse(connection);
        configuration.AbortOnConnectFail = true; // throw the handshake's failure, do not retry in the background
        configuration.ConnectRetry = 1;
        configuration.ConnectTimeout = configuration.AsyncTimeout = configuration.SyncTimeout = (int)ConnectTimeout.TotalMilliseconds;
        try
        {
            await using var redis = await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
            await redis.GetDatabase().PingAsync().ConfigureAwait(false);
            return null;
        }
        catch (Exception e) // only decides which fault is reported: whatever the cause, the caller reports unreachable without a refusal
        {
            return e is RedisException ? RedisRefusals.Of(e) : null;
        }
    }
}
