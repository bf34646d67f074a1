using AsdOrleans.Abstractions;
using AsdOrleans.Grains.Placement;

namespace AsdOrleans.Grains;

[GenerateSerializer]
public sealed class MachineRegistryState
{
    [Id(0)] public SortedSet<string> Machines { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>One registry of machine ids, written by a machine grain when it is configured or enrolled (rare next to
/// clips); it fans label-request listings out to the machines. Registrations are group-committed: one write holds
/// every id that arrived while the previous write was in flight, so enrolling thousands of machines costs a write per
/// batch, not per machine, of a list that grows with the plant.</summary>
[RequiresSiloRole(SiloRoles.Machines)]
public sealed class MachineRegistryGrain(
    [PersistentState("registry", MachineGrain.StorageName)] IPersistentState<MachineRegistryState> state) : Grain, IMachineRegistryGrain
{
    /// <summary>Ids registered but not yet in a completed write (they join the state only between writes, so the
    /// state is never changed while a write of it is in flight).</summary>
    private readonly SortedSet<string> _unwritten = new(StringComparer.Ordinal);
    /// <summary>Completes when the next write to start (which will hold every id in <see cref="_unwritten"/>) completes.</summary>
    private TaskCompletionSource? _nextWrite;
    private bool _writing;

    public Task Register(string machineId)
    {
        if (state.State.Machines.Contains(machineId) && !_unwritten.Contains(machineId))
            return Task.CompletedTask;
        _unwritten.Add(machineId);
        _nextWrite ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var written = _nextWrite.Task;
        if (!_writing)
            _ = WriteBatches();
        return written;
    }

    /// <summary>Writes until no registration waits: each round adds the waiting ids and writes the state once.</summary>
    private async Task WriteBatches()
    {
        _writing = true;
        try
        {
            while (_nextWrite is { } batch)
            {
                _nextWrite = null;
                var ids = _unwritten.ToList();
                state.State.Machines.UnionWith(ids);
                try
                {
                    await state.WriteStateAsync();
                    _unwritten.ExceptWith(ids);
                    batch.SetResult();
                }
                catch (Exception e)
                {
                    batch.SetException(e); // those callers see the failure; their ids stay unwritten and go with the next write
                }
            }
        }
        finally
        {
            _writing = false;
        }
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
