using Orleans.Concurrency;

namespace AsdOrleans.Abstractions;

/// <summary>The ids of all configured machines, so operators and labellers can list them (key 0). A machine grain
/// registers itself when it is configured or enrolled; callers never need to. The ids live in
/// <see cref="IMachineRegistryShardGrain"/>s; this grain holds none and answers from all of them.</summary>
public interface IMachineRegistryGrain : IGrainWithIntegerKey
{
    /// <summary>Lists <paramref name="machineId"/> (idempotent); returns once a write that holds it has completed.</summary>
    /// <remarks>Interleaves, so that registrations arriving while a write is in flight share the next write.</remarks>
    [AlwaysInterleave]
    Task Register(string machineId);
    Task<IReadOnlyList<string>> List();
    /// <summary>At most <paramref name="limit"/> ids after <paramref name="after"/> (ordinal; null: from the first), in order.</summary>
    Task<IReadOnlyList<string>> ListPage(string? after, int limit);
    /// <summary>How many machines are listed (cheap: no ids cross the wire).</summary>
    Task<int> Count();
    /// <summary>Whether <paramref name="machineId"/> is listed (configured or enrolled), asked of its shard alone: a read
    /// of a machine checks this before it wakes the machine.</summary>
    /// <remarks>Interleaves: it only forwards to the shard.</remarks>
    [AlwaysInterleave]
    Task<bool> Contains(string machineId);

    /// <summary>A machine says whether it holds pending label requests (idempotent); returns once a write that holds it has completed.</summary>
    /// <remarks>Interleaves, like <see cref="Register"/>; a listing waiting on that machine must not deadlock.</remarks>
    [AlwaysInterleave]
    Task SetPending(string machineId, bool hasPendingRequests);

    /// <summary>Pending label requests of every machine that holds any, asked in parallel: oldest first (ties by machine id,
    /// then as each machine orders them), at most <paramref name="limit"/>.</summary>
    /// <remarks>Interleaves: a machine that is registering itself while this waits on it must not deadlock.</remarks>
    [AlwaysInterleave]
    Task<IReadOnlyList<LabelRequest>> GetPendingLabelRequests(int limit);

    /// <summary>For each of <paramref name="machineIds"/> (in that order), the status it handed its shard when it last went
    /// to sleep, still true now (<see cref="IMachineRegistryShardGrain.Asleep"/>); null where none is kept (the machine is
    /// awake, has not slept since its shard started, or its shard's silo is of a release before this call): ask the machine.
    /// A listing of machines reads these instead of waking sleeping machines.</summary>
    /// <remarks>Interleaves: it only forwards to the shards.</remarks>
    [AlwaysInterleave]
    Task<IReadOnlyList<MachineStatus?>> SleepingStatuses(IReadOnlyList<string> machineIds);
}

/// <summary>One shard of the machine registry (keys 0 to the shard count − 1; a machine's shard is fixed by a hash of
/// its id): its machines, and those of them holding pending label requests. Machine grains call their shard directly;
/// operators and labellers call <see cref="IMachineRegistryGrain"/>.</summary>
public interface IMachineRegistryShardGrain : IGrainWithIntegerKey
{
    /// <summary>Lists the machines (idempotent); returns once a write that holds them has completed.</summary>
    [AlwaysInterleave]
    Task Register(IReadOnlyList<string> machineIds);
    Task<IReadOnlyList<string>> List();
    Task<IReadOnlyList<string>> ListPage(string? after, int limit);
    Task<int> Count();
    Task<bool> Contains(string machineId);

    /// <summary>Machines say whether they hold pending label requests (idempotent); returns once a write that holds it has completed.</summary>
    [AlwaysInterleave]
    Task SetPending(IReadOnlyList<string> machineIds, bool hasPendingRequests);

    /// <summary>Removes retired machines from both sets (idempotent); returns once a write that holds it has completed.</summary>
    [AlwaysInterleave]
    Task Unregister(IReadOnlyList<string> machineIds);

    /// <summary>The machines of this shard that hold pending label requests (its index, from memory); null for a shard
    /// written before the index existed, which only <see cref="GetPendingLabelRequests"/> can list (and index).</summary>
    [AlwaysInterleave]
    Task<IReadOnlyList<string>?> PendingMachines();

    /// <summary>A machine lists itself as holding label requests, the oldest opened at <paramref name="oldestOpen"/>. The
    /// shard keeps the time from when the machine was first listed: a machine's oldest open request only gets later, so
    /// it stays a lower bound by which a listing orders machines without waking them, after a restart too.</summary>
    [AlwaysInterleave]
    Task SetHolding(string machineId, DateTimeOffset oldestOpen);

    /// <summary>As <see cref="PendingMachines"/>, each with the lower bound of its oldest open request's time that
    /// <see cref="SetHolding"/> kept (null: listed by a silo from before it was kept).</summary>
    [AlwaysInterleave]
    Task<IReadOnlyList<HoldingMachine>?> HoldingMachines();

    /// <summary>As <see cref="IMachineRegistryGrain.GetPendingLabelRequests"/>, over this shard's machines.</summary>
    [AlwaysInterleave]
    Task<IReadOnlyList<LabelRequest>> GetPendingLabelRequests(int limit);

    /// <summary>A machine's activation <paramref name="activation"/> has started (on activation, before it answers a call
    /// that could change its status): any status kept of it is dropped, and only this activation may hand over the next
    /// one. Memory only.</summary>
    [AlwaysInterleave]
    Task Awake(string machineId, Guid activation);

    /// <summary>The machine's activation <paramref name="activation"/> is going to sleep (deactivating, its state written)
    /// with <paramref name="status"/>, which stays its status until its next activation or, where it holds label requests,
    /// until <paramref name="validUntil"/>, when the oldest expires. Kept only when <paramref name="activation"/> is the
    /// one that last said it was <see cref="Awake"/>: a late report of an earlier activation is ignored. Memory only.</summary>
    [AlwaysInterleave]
    Task Asleep(string machineId, Guid activation, MachineStatus status, DateTimeOffset? validUntil);

    /// <summary>As <see cref="IMachineRegistryGrain.SleepingStatuses"/>, for machines of this shard.</summary>
    [AlwaysInterleave]
    Task<IReadOnlyList<MachineStatus?>> SleepingStatuses(IReadOnlyList<string> machineIds);
}

/// <summary>A machine holding label requests, and a time its oldest open request is no earlier than (null: unknown).</summary>
[GenerateSerializer]
public sealed record HoldingMachine([property: Id(0)] string MachineId, [property: Id(1)] DateTimeOffset? OldestOpenAtLeast);
