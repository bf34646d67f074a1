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
