namespace AsdOrleans.Grains;

/// <summary>
/// A periodic grain timer that keeps its own schedule: its first tick comes at a random point of the first period
/// and each later one a whole period after the previous one's due time, not after its callback ended. Orleans' timers
/// restart their period when the callback completes; under load thousands of callbacks wait in the same queue, finish
/// together and so tick together ever after (a benchmark at 10,000 machines showed the 20,000 flush timers firing in
/// bursts of up to 12,000 every 5 s). A tick that comes late skips the periods it missed.
/// </summary>
internal static class SteadyGrainTimer
{
    public static void RegisterSteadyTimer(this IGrainBase grain, Func<CancellationToken, Task> callback, TimeSpan period)
    {
        long periodMs = (long)period.TotalMilliseconds;
        long due = Environment.TickCount64 + Random.Shared.NextInt64(1, periodMs + 1);
        IGrainTimer? timer = null;
        timer = grain.RegisterGrainTimer(async cancellation =>
        {
            try
            {
                await callback(cancellation);
            }
            finally
            {
                long now = Environment.TickCount64;
                due += periodMs;
                if (due <= now) due += ((now - due) / periodMs + 1) * periodMs;
                try
                {
                    timer!.Change(TimeSpan.FromMilliseconds(due - now), Timeout.InfiniteTimeSpan);
                }
                catch (ObjectDisposedException)
                {
                    // the activation is going away
                }
            }
        }, TimeSpan.FromMilliseconds(Math.Max(0, due - Environment.TickCount64)), Timeout.InfiniteTimeSpan);
    }
}

/// <summary>
/// A flush on the same kind of steady schedule (a grid of period-spaced points at a random phase of this activation's
/// own) that ticks only when armed: <see cref="Arm"/> on a change sets one tick at the grid's next point, within one
/// period. A resident grain with nothing to write costs no timer turns; a periodic timer cost each of 100,000 quiet
/// machines and their histories a turn every 5 s (40,000 turns a second). The grid, not the change's time, sets when
/// the tick comes, so ticks of grains changed by one burst of calls stay spread over the period.
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
        long next = now < _phase ? _phase : _phase + ((now - _phase) / _periodMs + 1) * _periodMs;
        var delay = TimeSpan.FromMilliseconds(next - now);
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

    private Task Tick(CancellationToken cancellation)
    {
        Armed = false; // a change made by the callback itself (a retry after a failure) arms the next tick
        return callback(cancellation);
    }
}
