using AsdOrleans.Abstractions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.Providers;
using Orleans.Storage;

namespace AsdOrleans.Grains.Streams;

/// <summary>Silo wiring of the machine event streams (alerts, label requests).</summary>
public static class MachineEventStreamsRegistration
{
    /// <summary>
    /// How long published events stay in the stream provider's cache. Nothing here rewinds a stream (subscribers take
    /// events as they come; label requests themselves are grain state), so the cache only bridges delivery. Orleans'
    /// defaults (5 and 30 minutes) kept every event of the last half hour: at 1,000 clips/s about 0.35 GB on a silo
    /// (docs/decisions.md, "the event cache"). A subscriber more than this far behind misses events.
    /// </summary>
    public static readonly TimeSpan EventCacheMinTime = TimeSpan.FromSeconds(10), EventCacheMaxAge = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Adds the <see cref="MachineEventStreams.ProviderName"/> stream provider (Orleans memory streams) and keeps its
    /// subscriptions (the PubSub store, <see cref="ProviderConstants.DEFAULT_PUBSUB_PROVIDER_NAME"/>) in the grain
    /// storage named <paramref name="storageName"/> — the deployment's own store (SQLite or Redis) — unless a PubSub
    /// store is registered already. Call it after that storage is added.
    /// </summary>
    public static ISiloBuilder AddMachineEventStreams(this ISiloBuilder silo, string storageName = MachineGrain.StorageName)
    {
        ArgumentNullException.ThrowIfNull(silo);
        silo.AddMemoryStreams(MachineEventStreams.ProviderName, streams => streams.ConfigureCacheEviction(eviction => eviction.Configure(cache =>
        {
            cache.DataMinTimeInCache = EventCacheMinTime;
            cache.DataMaxAgeInCache = EventCacheMaxAge;
        })));
        silo.Services.TryAddKeyedSingleton<IGrainStorage>(ProviderConstants.DEFAULT_PUBSUB_PROVIDER_NAME,
            (services, _) => services.GetRequiredKeyedService<IGrainStorage>(storageName));
        return silo;
    }
}
