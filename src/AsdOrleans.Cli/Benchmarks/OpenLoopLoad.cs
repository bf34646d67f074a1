using System.Diagnostics;

namespace AsdOrleans.Cli.Benchmarks;

/// <summary>What an open-loop load measured. Latencies are from each call's scheduled send time (sorted, ms).</summary>
/// <param name="SortedServiceLatencies">From each call's actual send: the silo's part, without the generator's lateness.</param>
public sealed record OpenLoopResult(TimeSpan Elapsed, double[] SortedLatencies, double[] SortedSendLags, double[] SortedServiceLatencies, long Failed)
{
    public long Calls => SortedLatencies.Length;
    /// <summary>Completed calls over the time from the first scheduled send to the last completion.</summary>
    public double AchievedPerSecond => Calls / Elapsed.TotalSeconds;
    public double Percentile(double p) => ClosedLoopLoad.Percentile(SortedLatencies, p);
}

/// <summary>
/// An open-loop load generator: call i is due at start + i/rate whatever happened to the calls before it, and its
/// latency is measured from that due time, so a stalled server is charged for every call that should have been sent
/// while it stalled (no coordinated omission). The generator sleeps with Task.Delay (about 1 ms resolution): its own
/// wake-up lag is part of the latency, and reported apart as the send lag.
/// </summary>
public static class OpenLoopLoad
{
    /// <param name="call">Gets the call's sequence number.</param>
    public static async Task<OpenLoopResult> RunAsync(double rate, TimeSpan duration, Func<long, Task> call)
    {
        long total = Math.Max(1, (long)Math.Round(rate * duration.TotalSeconds));
        var latencies = new double[total];
        var lags = new double[total];
        var service = new double[total];
        var calls = new Task[total];
        long failed = 0;
        double ticksPerCall = Stopwatch.Frequency / rate;
        long start = Stopwatch.GetTimestamp();
        for (long i = 0; i < total; i++)
        {
            long due = start + (long)(i * ticksPerCall);
            long ahead = due - Stopwatch.GetTimestamp();
            if (ahead > 0)
                await Task.Delay(TimeSpan.FromSeconds((double)ahead / Stopwatch.Frequency));
            long index = i;
            long sent = Stopwatch.GetTimestamp();
            lags[index] = Math.Max(0, Stopwatch.GetElapsedTime(due, sent).TotalMilliseconds);
            calls[index] = Issue();

            async Task Issue()
            {
                try
                {
                    await call(index);
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref failed); // counted, and its latency still charged
                }
                latencies[index] = Stopwatch.GetElapsedTime(due).TotalMilliseconds;
                service[index] = Stopwatch.GetElapsedTime(sent).TotalMilliseconds;
            }
        }
        await Task.WhenAll(calls);
        var elapsed = Stopwatch.GetElapsedTime(start);
        Array.Sort(latencies);
        Array.Sort(lags);
        Array.Sort(service);
        return new OpenLoopResult(elapsed, latencies, lags, service, failed);
    }
}
