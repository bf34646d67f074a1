using AsdOrleans.Abstractions;
using AsdOrleans.Grains.Placement;

namespace AsdOrleans.Grains;

/// <summary>A persisted set of machine ids: the registry's machines ("registry"), and those holding pending label requests ("pending-machines").</summary>
[GenerateSerializer]
public sealed class MachineRegistryState
{
    [Id(0)] public SortedSet<string> Machines { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>One registry of machine ids, written by a machine grain when it is configured or enrolled (rare next to
/// clips), and of the machines with pending label requests, so that a label-request listing asks only those (an idle
/// machine is not woken to say it has nothing). Both sets are group-committed (<see cref="GroupCommittedIds"/>):
/// enrolling thousands of machines costs a write per batch, not per machine, of a list that grows with the plant.</summary>
[RequiresSiloRole(SiloRoles.Machines)]
public sealed class MachineRegistryGrain : Grain, IMachineRegistryGrain
{
    private readonly IPersistentState<MachineRegistryState> _state;
    private readonly IPersistentState<MachineRegistryState> _pending;
    private readonly GroupCommittedIds _machines, _withRequests;

    public MachineRegistryGrain(
        [PersistentState("registry", MachineGrain.StorageName)] IPersistentState<MachineRegistryState> state,
        [PersistentState("pending-machines", MachineGrain.StorageName)] IPersistentState<MachineRegistryState> pending)
    {
        _state = state;
        _pending = pending;
        _machines = new GroupCommittedIds(() => _state.State.Machines, () => _state.WriteStateAsync());
        _withRequests = new GroupCommittedIds(() => _pending.State.Machines, () => _pending.WriteStateAsync());
    }

    public Task Register(string machineId) => _machines.Set(machineId, member: true);

    public Task SetPending(string machineId, bool hasPendingRequests) => _withRequests.Set(machineId, hasPendingRequests);

    public Task<IReadOnlyList<string>> List() => Task.FromResult<IReadOnlyList<string>>(_machines.Current());

    public async Task<IReadOnlyList<LabelRequest>> GetPendingLabelRequests(int limit)
    {
        if (limit < 1) throw new ArgumentException($"limit must be at least 1, got {limit}");
        // A registry written before the pending index existed: ask every machine once and index what they hold.
        bool indexed = _pending.RecordExists;
        var ids = indexed ? _withRequests.Current() : _machines.Current(); // copied before the first await: calls interleave
        var lists = await Task.WhenAll(ids.Select(id => GrainFactory.GetGrain<IMachineGrain>(id).GetPendingLabelRequests(limit)));
        if (!indexed)
            await Task.WhenAll(lists.Where(l => l.Count > 0).Select(l => _withRequests.Set(l[0].MachineId, member: true)).Append(_withRequests.Touch()));
        return lists.SelectMany(l => l).OrderBy(r => r.RequestedAt).ThenBy(r => r.MachineId, StringComparer.Ordinal).Take(limit).ToList();
    }
}
