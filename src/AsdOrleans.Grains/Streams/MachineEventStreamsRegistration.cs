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
    /// Adds the <see cref="MachineEventStreams.ProviderName"/> stream provider (Orleans memory streams) and keeps its
    /// subscriptions (the PubSub store, <see cref="ProviderConstants.DEFAULT_PUBSUB_PROVIDER_NAME"/>) in the grain
    /// storage named <paramref name="storageName"/> — the deployment's own store (SQLite or Redis) — unless a PubSub
    /// store is registered already. Call it after that storage is added.
    /// </summary>
    public static ISiloBuilder AddMachineEventStreams(this ISiloBuilder silo, string storageName = MachineGrain.StorageName)
    {
        ArgumentNullException.ThrowIfNull(silo);
        silo.AddMemoryStreams(MachineEventStreams.ProviderName);
        silo.Services.TryAddKeyedSingleton<IGrainStorage>(ProviderConstants.DEFAULT_PUBSUB_PROVIDER_NAME,
            (services, _) => services.GetRequiredKeyedService<IGrainStorage>(storageName));
        return silo;
    }
}
