using AsdOrleans.Abstractions;
using Microsoft.Extensions.Logging;

namespace AsdOrleans.Grains.Telemetry;

/// <summary>
/// A machine's alerts on their way to the plant-wide alert index (<see cref="IAlertIndexGrain.Index"/>): each is sent
/// when the clip is scored and again at the machine's flush ticks until its shard's receipt says it is on storage. A
/// shard that loses alerts before its write (its silo crashed, or a duplicate activation lost a write race and
/// reloaded) gets them again. The unconfirmed alerts' clip ids are stored in the score history's head, with the alerts'
/// points (<see cref="MachineScoreHistory.UnindexedAlerts"/>), so a machine back from a crash sends what its history
/// kept: an alert in a machine's history reaches the index, and the webhook that delivers from it (a machine nobody
/// calls is woken for it: <see cref="AlertResendReminder"/>). Label outcomes go the same way (<see
/// cref="IAlertIndexGrain.Close"/>, asked until written), their clip ids stored in the same list: the history's point
/// carries the outcome, so a later activation resends the point. Runs on the grain's scheduler.
/// </summary>
internal sealed class AlertOutbox
{
    /// <summary>Alerts kept unconfirmed at most; past it the oldest is let go (the shards have not answered for a while).</summary>
    public const int Capacity = 256;

    private sealed class Entry(ScorePoint point, long since)
    {
        public ScorePoint Point = point;
        /// <summary>When this activation first sent it (<see cref="Environment.TickCount64"/>).</summary>
        public readonly long Since = since;
        public AlertIndexReceipt? Receipt;
        public Task? InFlight;
    }

    /// <summary>Unconfirmed alerts by clip id, oldest first.</summary>
    private readonly OrderedDictionary<string, Entry> _unconfirmed = new(StringComparer.Ordinal);
    private bool _warnedFull;

    private sealed class Closure(LabelRequestOutcome outcome, string? by, long since)
    {
        public LabelRequestOutcome Outcome = outcome;
        /// <summary>When this activation first sent it (<see cref="Environment.TickCount64"/>).</summary>
        public readonly long Since = since;
        public string? By = by;
        public Task? InFlight;
        public bool SentOneWay;
    }

    /// <summary>Outcomes of label requests not yet confirmed written by the shard (<see cref="IAlertIndexGrain.Close"/>),
    /// by clip id, oldest first; their ids are stored with the unconfirmed alerts'.</summary>
    private readonly OrderedDictionary<string, Closure> _closures = new(StringComparer.Ordinal);
    private bool _warnedClosuresFull;

    private readonly IGrainFactory grains;
    private readonly string machineId;
    private readonly Action armTick;
    private readonly MachineScoreHistory history;
    /// <summary>How the machine's request for a clip ended, and who closed it (its state), for stored ids whose point has
    /// left the history.</summary>
    private readonly Func<string, RequestClosure?> closureOf;
    private readonly ILogger logger;

    /// <summary>Clip ids <paramref name="history"/> stored unconfirmed, looked up in it at the first tick.</summary>
    private List<string>? _stored;

    /// <summary>Takes over the alerts <paramref name="history"/> stored unconfirmed; they are sent at the first tick.</summary>
    public AlertOutbox(IGrainFactory grains, string machineId, Action armTick, MachineScoreHistory history, Func<string, RequestClosure?> closureOf,
        ILogger logger)
    {
        (this.grains, this.machineId, this.armTick, this.history, this.closureOf, this.logger) = (grains, machineId, armTick, history, closureOf, logger);
        if (history.UnindexedAlerts.Count == 0) return;
        _stored = [.. history.UnindexedAlerts];
        armTick();
    }

    /// <summary>Stores the clip ids of the unconfirmed alerts and outcomes with the history's head (at its next write, which
    /// also holds the outcomes' marks).</summary>
    private void Store() => history.SetUnindexedAlerts([.. (_stored ?? []).Concat(_unconfirmed.Keys).Concat(_closures.Keys).Distinct(StringComparer.Ordinal)]);

