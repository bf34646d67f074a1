using AsdOrleans.Abstractions;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>A <see cref="SqliteMachineClusterTest"/> that reads alert-index shards' records straight from storage.</summary>
public abstract class AlertIndexClusterTest(Action<AsdOrleans.Storage.Sqlite.SqliteGrainStorageOptions>? storage = null) : SqliteMachineClusterTest(storage)
{
    protected static ScorePoint Alert(string clipId) => new(DateTimeOffset.UtcNow, clipId, 1, 0.9, 0.5, true, false);

    protected IGrainStorage Storage => Cluster.Silos[0].ServiceProvider.GetRequiredKeyedService<IGrainStorage>(MachineGrain.StorageName);

    /// <summary>A grain's record <paramref name="name"/> as storage holds it.</summary>
    protected async Task<GrainState<T>> Stored<T>(string name, IAddressable grain) where T : new()
    {
        var state = new GrainState<T>(new T());
        await Storage.ReadStateAsync(name, grain.GetGrainId(), state);
        return state;
    }

    /// <summary>The shard's record as storage holds it.</summary>
    protected async Task<GrainState<AlertIndexState>> Stored(IAlertIndexGrain index)
    {
        var state = new GrainState<AlertIndexState>(new AlertIndexState());
        await Storage.ReadStateAsync("alerts", index.GetGrainId(), state);
        return state;
    }
}
