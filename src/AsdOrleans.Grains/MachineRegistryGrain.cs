using System.IO.Hashing;
using System.Runtime.InteropServices;
using AsdOrleans.Abstractions;
using AsdOrleans.Grains.Placement;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AsdOrleans.Grains;

/// <summary>A persisted set of machine ids: the registry's machines ("registry"), and those holding pending label requests ("pending-machines").</summary>
[GenerateSerializer]
public sealed class MachineRegistryState
{
    [Id(0)] public SortedSet<string> Machines { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>Which registry shard holds a machine: a stable hash of its id (XxHash3 of its UTF-16 code units), never
/// <see cref="string.GetHashCode()"/>, which differs between processes.</summary>
public static class MachineRegistryShards
{
    /// <summary>Fixed: changing it would move machines between shards that do not know them.</summary>
    public const int Count = 32;

    public static int Of(string machineId) => (int)(XxHash3.HashToUInt64(MemoryMarshal.AsBytes(machineId.AsSpan())) % Count);

    public static IMachineRegistryShardGrain For(IGrainFactory grains, string machineId) => grains.GetGrain<IMachineRegistryShardGrain>(Of(machineId));

    public static IEnumerable<IMachineRegistryShardGrain> All(IGrainFactory grains) => Enumerable.Range(0, Count).Select(i => grains.GetGrain<IMachineRegistryShardGrain>(i));
}

/// <summary>
/// The registry's front (key 0): answers listings from every shard in parallel and holds no ids itself. A registry
/// written before the shards existed (one set of every id under this grain) is moved into the shards on activation
/// and then cleared; until that completes, nothing else runs on this grain.
/// </summary>
[RequiresSiloRole(SiloRoles.Machines)]
public sealed class MachineRegistryGrain(
    [PersistentState("registry", MachineGrain.StorageName)] IPersistentState<MachineRegistryState> unsharded,
    [PersistentState("pending-machines", MachineGrain.StorageName)] IPersistentState<MachineRegistryState> unshardedPending)
    : Grain, IMachineRegistryGrain
{
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        await MoveToShards(unsharded, (shard, ids) => shard.Register(ids));
        await MoveToShards(unshardedPending, (shard, ids) => shard.SetPending(ids, true));
    }

    /// <summary>The shards first, then the clear: a crash in between repeats an idempotent move.</summary>
    private async Task MoveToShards(IPersistentState<MachineRegistryState> old, Func<IMachineRegistryShardGrain, IReadOnlyList<string>, Task> add)
    {
        if (!old.RecordExists) return;
        await Task.WhenAll(old.State.Machines.GroupBy(MachineRegistryShards.Of)
            .Select(shard => add(GrainFactory.GetGrain<IMachineRegistryShardGrain>(shard.Key), [.. shard])));
        await old.ClearStateAsync();
    }

    public Task Register(string machineId) => MachineRegistryShards.For(GrainFactory, machineId).Register([machineId]);

    public Task SetPending(string machineId, bool hasPendingRequests) => MachineRegistryShards.For(GrainFactory, machineId).SetPending([machineId], hasPendingRequests);

    public async Task<IReadOnlyList<string>> List()
    {
        var shards = await Task.WhenAll(MachineRegistryShards.All(GrainFactory).Select(s => s.List()));
        return shards.SelectMany(ids => ids).Order(StringComparer.Ordinal).ToList();
    }

    public async Task<IReadOnlyList<string>> ListPage(string? after, int limit)
    {
        if (limit < 1) throw new ArgumentException($"limit must be at least 1, got {limit}");
        var shards = await Task.WhenAll(MachineRegistryShards.All(GrainFactory).Select(s => s.ListPage(after, limit)));
        return shards.SelectMany(ids => ids).Order(StringComparer.Ordinal).Take(limit).ToList();
    }

    public async Task<int> Count() => (await Task.WhenAll(MachineRegistryShards.All(GrainFactory).Select(s => s.Count()))).Sum();

    public Task<bool> Contains(string machineId) => MachineRegistryShards.For(GrainFactory, machineId).Contains(machineId);

    public async Task<IReadOnlyList<LabelRequest>> GetPendingLabelRequests(int limit)
    {
        if (limit < 1) throw new ArgumentException($"limit must be at least 1, got {limit}");
        var shards = await Task.WhenAll(MachineRegistryShards.All(GrainFactory).Select(s => s.GetPendingLabelRequests(limit)));
        return LabelRequestOrder.Oldest(shards.SelectMany(r => r), limit);
    }
}

/// <summary>
/// One shard of the registry: its machines, written by a machine grain when it is configured or enrolled (rare next to
/// clips), and those of them with pending label requests, so that a label-request listing asks only those (an idle
/// machine is not woken to say it has nothing). Both sets are group-committed (<see cref="GroupCommittedIds"/>):
/// enrolling thousands of machines costs a write per batch, not per machine, of a list a shard's size.
/// </summary>
[RequiresSiloRole(SiloRoles.Machines)]
public sealed class MachineRegistryShardGrain : Grain, IMachineRegistryShardGrain
{
    private readonly IPersistentState<MachineRegistryState> _pending;
    private readonly GroupCommittedIds _machines, _withRequests;