    /// <summary>The alerts and outcomes a crashed activation left unconfirmed, from the history's points, a clip id's newest
    /// alert (read once). An id whose point has left the history goes as an outcome when the machine's state knows how its
    /// request ended; an alert whose point went with it, or left it, with its request open, is not sent.</summary>
    private async Task TakeOverStoredAsync()
    {
        if (_stored is not { } ids) return;
        Dictionary<string, ScorePoint> points;
        try
        {
            points = (await history.Get(null, MachineScoreHistory.Capacity)).GroupBy(p => p.ClipId).ToDictionary(g => g.Key, g => g.LastOrDefault(p => p.Anomalous) ?? g.Last());
        }
        catch (Exception e)
        {
            // A sealed page could not be read: the ids stay stored, and the next tick tries again.
            logger.LogWarning(e, "machine {Machine}: could not read its score history to resend {Count} alerts the index never confirmed; trying again at the next tick", machineId, ids.Count);
            armTick();
            return;
        }
        _stored = null;
        long now = Environment.TickCount64; // waited from now
        foreach (var id in ids)
        {
            if (!points.TryGetValue(id, out var point))
            {
                if (closureOf(id) is { } closure && !_unconfirmed.ContainsKey(id))
                    _closures.TryAdd(id, new Closure(closure.Outcome, closure.By, now));
            }
            else if (point.Anomalous && _unconfirmed.TryAdd(id, new Entry(point, now)))
                _closures.Remove(id); // its point carries the outcome (the history was marked first)
        }
        Store();
    }

    private IAlertIndexGrain Shard => AlertIndexShards.For(grains, machineId);

    private bool _quiet;

    /// <summary>Sends nothing more (the silo shuts down: the shards are going too, and the stored list covers what waits).</summary>
    public void Quiet() => _quiet = true;


    /// <summary>Sends an alert (points that are not alerts are ignored) and keeps it until its shard has written it.</summary>
    public void Send(ScorePoint point)
    {
        if (!point.Anomalous) return;
        if (_unconfirmed.TryGetValue(point.ClipId, out var known))
        {
            known.Point = point;
            Store();
            return;
        }
        while (_unconfirmed.Count >= Capacity)
        {
            _unconfirmed.RemoveAt(0);
            AsdMetrics.OnAlertUnconfirmed();
            if (!_warnedFull)
            {
                _warnedFull = true;
                logger.LogWarning("machine {Machine}: {Count} alerts wait for the alert index to confirm them; the oldest are let go (they stay in the machine's score history)",
                    machineId, Capacity);
            }
        }
        var entry = new Entry(point, Environment.TickCount64);
        _unconfirmed.Add(point.ClipId, entry);
        AlertsSent++;
        Store();
        if (_quiet) return;
        entry.InFlight = Deliver(entry);
        armTick();
    }

    /// <summary>A closed label request of clip <paramref name="clipId"/> (<paramref name="point"/>: its history point
    /// when in memory, already marked). An alert still unconfirmed carries the outcome in its resends; otherwise the shard
    /// is told (<see cref="IAlertIndexGrain.Close"/>), again at each tick until it has written it. Clips known not to be
    /// alerts are not in the index.</summary>
    public void Closed(string clipId, ScorePoint? point, LabelRequestOutcome outcome, string? by)
    {
        if (_unconfirmed.TryGetValue(clipId, out var entry))
        {
            entry.Point = entry.Point.Closed(outcome, by);
            _closures.Remove(clipId); // one path per clip, or an older outcome would be sent beside the newer
            Store();
            return;
        }
        if (point is { Anomalous: false }) return;
        if (_stored?.Contains(clipId) == true) return; // taken over at the first tick: the history's point carries the outcome
        if (_closures.TryGetValue(clipId, out var known))
            (known.Outcome, known.By, known.SentOneWay) = (outcome, by, false); // sent as it is now at the next tick (or when in flight ends)
        else
        {
            while (_closures.Count >= Capacity)
            {
                _closures.RemoveAt(0);
                if (!_warnedClosuresFull)
                {
                    _warnedClosuresFull = true;
                    logger.LogWarning("machine {Machine}: {Count} label outcomes wait for the alert index to confirm them; the oldest are let go (the plant's alert list may show them open; the machine's history has them)",
                        machineId, Capacity);
                }
            }
            _closures.Add(clipId, known = new Closure(outcome, by, Environment.TickCount64));
            Store();
        }
        if (_quiet) return;
        if (known.InFlight is not { IsCompleted: false }) known.InFlight = DeliverClosure(clipId, known);
        armTick();
    }

