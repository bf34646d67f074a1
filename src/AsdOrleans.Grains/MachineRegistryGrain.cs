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
    /// <summary>"pending-machines" only: per listed machine, its oldest open request's time when it was listed (a lower
    /// bound of it since; <see cref="IMachineRegistryShardGrain.SetHolding"/>). Empty in a state written before it.</summary>
    [Id(1)] public Dictionary<string, DateTimeOffset> OldestOpen { get; set; } = [];
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

    public async Task<IReadOnlyList<MachineStatus?>> SleepingStatuses(IReadOnlyList<string> machineIds)
    {
        ArgumentNullException.ThrowIfNull(machineIds);
        var found = new MachineStatus?[machineIds.Count];
        var byShard = Enumerable.Range(0, machineIds.Count).GroupBy(i => MachineRegistryShards.Of(machineIds[i])).ToList();
        await Task.WhenAll(byShard.Select(async shard =>
        {
            var ids = shard.Select(i => machineIds[i]).ToList();
            IReadOnlyList<MachineStatus?> statuses;
            try
            {
                statuses = await GrainFactory.GetGrain<IMachineRegistryShardGrain>(shard.Key).SleepingStatuses(ids);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return; // a shard on a silo of a release before the call, or one that failed: its machines are asked
            }
            int next = 0;
            foreach (var i in shard)
                found[i] = next < statuses.Count ? statuses[next++] : null;
        }));
        return found;
    }

    /// <summary>
    /// The time of each machine's oldest open request, as its last answer to a listing gave it (memory only). A machine's
    /// oldest open request only gets later: answers close requests, and new ones are made now. So a known time is never
    /// later than the truth, and a listing that asks machines in this order (time, then id), stopping once it holds
    /// <c>limit</c> requests that sort before the next machine's known time, misses nothing. Before, every listing woke
    /// every machine holding a request: in stop 54's soak a console's queue (every 15 s) kept ~1,300 idle machines of
    /// 1,500 active. Without a time here, the shard's kept one (<see cref="HoldingMachine.OldestOpenAtLeast"/>, persisted,
    /// so a restarted silo knows the order too); the later of the two is used, both being lower bounds. Unknown (neither:
    /// listed by a silo from before the shard kept times): asked first, all at once, as before. Two ways around the rule,
    /// each listing a request late rather than never: a silo clock behind the one that stamped the remembered time, and
    /// an acknowledged write lost by the store (a non-durable Redis failing over) that reopens an older request.
    /// </summary>
    private readonly Dictionary<string, DateTimeOffset> _oldestOpen = new(StringComparer.Ordinal);

    /// <summary>Machines with a known oldest request asked at once, in that order.</summary>
    private const int OrderedBatch = 8;

    public async Task<IReadOnlyList<LabelRequest>> GetPendingLabelRequests(int limit)
    {
        if (limit < 1) throw new ArgumentException($"limit must be at least 1, got {limit}");
        var shards = MachineRegistryShards.All(GrainFactory).ToList();
        var indexes = await Task.WhenAll(shards.Select(IndexOf));
        var found = new List<LabelRequest>();
        // A shard from before the index lists (and indexes) its machines itself, asking every one.
        foreach (var listed in await Task.WhenAll(shards.Where((_, i) => indexes[i] is null).Select(s => s.GetPendingLabelRequests(limit))))
            found.AddRange(listed);
        var holding = indexes.Where(ids => ids is not null).SelectMany(ids => ids!).ToDictionary(m => m.MachineId, m => m.OldestOpenAtLeast, StringComparer.Ordinal);
        foreach (var gone in _oldestOpen.Keys.Where(id => !holding.ContainsKey(id)).ToList())
            _oldestOpen.Remove(gone); // holds none now: forgotten, so memory follows the machines that hold requests
        // Split before any await: calls interleave, and the unknown machines are asked once, all at once.
        var bounds = holding.Select(m => (Id: m.Key, Oldest: Later(_oldestOpen.TryGetValue(m.Key, out var seen) ? seen : null, m.Value))).ToList();
        var known = bounds.Where(m => m.Oldest is not null).Select(m => (m.Id, Oldest: m.Oldest!.Value))
            .OrderBy(m => m.Oldest).ThenBy(m => m.Id, StringComparer.Ordinal).ToList();
        var faults = ServiceProvider.GetService<IClusterFaults>();
        var logger = ServiceProvider.GetRequiredService<ILogger<MachineRegistryGrain>>();
        foreach (var list in await Task.WhenAll(bounds.Where(m => m.Oldest is null).Select(m => PendingOf(GrainFactory, m.Id, limit, faults, logger))))
            Learn(list, found);
        for (int next = 0, batch; next < known.Count; next += batch)
        {
            if (found.Count >= limit && LabelRequestOrder.Oldest(found, limit)[^1] is var last
                && (known[next].Oldest > last.RequestedAt || (known[next].Oldest == last.RequestedAt && string.CompareOrdinal(known[next].Id, last.MachineId) > 0)))
                break; // every machine from here on holds only requests that sort after the listing's last
            // Each known machine holds a request: as many as the listing still lacks go at once (at most `limit` more).
            batch = Math.Max(OrderedBatch, limit - found.Count);
            foreach (var list in await Task.WhenAll(known.Skip(next).Take(batch).Select(m => PendingOf(GrainFactory, m.Id, limit, faults, logger))))
                Learn(list, found);
        }
        return LabelRequestOrder.Oldest(found, limit);
    }

    private static DateTimeOffset? Later(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a > b ? a : b;

    /// <summary>A shard's index; null (list it the old way) for a shard from before the index, or one whose answer failed
    /// (a silo of a release before this call existed, in a rolling upgrade): its own listing still answers.</summary>
    private static async Task<IReadOnlyList<HoldingMachine>?> IndexOf(IMachineRegistryShardGrain shard)
    {
        try
        {
            return await shard.HoldingMachines();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return null; // the shard's own listing then answers, or fails the listing with the shard's real fault
        }
    }

    /// <summary>Keeps a machine's answer and learns its oldest open request; an empty answer (its report that it holds
    /// none is on its way, or was lost) teaches nothing: a machine never learned stays unknown, one learned keeps its
    /// earlier time (still never later than the truth).</summary>
    private void Learn(IReadOnlyList<LabelRequest> requests, List<LabelRequest> found)
    {
        if (requests.Count == 0) return;
        found.AddRange(requests);
        _oldestOpen[requests[0].MachineId] = requests.Min(r => r.RequestedAt);
    }

    /// <summary>A machine's pending requests; none from a machine that cannot be read (the listing names the others'), so
    /// one damaged machine does not hide a plant's queue. A fault a retry may get past fails the listing, as does any
    /// failure where the silo names no <see cref="IClusterFaults"/>.</summary>
    internal static async Task<IReadOnlyList<LabelRequest>> PendingOf(IGrainFactory grains, string machineId, int limit, IClusterFaults? faults, ILogger logger)
    {
        try
        {
            return await grains.GetGrain<IMachineGrain>(machineId).GetPendingLabelRequests(limit);
        }
        catch (Exception e) when (faults is not null && !faults.IsClusterFault(e))
        {
            logger.LogWarning(e, "machine {Machine} cannot be read; the label-request listing goes on without it", machineId);
            return [];
        }
    }
}

