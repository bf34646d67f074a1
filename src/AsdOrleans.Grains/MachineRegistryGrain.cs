using AsdOrleans.Abstractions;
using AsdOrleans.Grains.Placement;

namespace AsdOrleans.Grains;

[GenerateSerializer]
public sealed class MachineRegistryState
{
    [Id(0)] public SortedSet<string> Machines { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>One registry of machine ids, written when a machine is configured (rare next to clips).</summary>
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
}
