namespace AsdOrleans.Grains;

/// <summary>
/// A flush timer that ticks only when armed, on a steady grid: <see cref="Arm"/> on a change sets one tick at the next
/// point of a grid of period-spaced points with a random phase of this activation's own, so within one period. A
/// resident grain with nothing to write costs no timer turns (a periodic timer cost 100,000 quiet machines and their
/// histories 40,000 turns a second). The grid, not the change's or the last callback's time, sets when a tick comes:
/// Orleans' timers restart their period when the callback completes, so callbacks that waited in one queue finished
/// together and ticked together ever after (20,000 flush timers at 10,000 machines fired in bursts of up to 12,000 every
/// 5 s); grains changed by one burst of calls likewise stay spread over the period here.
/// </summary>
internal sealed class ArmedSteadyTimer(IGrainBase grain, Func<CancellationToken, Task> callback, TimeSpan period)
{
    private readonly long _periodMs = (long)period.TotalMilliseconds;
    private readonly long _phase = Environment.TickCount64 + Random.Shared.NextInt64(1, (long)period.TotalMilliseconds + 1);
    private IGrainTimer? _timer;

    /// <summary>Whether a tick is set and has not yet started.</summary>
    public bool Armed { get; private set; }

    /// <summary>Sets a tick at the grid's next point unless one is set already.</summary>
    public void Arm()
    {
        if (Armed) return;
        long now = Environment.TickCount64;
        var delay = TimeSpan.FromMilliseconds(NextGridPoint(_phase, _periodMs, now) - now);
        try
        {
            if (_timer is null)
                _timer = grain.RegisterGrainTimer(Tick, delay, Timeout.InfiniteTimeSpan);
            else
                _timer.Change(delay, Timeout.InfiniteTimeSpan);
            Armed = true;
        }
        catch (ObjectDisposedException)
        {
            // the activation is going away; its deactivation flushes
        }
    }

    /// <summary>Sets a tick for now, armed or not (on the grain's own scheduler).</summary>
    public void FireNow()
    {
        try
        {
            if (_timer is null)
                _timer = grain.RegisterGrainTimer(Tick, TimeSpan.Zero, Timeout.InfiniteTimeSpan);
            else
                _timer.Change(TimeSpan.Zero, Timeout.InfiniteTimeSpan);
            Armed = true;
        }
        catch (ObjectDisposedException)
        {
            // the activation is going away; its deactivation flushes
        }
    }

    /// <summary>The first point of the grid <paramref name="phase"/> + k·<paramref name="period"/> after
    /// <paramref name="now"/> (milliseconds): within one period of it.</summary>
    internal static long NextGridPoint(long phase, long period, long now)
        => now < phase ? phase : phase + ((now - phase) / period + 1) * period;

    private Task Tick(CancellationToken cancellation)
    {
        Armed = false; // a change made by the callback itself (a retry after a failure) arms the next tick
        return callback(cancellation);
    }
}
