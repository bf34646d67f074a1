namespace AsdOrleans.Grains;

/// <summary>
/// While a silo leaves the cluster, the grains that write behind (machines with their score histories, alert index
/// shards) write what a call changed before they answer it (an alert shard's calls are one-way: as each comes). Orleans' default grain directory loses the entries that a
/// leaving silo's partition kept, and until every silo has seen the leave, a call through another silo may activate such
/// a grain a second time while the first still lives (on a cluster of three silos or more: docs/decisions.md, stop 61).
/// Of two copies, the one that writes second fails its version check. Written behind, that drops clips both had
/// acknowledged; written through, it fails the call that brought them, which the caller retries (and a machine's new
/// activation fences off an earlier one first: <c>MachineGrain.FenceEarlierActivation</c>). Each silo opens the
/// window when it hears that a silo leaves (<c>MachineHandover</c>'s telling, or a silo that the membership no longer
/// shows active) and keeps it open <see cref="Length"/> after the last such event.
/// </summary>
public sealed class WriteThroughWindow(TimeProvider? clock = null)
{
    /// <summary>How long the window stays open after the last leave this silo heard of: the leave reaches every silo's
    /// directory within seconds (membership gossip, or its table refresh).</summary>
    public static readonly TimeSpan Length = TimeSpan.FromSeconds(60);
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private long _openUntil = long.MinValue; // UTC ticks
    private readonly Lock _gate = new();

    public bool IsOpen => Now < OpenUntil;

    /// <summary>When the window closes, or last closed (UTC ticks; <see cref="long.MinValue"/> if it never opened).</summary>
    public long OpenUntil => Volatile.Read(ref _openUntil);

    /// <summary>This window's clock (UTC ticks).</summary>
    public long Now => _clock.GetUtcNow().UtcTicks;

    /// <summary>Opens the window, or keeps it open for <see cref="Length"/> from now; true when it was closed (the
    /// caller then has what is held unwritten written at once).</summary>
    public bool Open()
    {
        lock (_gate)
        {
            long now = _clock.GetUtcNow().UtcTicks;
            bool wasClosed = now >= _openUntil;
            _openUntil = Math.Max(_openUntil, now + Length.Ticks);
            return wasClosed;
        }
    }
}

/// <summary>A grain that writes behind, told by its silo to write what it holds now (a silo leaves: <see cref="WriteThroughWindow"/>).</summary>
public interface IWritesBehind : IGrain
{
    Task WriteNow();
}

/// <summary>The same grains, told by their own silo to write soon without a call: after a crash a call could activate
/// a grain whose directory entry was lost a second time. Run on the grain's own scheduler.</summary>
public interface IWritesBehindSoon
{
    void WriteSoon();
}
