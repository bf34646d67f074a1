using Orleans.Concurrency;

namespace AsdOrleans.Abstractions;

/// <summary>The ids of all configured machines, so operators and labellers can list them (key 0). A machine grain
/// registers itself when it is configured or enrolled; callers never need to.</summary>
public interface IMachineRegistryGrain : IGrainWithIntegerKey
{
    /// <summary>Lists <paramref name="machineId"/> (idempotent); returns once a write that holds it has completed.</summary>
    /// <remarks>Interleaves, so that registrations arriving while a write is in flight share the next write.</remarks>
    [AlwaysInterleave]
    Task Register(string machineId);
    Task<IReadOnlyList<string>> List();

    /// <summary>A machine says whether it holds pending label requests (idempotent); returns once a write that holds it has completed.</summary>
    /// <remarks>Interleaves, like <see cref="Register"/>; a listing waiting on that machine must not deadlock.</remarks>
    [AlwaysInterleave]
    Task SetPending(string machineId, bool hasPendingRequests);

    /// <summary>Pending label requests of every machine that holds any, asked in parallel: oldest first (ties by machine id,
    /// then as each machine orders them), at most <paramref name="limit"/>.</summary>
    /// <remarks>Interleaves: a machine that is registering itself while this waits on it must not deadlock.</remarks>
    [AlwaysInterleave]
    Task<IReadOnlyList<LabelRequest>> GetPendingLabelRequests(int limit);
}
