using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace AsdOrleans.Silo;

/// <summary>
/// A cluster silo's one connection to Redis (a StackExchange.Redis multiplexer: one interactive socket and one for
/// pub/sub), shared by Orleans' Redis providers (membership, grain storage, reminders: their options' <c>CreateMultiplexer</c>
/// hands it over as shared, so they never dispose it), the store and durability watches and the readiness check. Before
/// stop 56 each opened its own: six multiplexers, twelve connections per silo. One configuration and one database
/// (the connection string's, as each had) serve them all; admin commands are allowed for the watches' INFO and CONFIG GET
/// (the silo's ACL user has +info +config|get), and a Redis down when it is first asked for does not fail it: it
/// reconnects in the background, as the watches' and the check's own did. Disposed with the host, after the silo stopped.
/// Not shared: the start-up check's connection (closed before the host starts) and
/// <see cref="UnreachableRedisDiagnosis"/>'s, which must be a fresh one to tell a refusal. docs/decisions.md, stop 56.
/// </summary>
public sealed class SiloRedisConnection(IOptions<SiloOptions> options) : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private Task<ConnectionMultiplexer>? _connecting;
    private bool _disposed;

    /// <summary>The silo's multiplexer, connected (or connecting) once; a failed first connect is tried again at the next ask.</summary>
    public Task<ConnectionMultiplexer> ConnectAsync()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_connecting is null || _connecting.IsFaulted || _connecting.IsCanceled)
            {
                var configuration = ConfigurationOptions.Parse(options.Value.Redis!);
                configuration.AllowAdmin = true; // INFO (store watch) and CONFIG GET (durability watch) are admin commands to StackExchange.Redis
                configuration.AbortOnConnectFail = false;
                _connecting = ConnectionMultiplexer.ConnectAsync(configuration);
            }
            return _connecting;
        }
    }

    /// <summary>An Orleans provider's <c>CreateMultiplexer</c>: this connection, marked shared (the provider does not dispose it).</summary>
    public async Task<(IConnectionMultiplexer Multiplexer, bool IsShared)> ForProvider<TOptions>(TOptions _)
        => (await ConnectAsync().ConfigureAwait(false), true);

    public async ValueTask DisposeAsync()
    {
        Task<ConnectionMultiplexer>? connecting;
        lock (_gate)
        {
            _disposed = true;
            connecting = _connecting;
        }
        if (connecting is null) return;
        try
        {
            await (await connecting.ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false); // one still connecting is disposed once it is made
        }
        catch (Exception e) when (e is RedisException or TimeoutException or OperationCanceledException)
        {
            // never connected: nothing to close
        }
    }
}