/// <summary>
/// One shard of the registry: its machines, written by a machine grain when it is configured or enrolled (rare next to
/// clips), and those of them with pending label requests, so that a label-request listing asks only those (an idle
/// machine is not woken to say it has nothing). Both sets are group-committed (<see cref="GroupCommittedIds"/>):
/// enrolling thousands of machines costs a write per batch, not per machine, of a list a shard's size.
/// </summary>
/// <remarks>Collected after a day without calls rather than Orleans' default 15 minutes: the statuses it keeps of sleeping
/// machines (<see cref="SleepingMachines"/>) live in its memory, and a plant nobody lists for a quarter of an hour (a quiet
/// night) would otherwise lose them all, and its next listing wake every machine. 32 grains, each a shard's ids.</remarks>
[RequiresSiloRole(SiloRoles.Machines)]
[CollectionAgeLimit(Days = 1)]
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
        _withRequests = new GroupCommittedIds(() => pending.State.Machines, () =>
        {
            FoldOldestOpen(); // between writes, as the ids themselves
            return pending.WriteStateAsync();
        });
    }

    /// <summary>Times given to <see cref="SetHolding"/> and not yet in the state: they go with the next write of the ids.</summary>
    private readonly Dictionary<string, DateTimeOffset> _unwrittenOldestOpen = new(StringComparer.Ordinal);

    private void FoldOldestOpen()
    {
        var kept = _pending.State.OldestOpen;
        foreach (var (id, at) in _unwrittenOldestOpen)
            kept[id] = at;
        _unwrittenOldestOpen.Clear();
        foreach (var id in kept.Keys.Where(id => !_pending.State.Machines.Contains(id)).ToList())
            kept.Remove(id); // no longer listed: its next listing brings its own time
    }

    public Task SetHolding(string machineId, DateTimeOffset oldestOpen)
    {
        // Listed with a time already: that one is earlier, and still a lower bound. Otherwise listed (or given a time,
        // when a silo of the release before listed it) with this one.
        if (_withRequests.Contains(machineId) && (_unwrittenOldestOpen.ContainsKey(machineId) || _pending.State.OldestOpen.ContainsKey(machineId)))
            return Task.CompletedTask;
        _unwrittenOldestOpen[machineId] = oldestOpen;
        return _withRequests.Set([machineId], member: true, writeAnyway: true);
    }

    public Task<IReadOnlyList<HoldingMachine>?> HoldingMachines()
    {
        if (!_pending.RecordExists) return Task.FromResult<IReadOnlyList<HoldingMachine>?>(null);
        var kept = _pending.State.OldestOpen;
        return Task.FromResult<IReadOnlyList<HoldingMachine>?>([.. _withRequests.Current().Select(id => new HoldingMachine(id,
            _unwrittenOldestOpen.TryGetValue(id, out var unwritten) ? unwritten : kept.TryGetValue(id, out var at) ? at : null))]);
    }

    /// <summary>The last status of each sleeping machine of this shard (memory only; docs/decisions.md, stop 56).</summary>
    private readonly SleepingMachines _sleeping = new();

    public Task Awake(string machineId, Guid activation)
    {
        _sleeping.Awake(machineId, activation);
        return Task.CompletedTask;
    }

    public Task Asleep(string machineId, Guid activation, MachineStatus status, DateTimeOffset? validUntil)
    {
        // Only a listed machine's: a report that lands after its retirement's unlisting is not kept.
        if (_machines.Contains(machineId))
            _sleeping.Asleep(machineId, activation, status, validUntil);
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<MachineStatus?>> SleepingStatuses(IReadOnlyList<string> machineIds)
    {
        var now = DateTimeOffset.UtcNow;
        return Task.FromResult<IReadOnlyList<MachineStatus?>>([.. machineIds.Select(id => _sleeping.StatusOf(id, now))]);
    }

    public Task Register(IReadOnlyList<string> machineIds) => _machines.Set(machineIds, member: true);

    public Task SetPending(IReadOnlyList<string> machineIds, bool hasPendingRequests) => _withRequests.Set(machineIds, hasPendingRequests);

    public Task<IReadOnlyList<string>?> PendingMachines() => Task.FromResult<IReadOnlyList<string>?>(_pending.RecordExists ? _withRequests.Current() : null);

    public async Task Unregister(IReadOnlyList<string> machineIds)
    {
        foreach (var id in machineIds)
            _sleeping.Forget(id); // before any await: a listing meanwhile asks the machine (which says it is unknown)
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
        var lists = await Task.WhenAll(ids.Select(id => MachineRegistryGrain.PendingOf(GrainFactory, id, limit, faults, _logger)));
        if (!indexed)
            await _withRequests.Set([.. lists.Where(l => l.Count > 0).Select(l => l[0].MachineId)], member: true, writeAnyway: true);
        return LabelRequestOrder.Oldest(lists.SelectMany(l => l), limit);
    }
}