    private readonly ILogger _logger;

    public MachineRegistryShardGrain(
        [PersistentState("registry", MachineGrain.StorageName)] IPersistentState<MachineRegistryState> state,
        [PersistentState("pending-machines", MachineGrain.StorageName)] IPersistentState<MachineRegistryState> pending,
        ILogger<MachineRegistryShardGrain> logger)
    {
        _logger = logger;
        _pending = pending;
        _machines = new GroupCommittedIds(() => state.State.Machines, () => state.WriteStateAsync());
        _withRequests = new GroupCommittedIds(() => pending.State.Machines, () => pending.WriteStateAsync());
    }

    public Task Register(IReadOnlyList<string> machineIds) => _machines.Set(machineIds, member: true);

    public Task SetPending(IReadOnlyList<string> machineIds, bool hasPendingRequests) => _withRequests.Set(machineIds, hasPendingRequests);

    public async Task Unregister(IReadOnlyList<string> machineIds)
    {
        await _withRequests.Set(machineIds, member: false);
        await _machines.Set(machineIds, member: false);
    }

    public Task<IReadOnlyList<string>> List() => Task.FromResult<IReadOnlyList<string>>(_machines.Current());

    public Task<int> Count() => Task.FromResult(_machines.Count);

    public Task<bool> Contains(string machineId) => Task.FromResult(_machines.Contains(machineId));

    public Task<IReadOnlyList<string>> ListPage(string? after, int limit)
    {
        if (limit < 1) throw new ArgumentException($"limit must be at least 1, got {limit}");
        var ids = _machines.Current(); // ordinal order
        int start = after is null ? 0 : ids.BinarySearch(after, StringComparer.Ordinal) is var at && at >= 0 ? at + 1 : ~at;
        return Task.FromResult<IReadOnlyList<string>>(ids.Skip(start).Take(limit).ToList());
    }

    public async Task<IReadOnlyList<LabelRequest>> GetPendingLabelRequests(int limit)
    {
        if (limit < 1) throw new ArgumentException($"limit must be at least 1, got {limit}");
        // A shard written before the pending index existed: ask every machine once and index what they hold.
        bool indexed = _pending.RecordExists;
        var ids = indexed ? _withRequests.Current() : _machines.Current(); // copied before the first await: calls interleave
        var faults = ServiceProvider.GetService<IClusterFaults>();
        var lists = await Task.WhenAll(ids.Select(id => PendingOf(id, limit, faults)));
        if (!indexed)
            await _withRequests.Set([.. lists.Where(l => l.Count > 0).Select(l => l[0].MachineId)], member: true, writeAnyway: true);
        return LabelRequestOrder.Oldest(lists.SelectMany(l => l), limit);
    }

    /// <summary>A machine's pending requests; none from a machine that cannot be read (the listing names the others'), so
    /// one damaged machine does not hide a plant's queue. A fault a retry may get past fails the listing, as does any
    /// failure where the silo names no <see cref="IClusterFaults"/>.</summary>
    private async Task<IReadOnlyList<LabelRequest>> PendingOf(string machineId, int limit, IClusterFaults? faults)
    {
        try
        {
            return await GrainFactory.GetGrain<IMachineGrain>(machineId).GetPendingLabelRequests(limit);
        }
        catch (Exception e) when (faults is not null && !faults.IsClusterFault(e))
        {
            _logger.LogWarning(e, "machine {Machine} cannot be read; the label-request listing goes on without it", machineId);
            return [];
        }
    }
}

internal static class LabelRequestOrder
{
    /// <summary>Oldest first, ties by machine id, then in the order given (each machine's own order); at most <paramref name="limit"/>.</summary>
    public static IReadOnlyList<LabelRequest> Oldest(IEnumerable<LabelRequest> requests, int limit)
        => requests.OrderBy(r => r.RequestedAt).ThenBy(r => r.MachineId, StringComparer.Ordinal).Take(limit).ToList();
}
