using AsdOrleans.Silo;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Runtime;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// The silo's grain directory cache (<see cref="ForgettingDirectoryCache"/>) behaves as Orleans' own LRU does, which it
/// replaces on machines-role silos: bounded by evicting, not by refusing new addresses, and with entries that expire.
/// docs/decisions.md, "Review of stop 57's diff".
/// </summary>
public sealed class ForgettingDirectoryCacheTests
{
    private static readonly SiloAddress Silo = SiloAddress.FromParsableString("127.0.0.1:11111@1");

    private static GrainAddress Address(int i) => new()
    {
        GrainId = GrainId.Create("machine", $"m{i}"),
        SiloAddress = Silo,
        ActivationId = ActivationId.NewId(),
    };

    private static ForgettingDirectoryCache Cache(int size, TimeSpan ttl)
        => new(new ServiceCollection().BuildServiceProvider(), new GrainDirectoryOptions { CacheSize = size, MaximumCacheTTL = ttl });

    [Fact]
    public async Task A_full_cache_still_caches_new_addresses_and_stays_bounded()
    {
        await using var cache = Cache(100, TimeSpan.FromMinutes(4));
        for (int i = 0; i < 1_000; i++)
            cache.AddOrUpdate(Address(i), i);

        // The address seen last is the one a caller is about to use: refusing it once full (the earlier cache) sent every
        // call to a grain first seen after the cache filled to the directory, for the silo's whole life.
        Assert.True(cache.LookUp(Address(999).GrainId, out var last, out int version));
        Assert.Equal(Address(999).GrainId, last.GrainId);
        Assert.Equal(999, version);
        Assert.InRange(cache.KeyValues.Count(), 1, 110);
    }

    [Fact]
    public async Task Entries_expire_after_the_directory_options_time_to_live()
    {
        await using var cache = Cache(100, TimeSpan.FromMilliseconds(200));
        var address = Address(1);
        cache.AddOrUpdate(address, 1);
        Assert.True(cache.LookUp(address.GrainId, out _, out _));
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (cache.LookUp(address.GrainId, out _, out _) is true && waited.Elapsed < TimeSpan.FromSeconds(10))
            await Task.Delay(TimeSpan.FromMilliseconds(700), TestContext.Current.CancellationToken); // untouched for more than the TTL
        Assert.False(cache.LookUp(address.GrainId, out _, out _), "an address nobody used for longer than MaximumCacheTTL is forgotten, as in Orleans' LRU");
    }

    [Fact]
    public async Task Forgetting_a_machine_and_removing_a_gone_activation_work_as_in_orleans()
    {
        await using var cache = Cache(100, TimeSpan.FromMinutes(4));
        var address = Address(1);
        cache.AddOrUpdate(address, 1);
        Assert.True(cache.Remove(address.GrainId));
        Assert.False(cache.LookUp(address.GrainId, out _, out _));

        // Orleans removes by grain and silo (MatchesGrainIdAndSilo), whatever activation the invalidation names.
        cache.AddOrUpdate(address, 1);
        Assert.True(cache.Remove(new GrainAddress { GrainId = address.GrainId, SiloAddress = Silo, ActivationId = ActivationId.NewId() }));
        Assert.False(cache.LookUp(address.GrainId, out _, out _));
    }

    [Fact]
    public void A_container_disposed_synchronously_disposes_it()
    {
        var services = new ServiceCollection();
        services.AddSingleton(s => new ForgettingDirectoryCache(s, new GrainDirectoryOptions()));
        services.AddSingleton<Orleans.Runtime.GrainDirectory.IGrainDirectoryCache>(s => s.GetRequiredService<ForgettingDirectoryCache>());
        var provider = services.BuildServiceProvider();
        provider.GetRequiredService<Orleans.Runtime.GrainDirectory.IGrainDirectoryCache>().AddOrUpdate(Address(1), 1);
        provider.Dispose(); // an IAsyncDisposable-only service would throw here
    }
}