internal static class LabelRequestOrder
{
    /// <summary>Oldest first, ties by machine id, then in the order given (each machine's own order); at most <paramref name="limit"/>.</summary>
    public static IReadOnlyList<LabelRequest> Oldest(IEnumerable<LabelRequest> requests, int limit)
        => requests.OrderBy(r => r.RequestedAt).ThenBy(r => r.MachineId, StringComparer.Ordinal).Take(limit).ToList();
}

/// <summary>
/// A registry shard's memory of its machines' sleep (stop 56): the status each sleeping machine handed over when it
/// deactivated, so that a listing of machines answers for it without waking it. A machine's activation says it is awake
/// (with an id of its own) before it answers anything that could change its status, which drops the kept status; its
/// deactivation hands over its status, kept only if that activation is the one that last said it was awake. So a report
/// that arrives late (a deactivation whose call outlived its time-out, after the next activation began) is ignored
/// whatever the order of arrival, and no status of an earlier activation survives a later one's start. Memory only: a
/// restarted shard keeps nothing until its machines sleep again, and a machine awake across the restart is asked until
/// its next activation (the shard then knows no activation of it, so its sleep is not kept).
/// </summary>
internal sealed class SleepingMachines
{
    /// <summary>Machines awake now (as far as told), with the activation that last said so.</summary>
    private readonly Dictionary<string, Guid> _awake = new(StringComparer.Ordinal);
    /// <summary>Sleeping machines' statuses, each true until the machine wakes or, with label requests, until the oldest expires.</summary>
    private readonly Dictionary<string, (MachineStatus Status, DateTimeOffset? ValidUntil)> _asleep = new(StringComparer.Ordinal);

    public void Awake(string machineId, Guid activation)
    {
        _asleep.Remove(machineId);
        _awake[machineId] = activation;
    }

    /// <summary>Whether the status was kept: only from the activation that last said it was awake.</summary>
    public bool Asleep(string machineId, Guid activation, MachineStatus status, DateTimeOffset? validUntil)
    {
        if (!_awake.TryGetValue(machineId, out var latest) || latest != activation)
            return false;
        _awake.Remove(machineId);
        _asleep[machineId] = (status, validUntil);
        return true;
    }

    /// <summary>The kept status, if true at <paramref name="now"/>; one whose label request has expired meanwhile is
    /// dropped (the machine, asked, expires it: its counts change).</summary>
    public MachineStatus? StatusOf(string machineId, DateTimeOffset now)
    {
        if (!_asleep.TryGetValue(machineId, out var kept))
            return null;
        if (kept.ValidUntil is { } until && now >= until)
        {
            _asleep.Remove(machineId);
            return null;
        }
        return kept.Status;
    }

    public void Forget(string machineId)
    {
        _awake.Remove(machineId);
        _asleep.Remove(machineId);
    }
}