    /// <summary>At a flush tick: asks again about every alert and outcome not confirmed and not in flight; arms the next
    /// tick while any is left.</summary>
    public async Task ResendAsync()
    {
        if (_quiet) return;
        try
        {
            await TakeOverStoredAsync();
            // Copies: a shard that answers before the call is awaited (a fast shard, a busy caller) runs the delivery's
            // end, which removes what it confirmed, within this loop.
            foreach (var entry in _unconfirmed.Values.ToList())
                if (entry.InFlight is not { IsCompleted: false })
                    entry.InFlight = Deliver(entry);
            foreach (var (clipId, closure) in _closures.ToList())
                if (closure.InFlight is not { IsCompleted: false })
                    closure.InFlight = DeliverClosure(clipId, closure);
        }
        catch (Exception e)
        {
            // Never into the caller: a flush tick's history write, and a deactivation's steps, come after this.
            logger.LogWarning(e, "machine {Machine}: resending alerts and label outcomes the alert index has not confirmed failed; the next tick tries again", machineId);
        }
        if (Waiting) armTick();
    }

    /// <summary>How long the oldest unconfirmed alert or outcome has waited for its shard (stored ones since this activation
    /// took them over); zero when none waits or stored ones are not yet taken over.</summary>
    public TimeSpan LongestWait => _unconfirmed.Count == 0 && _closures.Count == 0 ? TimeSpan.Zero
        : TimeSpan.FromMilliseconds(Environment.TickCount64 - _unconfirmed.Values.Select(e => e.Since).Concat(_closures.Values.Select(c => c.Since)).Min());

    /// <summary>Alerts this activation has raised.</summary>
    public long AlertsSent { get; private set; }

    /// <summary>Whether alerts or outcomes wait for the index to confirm them (or stored ones to be looked up).</summary>
    public bool Waiting => _unconfirmed.Count > 0 || _closures.Count > 0 || _stored is not null;

    /// <summary>As the machine deactivates: one more send of what is unconfirmed, so the shard holds it (waited for at most
    /// <paramref name="wait"/>); not whether it is written, which the shard does on its own. False when nothing was sent
    /// (nothing waits, or <see cref="Quiet"/>).</summary>
    public async Task<bool> HandOffAsync(TimeSpan wait)
    {
        if (_quiet || !Waiting) return false;
        await ResendAsync();
        // Taken now: each clears its own.
        var inFlight = _unconfirmed.Values.Select(e => e.InFlight).Concat(_closures.Values.Select(c => c.InFlight)).OfType<Task>().ToList();
        await Task.WhenAny(Task.WhenAll(inFlight), Task.Delay(wait));
        return true;
    }

    private async Task DeliverClosure(string clipId, Closure closure)
    {
        var (outcome, by) = (closure.Outcome, closure.By);
        try
        {
            if (await Shard.Close(machineId, clipId, outcome, by) && closure.Outcome == outcome && closure.By == by
                && _closures.TryGetValue(clipId, out var current) && ReferenceEquals(current, closure))
            {
                _closures.Remove(clipId);
                _warnedClosuresFull = false;
                Store();
            }
        }
        catch (Exception e)
        {
            logger.LogDebug(e, "machine {Machine}: the alert index did not take clip {Clip}'s label outcome; sent again at the next tick", machineId, clipId);
            if (!closure.SentOneWay)
            {
                // A shard of an older build (a rolling upgrade) knows only the one-way mark: it gets that much at once.
                closure.SentOneWay = true;
                Shard.MarkClosed(machineId, clipId, outcome, by).Ignore();
            }
        }
        finally
        {
            closure.InFlight = null;
        }
    }

    private async Task Deliver(Entry entry)
    {
        var sent = entry.Point; // a point closed meanwhile is sent again
        try
        {
            var receipt = await Shard.Index(machineId, sent, entry.Receipt);
            entry.Receipt = receipt;
            if (receipt.Written && ReferenceEquals(entry.Point, sent) && _unconfirmed.TryGetValue(sent.ClipId, out var current) && ReferenceEquals(current, entry))
            {
                _unconfirmed.Remove(sent.ClipId);
                _warnedFull = false;
                Store(); // one head write at the next tick, so a later activation does not send it again
            }
        }
        catch (Exception e)
        {
            // The shard's activation went, or its write failed: the next tick asks again (and re-adds it where it was lost).
            logger.LogDebug(e, "machine {Machine}: the alert index did not take clip {Clip}'s alert; sent again at the next tick", machineId, sent.ClipId);
        }
        finally
        {
            entry.InFlight = null;
        }
    }
}
