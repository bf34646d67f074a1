using System.Diagnostics;

namespace AsdOrleans.Cli.Benchmarks;

/// <summary>What a closed-loop load measured: wall time and every call's latency (sorted, milliseconds).</summary>
public sealed record LoadResult(TimeSpan Elapsed, double[] SortedLatencies)
{
    public long Calls => SortedLatencies.Length;
    public double CallsPerSecond => Calls / Elapsed.TotalSeconds;
    public double P50Milliseconds => ClosedLoopLoad.Percentile(SortedLatencies, 0.50);
    public double P99Milliseconds => ClosedLoopLoad.Percentile(SortedLatencies, 0.99);

    /// <summary>Several measured slices as one: their calls over their summed wall time.</summary>
    public static LoadResult Combine(IReadOnlyCollection<LoadResult> slices)
    {
        var all = slices.SelectMany(s => s.SortedLatencies).ToArray();
        Array.Sort(all);
        return new LoadResult(TimeSpan.FromTicks(slices.Sum(s => s.Elapsed.Ticks)), all);
    }
}

/// <summary>
/// A closed-loop load generator: each of <c>callers</c> concurrent callers issues its next call as soon as the
/// previous one returns, until the duration is over. Throughput counts every call, including those still running
/// when time is up (the wall time runs until the last returns), so nothing finished late is left out.
/// </summary>
public static class ClosedLoopLoad
{
    /// <param name="call">Gets the caller index and that caller's sequence number.</param>
    public static async Task<LoadResult> RunAsync(int callers, TimeSpan duration, Func<int, long, Task> call)
    {
        var watch = Stopwatch.StartNew();
        var perCaller = await Task.WhenAll(Enumerable.Range(0, callers).Select(caller => Task.Run(async () =>
        {
            var latencies = new List<double>();
            for (long sequence = 0; watch.Elapsed < duration; sequence++)
            {
                long start = Stopwatch.GetTimestamp();
                await call(caller, sequence);
                latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
            return latencies;
        })));
        var elapsed = watch.Elapsed;
        var all = perCaller.SelectMany(l => l).ToArray();
        Array.Sort(all);
        return new LoadResult(elapsed, all);
    }

    /// <summary>Nearest-rank percentile of sorted values; NaN when there are none.</summary>
    public static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0) return double.NaN;
        int rank = (int)Math.Ceiling(p * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}
