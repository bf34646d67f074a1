using System.Diagnostics;

namespace AsdOrleans.Cli.Benchmarks;

/// <summary>What an open-loop load measured. Latencies are from each call's scheduled send time (sorted, ms).</summary>
/// <param name="SortedServiceLatencies">From each call's actual send: the silo's part, without the generator's lateness.</param>
/// <param name="LatenciesByCall">The latencies again, indexed by call sequence number, so a caller can split them by what each call did.</param>
public sealed record OpenLoopResult(TimeSpan Elapsed, double[] SortedLatencies, double[] SortedSendLags, double[] SortedServiceLatencies, long Failed, double[] LatenciesByCall)
{
    public long Calls => SortedLatencies.Length;
    /// <summary>Completed calls over the time from the first scheduled send to the last completion.</summary>
    public double AchievedPerSecond => Calls / Elapsed.TotalSeconds;
    public double Percentile(double p) => ClosedLoopLoad.Percentile(SortedLatencies, p);
}

/// <summary>How the open-loop generator waits for a call's due time.</summary>
public enum GeneratorPacing
{
    /// <summary>Its own thread, sleeping in the kernel (about 1 ms resolution): it wakes when the OS runs it, not
    /// when the thread pool gets round to it, so its lateness is not the silo's queue.</summary>
    Thread,
    /// <summary>Task.Delay on the thread pool (the generator before issue 13's second pass): a wake-up waits behind
    /// every queued grain continuation, so under load the generator itself is late.</summary>
    ThreadPool,
}

/// <summary>The pacings' command-line names, one table for parsing and printing.</summary>
public static class GeneratorPacings
{
    public static string Name(GeneratorPacing pacing) => pacing == GeneratorPacing.Thread ? "thread" : "thread-pool";

    public static GeneratorPacing? Parse(string name)
    {
        foreach (var pacing in Enum.GetValues<GeneratorPacing>())
            if (Name(pacing) == name.ToLowerInvariant()) return pacing;
        return null;
    }
}

/// <summary>
/// An open-loop load generator: call i is due at start + i/rate whatever happened to the calls before it, and its
/// latency is measured from that due time, so a stalled server is charged for every call that should have been sent
/// while it stalled (no coordinated omission). The generator sleeps (about 1 ms resolution) and then sends every call
/// that is due: its own wake-up lag is part of the latency, and reported apart as the send lag.
/// </summary>
public static class OpenLoopLoad
{
    /// <summary>How many calls <see cref="RunAsync"/> makes at <paramref name="rate"/> for <paramref name="duration"/>: their sequence numbers are 0 to this − 1.</summary>
    public static long CallCount(double rate, TimeSpan duration) => Math.Max(1, (long)Math.Round(rate * duration.TotalSeconds));

    /// <param name="call">Gets the call's sequence number.</param>
    public static async Task<OpenLoopResult> RunAsync(double rate, TimeSpan duration, Func<long, Task> call, GeneratorPacing pacing = GeneratorPacing.Thread)
    {
        long total = CallCount(rate, duration);
        var latencies = new double[total];
        var lags = new double[total];
        var service = new double[total];
        var calls = new Task[total];
        long failed = 0;
        double ticksPerCall = Stopwatch.Frequency / rate;
        long start = Stopwatch.GetTimestamp();

        if (pacing == GeneratorPacing.Thread)
        {
            var sent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var generator = new Thread(() =>
            {
                try
                {
                    for (long i = 0; i < total; i++)
                    {
                        long due = start + (long)(i * ticksPerCall);
                        // Sleep whole milliseconds (Thread.Sleep truncates), never sending before the due time.
                        for (long ahead = due - Stopwatch.GetTimestamp(); ahead > 0; ahead = due - Stopwatch.GetTimestamp())
                            Thread.Sleep(Math.Max(1, (int)(ahead * 1000 / Stopwatch.Frequency)));
                        calls[i] = Issue(i, due);
                    }
                    sent.SetResult();
                }
                catch (Exception e)
                {
                    sent.SetException(e);
                }
            }) { IsBackground = true, Name = "open-loop generator" };
            generator.Start();
            await sent.Task;
        }
        else
        {
            for (long i = 0; i < total; i++)
            {
                long due = start + (long)(i * ticksPerCall);
                long ahead = due - Stopwatch.GetTimestamp();
                if (ahead > 0)
                    await Task.Delay(TimeSpan.FromSeconds((double)ahead / Stopwatch.Frequency));
                calls[i] = Issue(i, due);
            }
        }
        await Task.WhenAll(calls);
        var elapsed = Stopwatch.GetElapsedTime(start);
        var byCall = (double[])latencies.Clone();
        Array.Sort(latencies);
        Array.Sort(lags);
        Array.Sort(service);
        return new OpenLoopResult(elapsed, latencies, lags, service, failed, byCall);

        async Task Issue(long index, long due)
        {
            long sentAt = Stopwatch.GetTimestamp();
            lags[index] = Math.Max(0, Stopwatch.GetElapsedTime(due, sentAt).TotalMilliseconds);
            try
            {
                await call(index);
            }
            catch (Exception)
            {
                Interlocked.Increment(ref failed); // counted, and its latency still charged
            }
            latencies[index] = Stopwatch.GetElapsedTime(due).TotalMilliseconds;
            service[index] = Stopwatch.GetElapsedTime(sentAt).TotalMilliseconds;
        }
    }
}
