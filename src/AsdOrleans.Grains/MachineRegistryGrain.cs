using AsdOrleans.Abstractions;
using AsdOrleans.Grains.Placement;

namespace AsdOrleans.Grains;

[GenerateSerializer]
public sealed class MachineRegistryState
{
    [Id(0)] public SortedSet<string> Machines { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>One registry of machine ids, written by a machine grain when it is configured or enrolled (rare next to
/// clips); it fans label-request listings out to the machines.</summary>
[RequiresSiloRole(SiloRoles.Machines)]
public sealed class MachineRegistryGrain(
    [PersistentState("registry", MachineGrain.StorageName)] IPersistentState<MachineRegistryState> state) : Grain, IMachineRegistryGrain
{
    public async Task Register(string machineId)
    {
        if (state.State.Machines.Add(machineId))
            await state.WriteStateAsync();
    }

    public Task<IReadOnlyList<string>> List() => Task.FromResult<IReadOnlyList<string>>(state.State.Machines.ToList());

    public async Task<IReadOnlyList<LabelRequest>> GetPendingLabelRequests(int limit)
    {
        if (limit < 1) throw new ArgumentException($"limit must be at least 1, got {limit}");
        var ids = state.State.Machines.ToList(); // copied before the first await: Register may interleave
        var lists = await Task.WhenAll(ids.Select(id => GrainFactory.GetGrain<IMachineGrain>(id).GetPendingLabelRequests(limit)));
        return lists.SelectMany(l => l).OrderBy(r => r.RequestedAt).ThenBy(r => r.MachineId, StringComparer.Ordinal).Take(limit).ToList();
    }
}
