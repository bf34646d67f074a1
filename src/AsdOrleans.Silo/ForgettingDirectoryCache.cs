using Orleans.Configuration;
using Orleans.Runtime.GrainDirectory;

namespace AsdOrleans.Silo;

/// <summary>
/// The silo's cache of where grains live (Orleans' grain directory cache, a public extension point), which spreading
/// machines (<see cref="MachineSpreader"/>) can make forget a machine. Orleans keeps a silo's cached address of a grain
/// after that grain's activation on another silo has gone, and a message sent by it creates the activation again on the
/// silo it names, without placement: a machine woken on the silo that joined went back to the silo it left (57 of 58 in
/// the test, where the new silo had cached them). Forgotten on the silo that wakes it, the wake call asks the directory,
/// finds it in none, and is placed by the placement hint. Other silos' stale addresses are then harmless: a message
/// they send to the old silo finds the machine registered on its new one and is forwarded there, and the sender's cache
/// corrected (Orleans' own mechanism).
/// The cache itself is Orleans' own LRU (made by its public <see cref="GrainDirectoryCacheFactory"/> with the silo's
/// <see cref="GrainDirectoryOptions.CacheSize"/> and <see cref="GrainDirectoryOptions.MaximumCacheTTL"/>), only
/// wrapped so that the spreader can reach it: a cache of our own kept every address it ever saw until it was full and
/// then cached no new grain at all (every call to one asked the directory), and its entries never expired
/// (docs/decisions.md, "Review of stop 57's diff").
/// </summary>
public sealed class ForgettingDirectoryCache : IGrainDirectoryCache, IAsyncDisposable, IDisposable
{
    private readonly IGrainDirectoryCache _inner;
    private int _disposed;

    /// <param name="services">For Orleans' directory clock and instruments, where registered (may be empty).</param>
    /// <param name="options">The silo's directory options: the size and time to live of Orleans' LRU are taken from them.</param>
    public ForgettingDirectoryCache(IServiceProvider services, GrainDirectoryOptions options)
        => _inner = GrainDirectoryCacheFactory.CreateGrainDirectoryCache(services, new GrainDirectoryOptions
        {
            CachingStrategy = GrainDirectoryOptions.CachingStrategyType.LRU,
            CacheSize = options.CacheSize,
            MaximumCacheTTL = options.MaximumCacheTTL,
        });

    public void AddOrUpdate(GrainAddress value, int version) => _inner.AddOrUpdate(value, version);

    public bool Remove(GrainId key) => _inner.Remove(key);

    public bool Remove(GrainAddress key) => _inner.Remove(key);

    public void Clear() => _inner.Clear();

    public bool LookUp(GrainId key, out GrainAddress result, out int version) => _inner.LookUp(key, out result!, out version);

    public IEnumerable<(GrainAddress ActivationAddress, int Version)> KeyValues => _inner.KeyValues;

    /// <summary>Forgets every grain this silo has cached as living on <paramref name="silo"/> (one that is handing its
    /// machines over before it stops: a message sent by such an address would activate the grain there again, unplaced);
    /// how many were forgotten.</summary>
    public int ForgetSilo(SiloAddress silo)
    {
        int forgotten = 0;
        foreach (var (address, _) in _inner.KeyValues.ToList())
            if (silo.Equals(address.SiloAddress) && _inner.Remove(address))
                forgotten++;
        return forgotten;
    }

    /// <summary>A container disposed synchronously refuses a service that is only <see cref="IAsyncDisposable"/>: stopping the
    /// timer ends the LRU's expiry loop at once.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>Stops the LRU's expiry timer; DI may call it once per registration that hands out this instance.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        switch (_inner)
        {
            case IAsyncDisposable asyncDisposable: await asyncDisposable.DisposeAsync(); break;
            case IDisposable disposable: disposable.Dispose(); break;
        }
    }
}
