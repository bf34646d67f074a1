using AsdOrleans.Abstractions;
using AsdOrleans.Grains.Placement;
using Orleans.Storage;

namespace AsdOrleans.Grains;

[GenerateSerializer]
public sealed class AlertIndexState
{
    /// <summary>Oldest first.</summary>
    [Id(0)] public List<IndexedAlert> Alerts { get; set; } = [];
    /// <summary>Alerts the shard has ever taken, so the last of <see cref="Alerts"/> is number Added − 1 (0 in states
    /// written before the alert webhook: read as <see cref="Alerts"/>' count).</summary>
    [Id(1)] public long Added { get; set; }
}

/// <summary>The alert index's shards: the machine registry's shard of a machine id, so one hash places both.</summary>
public static class AlertIndexShards
{
    public static IAlertIndexGrain For(IGrainFactory grains, string machineId) => grains.GetGrain<IAlertIndexGrain>(MachineRegistryShards.Of(machineId));

    public static IEnumerable<IAlertIndexGrain> All(IGrainFactory grains) =>
        Enumerable.Range(0, MachineRegistryShards.Count).Select(i => grains.GetGrain<IAlertIndexGrain>(i));
}

/// <summary>
/// One shard of the plant-wide alert index (<see cref="IAlertIndexGrain"/>): the newest <see cref="Capacity"/> alerts of
/// its machines, in arrival order. Written behind at most every <see cref="FlushInterval"/> and on deactivation, like a
/// score history: a crash loses at most the last interval's alerts here, never in the machine's own history. While a
/// silo leaves (<see cref="WriteThroughWindow"/>) each alert is written as it comes.
/// </summary>
[RequiresSiloRole(SiloRoles.Machines)]
public sealed class AlertIndexGrain(
    [PersistentState("alerts", MachineGrain.StorageName)] IPersistentState<AlertIndexState> state, IServiceProvider services) : Grain, IAlertIndexGrain, IWritesBehind, IWritesBehindSoon
{
    public const int Capacity = 1_000;
    public static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(5);
    private bool _dirty;
    private ArmedSteadyTimer _flushTimer = null!;
    /// <summary>Alerts numbered below this are on storage.</summary>
    private long _written;
    private readonly bool _webhook = services.GetService(typeof(IAlertWebhookSender)) is not null;
    private readonly WriteThroughWindow? _writeThrough = services.GetService(typeof(WriteThroughWindow)) as WriteThroughWindow;

    private List<IndexedAlert> Alerts => state.State.Alerts;

    /// <summary>The number of <see cref="Alerts"/>' first.</summary>
    private long FirstNumber => state.State.Added - Alerts.Count;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _flushTimer = new ArmedSteadyTimer(this, Flush, FlushInterval);
        if (state.State.Added < Alerts.Count) state.State.Added = Alerts.Count;
        _written = state.State.Added;
        return Task.CompletedTask;
    }

    /// <summary>Written at the flush timer's next tick, or now while a silo leaves (<see cref="WriteThroughWindow"/>).</summary>
    private Task MarkDirty()
    {
        _dirty = true;
        if (_writeThrough?.IsOpen == true)
            return Flush(CancellationToken.None);
        _flushTimer.Arm();
        return Task.CompletedTask;
    }

    public Task WriteNow() => Flush(CancellationToken.None);

    public void WriteSoon()
    {
        if (_dirty) _flushTimer.FireNow();
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) => Flush(cancellationToken);

    public Task Add(string machineId, ScorePoint point)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(machineId);
        ArgumentNullException.ThrowIfNull(point);
        Alerts.Add(new IndexedAlert(machineId, point));
        state.State.Added++;
        // Trimmed in steps, so a full index does not shift its list on every alert.
        if (Alerts.Count >= Capacity + Capacity / 10)
            Alerts.RemoveRange(0, Alerts.Count - Capacity);
        return MarkDirty();
    }

    public Task MarkClosed(string machineId, string clipId, LabelRequestOutcome outcome, string? by)
    {
        for (int i = Alerts.Count - 1; i >= 0; i--)
        {
            var alert = Alerts[i];
            if (alert.Point.ClipId != clipId || alert.MachineId != machineId) continue;
            Alerts[i] = alert with { Point = alert.Point.Closed(outcome, by) };
            return MarkDirty();
        }
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<IndexedAlert>> Newest(DateTimeOffset? since, int limit)
    {
        if (limit < 1) throw new ArgumentException($"limit must be at least 1, got {limit}");
        var newest = new List<IndexedAlert>(Math.Min(limit, Alerts.Count));
        for (int i = Alerts.Count - 1; i >= Math.Max(0, Alerts.Count - Capacity) && newest.Count < limit; i--)
        {
            if (since is { } from && Alerts[i].Point.At < from) continue;
            newest.Add(Alerts[i]);
        }
        return Task.FromResult<IReadOnlyList<IndexedAlert>>(newest);
    }

    public Task<WrittenAlerts> Written(long from, int limit)
    {
        if (limit < 1) throw new ArgumentException($"limit must be at least 1, got {limit}");
        // Alerts trimmed before they were written count up to the written end only, so First never passes End.
        long first = Math.Max(from, Math.Min(FirstNumber, _written));
        var alerts = new List<IndexedAlert>();
        for (long n = first; n < _written && alerts.Count < limit; n++)
            alerts.Add(Alerts[(int)(n - FirstNumber)]);
        return Task.FromResult(new WrittenAlerts(first, _written, alerts));
    }

    private async Task Flush(CancellationToken cancellation)
    {
        if (!_dirty) return;
        _dirty = false;
        long added = state.State.Added;
        try
        {
            await state.WriteStateAsync(cancellation);
        }
        catch (Exception e)
        {
            if (e is InconsistentStateException)
            {
                DeactivateOnIdle(); // another activation wrote the shard (a silo left): the next call reads it again
                throw;
            }
            _dirty = true;
            _flushTimer.Arm(); // the next tick retries
            throw;
        }
        if (added > _written)
        {
            long from = _written;
            _written = added;
            if (_webhook) GrainFactory.GetGrain<IAlertWebhookGrain>(this.GetPrimaryKeyLong()).Wake(from).Ignore();
        }
    }
}
