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
/// score history. An alert lost here before its write (a crash, or a duplicate activation that lost a write race) comes
/// again from its machine, which sends it until a receipt says it is written (<see cref="Index"/>,
/// <c>Telemetry.AlertOutbox</c>). While a silo leaves (<see cref="WriteThroughWindow"/>) each alert is written as it comes.
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
    /// <summary>Names this activation in its receipts: a number another activation gave means nothing here.</summary>
    private readonly Guid _activation = Guid.NewGuid();
    /// <summary>Numbers of alerts trimmed before they were written (writes failing while alerts kept coming), newest
    /// last: a receipt for one of them must not turn written when the written end passes it.</summary>
    private readonly List<(long From, long To)> _trimmedUnwritten = [];
    private const int TrimmedUnwrittenKept = 64;
    /// <summary>Numbers of written alerts changed since (an outcome marked): not on storage as they are until the next write.</summary>
    private readonly HashSet<long> _changedUnwritten = [];

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
        {
            int drop = Alerts.Count - Capacity;
            long from = FirstNumber, to = from + drop;
            if (to > _written)
            {
                _trimmedUnwritten.Add((Math.Max(from, _written), to));
                if (_trimmedUnwritten.Count > TrimmedUnwrittenKept) _trimmedUnwritten.RemoveAt(0);
            }
            Alerts.RemoveRange(0, drop);
        }
        return MarkDirty();
    }

    public async Task<AlertIndexReceipt> Index(string machineId, ScorePoint point, AlertIndexReceipt? earlier)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(machineId);
        ArgumentNullException.ThrowIfNull(point);
        long number;
        if (earlier is { } receipt && receipt.Activation == _activation && !TrimmedUnwritten(receipt.Number))
            number = receipt.Number; // taken here: written once the written end passes it (or trimmed after its write)
        else if (IndexOf(machineId, point.ClipId, point.ClipIndex) is int found)
            number = FirstNumber + found;
        else
        {
            await Add(machineId, point);
            return new AlertIndexReceipt(_activation, state.State.Added - 1, state.State.Added - 1 < _written);
        }
        long held = number - FirstNumber;
        if (point.RequestOutcome is { } outcome && held >= 0 && held < Alerts.Count)
            await MarkOutcome((int)held, outcome, point.ClosedBy); // closed while the alert was unconfirmed
        return new AlertIndexReceipt(_activation, number, IsWritten(number));
    }

    /// <summary>Marks the alert at <paramref name="held"/> with its request's outcome, unless it has it already; a change
    /// is unwritten until the next flush.</summary>
    private Task MarkOutcome(int held, LabelRequestOutcome outcome, string? by)
    {
        var point = Alerts[held].Point;
        // No name (an outcome a machine restored from its state) keeps the one written with the same outcome.
        if (point.RequestOutcome == outcome && (point.ClosedBy == by || by is null)) return Task.CompletedTask;
        Alerts[held] = Alerts[held] with { Point = point.Closed(outcome, by) };
        return Changed(FirstNumber + held);
    }

    /// <summary>Whether alert <paramref name="number"/> is on storage as the shard holds it.</summary>
    private bool IsWritten(long number) => number < _written && !_changedUnwritten.Contains(number);

    /// <summary>An alert held here changed: written at the next flush, and not written as it is until then.</summary>
    private Task Changed(long number)
    {
        if (number < _written) _changedUnwritten.Add(number);
        return MarkDirty();
    }

    private bool TrimmedUnwritten(long number) => _trimmedUnwritten.Exists(range => number >= range.From && number < range.To);

    /// <summary>Where the shard holds a machine's alert for a clip (at <paramref name="clipIndex"/> in its stream, when
    /// given: a device may reuse a clip id long after), newest first (a resend is of a recent alert).</summary>
    private int? IndexOf(string machineId, string clipId, long? clipIndex = null)
    {
        for (int i = Alerts.Count - 1; i >= 0; i--)
            if (Alerts[i].Point.ClipId == clipId && Alerts[i].MachineId == machineId && (clipIndex is null || Alerts[i].Point.ClipIndex == clipIndex))
                return i;
        return null;
    }

    public Task MarkClosed(string machineId, string clipId, LabelRequestOutcome outcome, string? by) => Close(machineId, clipId, outcome, by);

    public async Task<bool> Close(string machineId, string clipId, LabelRequestOutcome outcome, string? by)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(machineId);
        ArgumentException.ThrowIfNullOrWhiteSpace(clipId);
        if (IndexOf(machineId, clipId) is not int held)
            return true; // nothing to mark here: an alert still on its way carries its outcome itself (AlertOutbox)
        await MarkOutcome(held, outcome, by);
        return IsWritten(FirstNumber + held);
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
        var changed = _changedUnwritten.Count > 0 ? _changedUnwritten.ToList() : null; // those changed before this write
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
        if (changed is not null) _changedUnwritten.ExceptWith(changed);
        if (added > _written)
        {
            long from = _written;
            _written = added;
            if (_webhook) GrainFactory.GetGrain<IAlertWebhookGrain>(this.GetPrimaryKeyLong()).Wake(from).Ignore();
        }
    }
}
