using System.Diagnostics;
using System.Globalization;
using AsdOrleans.Abstractions;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Silo;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Cli.Benchmarks;

/// <summary>
/// One embedded silo in this process (localhost clustering, SQLite state in a temporary folder), measured as a
/// plant would load it: machine grains enrolled from synthetic embeddings and scoring precomputed embeddings
/// under many concurrent callers (calls/s, p50/p99, enrollment time, memory per grain), and clips/s through the
/// HTTP ingest with the encoder, batching on against a batcher limited to one clip per call.
/// </summary>
public static partial class ClusterBenchmark
{
    public sealed record Settings
    {
        /// <summary>Enrolled machine counts, measured in increasing order on the same silo.</summary>
        public required IReadOnlyList<int> Machines { get; init; }
        /// <summary>Concurrent callers of ProcessClip.</summary>
        public required int Callers { get; init; }
        /// <summary>Measuring time of each case, in seconds.</summary>
        public required double Duration { get; init; }
        public required int Width { get; init; }
        public required double ClipSeconds { get; init; }
        /// <summary>Concurrent devices posting clips over HTTP, one machine each.</summary>
        public required int Devices { get; init; }
        public required string Device { get; init; }
        /// <summary>Query strategy of the scoring machines (the paper's: hybrid).</summary>
        public string Strategy { get; init; } = "hybrid";
        public bool Scoring { get; init; } = true;
        public bool Ingest { get; init; } = true;
        /// <summary>The plant-wide alert list, from the alert index and from every history (issue 13).</summary>
        public bool Alerts { get; init; }
        /// <summary>Open loop at this many clips/s instead of closed loop at saturation (issue 13).</summary>
        public double? Rate { get; init; }
        /// <summary>Open loop: grain state in sqlite (the embedded default) or redis (a redis-server started for the run).</summary>
        public string Storage { get; init; } = "sqlite";
        /// <summary>Open loop: clips each machine processes before measuring, so it is past its start.</summary>
        public int WarmupClips { get; init; } = 20;
        /// <summary>Open loop: seconds at the rate before measuring.</summary>
        public double WarmupSeconds { get; init; } = 5;
        /// <summary>Open loop on Redis: this many `asd silo --cluster` processes instead of one embedded silo (issue 13).</summary>
        public int? Silos { get; init; }
        /// <summary>With <see cref="Silos"/>: start one more silo after the measured window and follow the load and placement.</summary>
        public bool JoinSilo { get; init; }
        /// <summary>With <see cref="Silos"/>: stop (SIGTERM) the silo holding the most machines after the measured window,
        /// follow the load, and count the acknowledged clips the machines no longer count.</summary>
        public bool StopSilo { get; init; }
        /// <summary>With <see cref="StopSilo"/>: kill the silo (SIGKILL, a crash) instead of stopping it.</summary>
        public bool KillSilo { get; init; }
        /// <summary>With <see cref="Silos"/>: the silos run Orleans' activation rebalancer (experimental; off in the silo default).</summary>
        public bool Rebalancer { get; init; }
        /// <summary>Open loop, embedded silo: machine grains idle this long are deactivated (null: the silo's default).</summary>
        public double? MachineIdleSeconds { get; init; }
        /// <summary>Open loop: how the generator waits for each clip's due time; on the embedded silo each is measured in turn, side by side.</summary>
        public IReadOnlyList<GeneratorPacing> Generators { get; init; } = [GeneratorPacing.Thread];
        /// <summary>Open loop, embedded silo: points recorded into each machine's score history before measuring (a plant past its first days).</summary>
        public int HistoryPoints { get; init; }
        /// <summary>Open loop, embedded silo: a labeller answers each label request "normal" this many seconds after its
        /// verdict (at once during the closed-loop warm-up); null leaves every request open, as before.</summary>
        public double? AnswerLabelsAfterSeconds { get; init; }
    }

    // J = 42 as in the paper's enrollment (32 source rows + 10 target ones): the default method keeps every source clip,
    // so 32 source embeddings give the 32 rows that k-means centres of more clips would (docs/decisions.md, issue 11).
    private const int SourceTrain = 32, TargetTrain = 10;
    private const string SyntheticModelVersion = "bench-synthetic";

    public static async Task RunAsync(TextWriter output, Settings settings)
    {
        output.WriteLine($"cluster benchmark: {(settings.Silos is { } n ? $"{n} silo processes" : "one embedded silo in this process")}, {Environment.ProcessorCount} cores, " +
                         $"load average {LoadAverage()} at start{(Environment.ProcessorCount <= 2 ? " (other processes share these cores)" : "")}; GC: {GcSettings.Describe()}");
        var data = SyntheticEmbeddings.Generate(new SyntheticEmbeddingSettings
        {
            Machines = 1, SourceTrain = SourceTrain, TargetTrain = TargetTrain, TestPerDomainAndLabel = 250, Seed = 42,
        });
        var enrollmentClips = data.Records.Where(r => !r.IsTest).Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList();
        var stream = data.Records.Where(r => r.IsTest).Select(r => r.Embedding).ToArray();
        if (settings.Scoring && settings.Rate is not null && settings.Silos is not null)
            await RunSiloProcessesAsync(output, settings, enrollmentClips, stream);
        else if (settings.Scoring && settings.Rate is not null)
            await RunOpenLoopAsync(output, settings, enrollmentClips, stream);
        else if (settings.Scoring)
            await RunScoringAsync(output, settings, enrollmentClips, stream);
        if (settings.Ingest)
            await RunIngestAsync(output, settings, enrollmentClips);
        if (settings.Alerts)
            await RunAlertsAsync(output, settings, enrollmentClips, stream);
    }

    private static async Task RunScoringAsync(TextWriter output, Settings settings, IReadOnlyList<EnrollmentClip> enrollmentClips, float[][] stream)
    {
        output.WriteLine();
        output.WriteLine($"grain scoring: IMachineGrain.ProcessClip with precomputed embeddings (d = {stream[0].Length}), {settings.Strategy}, b = 0.1, " +
                         $"J = 42 (enrolled from {SourceTrain} source + {TargetTrain} target embeddings); {settings.Callers} concurrent callers " +
                         $"through the silo's own client, {settings.Duration:0.###} s per case");
        await using var silo = await EmbeddedSilo.StartAsync(new Dictionary<string, string?>());
        var grains = silo.App.Services.GetRequiredService<IGrainFactory>();
        var enrollment = new EnrollmentRequest(enrollmentClips, SyntheticModelVersion);
        var machines = new List<IMachineGrain>();

        // Warm-up machine: the first enrollment and calls pay for JIT and storage start-up, outside the figures.
        var warmup = grains.GetGrain<IMachineGrain>("bench.warmup");
        await warmup.Enroll(enrollment);
        for (int i = 0; i < 200; i++)
            await warmup.ProcessClip(new ClipSubmission($"w{i}", stream[i % stream.Length], SyntheticModelVersion));

        output.WriteLine($"{"machines",8} {"enroll s",9} {"enroll/s",9} {"heap KB/grain",14} {"WS KB/grain",12} {"calls",9} {"calls/s",9} {"p50 ms",8} {"p99 ms",8} {"queried",8} {"disk MB/s",9}");
        int step = 0;
        foreach (int target in settings.Machines.Order())
        {
            step++;
            int added = target - machines.Count;
            var before = MemoryNow();
            var enrollWatch = Stopwatch.StartNew();
            var newcomers = Enumerable.Range(machines.Count, added).Select(i => grains.GetGrain<IMachineGrain>($"bench.machine-{i:D6}")).ToList();
            await Parallel.ForEachAsync(newcomers, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (machine, _) =>
            {
                if (settings.Strategy != "hybrid") await machine.Configure(new MachineSettings { Strategy = settings.Strategy });
                await machine.Enroll(enrollment);
            });
            enrollWatch.Stop();
            machines.AddRange(newcomers);
            var after = MemoryNow();

            var warmupDuration = TimeSpan.FromSeconds(Math.Min(1, settings.Duration / 4));
            await ScoreAsync(machines, stream, settings.Callers, warmupDuration, $"w{step}");
            long queried = 0;
            long? writtenBefore = BytesWritten();
            var load = await ScoreAsync(machines, stream, settings.Callers, TimeSpan.FromSeconds(settings.Duration), $"s{step}", () => Interlocked.Increment(ref queried));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{target,8} {enrollWatch.Elapsed.TotalSeconds,9:F2} {added / enrollWatch.Elapsed.TotalSeconds,9:F0} " +
                $"{(after.Heap - before.Heap) / 1024.0 / added,14:F1} {(after.WorkingSet - before.WorkingSet) / 1024.0 / added,12:F1} " +
                $"{load.Calls,9} {load.CallsPerSecond,9:F0} {load.P50Milliseconds,8:F3} {load.P99Milliseconds,8:F3} {100.0 * queried / load.Calls,7:F1}% " +
                $"{(BytesWritten() - writtenBefore is { } written ? (written / 1e6 / load.Elapsed.TotalSeconds).ToString("F1", CultureInfo.InvariantCulture) : "n/a"),9}"));
        }
        output.WriteLine("(heap and WS KB/grain: managed heap after a full GC and process working set, before and after enrolling the " +
                         "machines added in that row, divided by their number; queried: share of calls that asked for a label, each persisted before returning; " +
                         "disk MB/s: bytes this process wrote to storage while measuring, grain state writes included)");
    }

    private static Task<LoadResult> ScoreAsync(List<IMachineGrain> machines, float[][] stream, int callers, TimeSpan duration, string clipPrefix, Action? labelRequested = null)
    {
        var randoms = Enumerable.Range(0, callers).Select(c => new Random(c + 1)).ToArray();
        return ClosedLoopLoad.RunAsync(callers, duration, async (caller, sequence) =>
        {
            var machine = machines[randoms[caller].Next(machines.Count)];
            var verdict = await machine.ProcessClip(new ClipSubmission($"{clipPrefix}-{caller}-{sequence}", stream[(int)(sequence % stream.Length)], SyntheticModelVersion));
            if (verdict.LabelRequested) labelRequested?.Invoke();
        });
    }

    private static (long Heap, long WorkingSet) MemoryNow()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long heap = GC.GetTotalMemory(forceFullCollection: true);
        using var process = Process.GetCurrentProcess();
        return (heap, process.WorkingSet64);
    }

    /// <summary>Bytes this process has caused to be written to storage (Linux /proc/self/io), or null where unknown.</summary>
    private static long? BytesWritten() => BytesWritten("self");

    /// <summary>Bytes process <paramref name="pid"/> ("self" for this one) has caused to be written to storage
    /// (Linux /proc/&lt;pid&gt;/io), or null where unknown.</summary>
    private static long? BytesWritten(string pid) => ProcNumber(pid, "io", "write_bytes");

    /// <summary>The number after "<paramref name="field"/>:" in /proc/&lt;pid&gt;/<paramref name="file"/> ("self" for this
    /// process; kB fields stay in kB), or null where unknown: not Linux, or the process is gone.</summary>
    private static long? ProcNumber(string pid, string file, string field)
    {
        try
        {
            string path = $"/proc/{pid}/{file}";
            if (!File.Exists(path)) return null;
            var line = File.ReadLines(path).FirstOrDefault(l => l.StartsWith(field + ":", StringComparison.Ordinal));
            return line is null ? null : long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string LoadAverage()
    {
        try
        {
            return File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    /// <summary>A silo on 127.0.0.1 with its data in a temporary folder, deleted when disposed.</summary>
    private sealed class EmbeddedSilo : IAsyncDisposable
    {
        private EmbeddedSilo(WebApplication app, Uri address, string folder) { App = app; Address = address; Folder = folder; }

        public WebApplication App { get; }
        public Uri Address { get; }
        public string Folder { get; }

        public static async Task<EmbeddedSilo> StartAsync(Dictionary<string, string?> settings, string? folder = null)
        {
            folder ??= Directory.CreateTempSubdirectory("asd-bench-").FullName;
            settings["Asd:DataDirectory"] = Path.Combine(folder, "data");
            // The silo's per-grain information logs would flood the figures; warnings still show, except the start-up
            // notes on server GC (this CLI runs workstation GC, as `asd silo` does) and the watchdog's first tick.
            settings["Logging:LogLevel:Default"] = "Warning";
            settings["Logging:LogLevel:Orleans.Runtime.Silo"] = "Error";
            settings["Logging:LogLevel:Orleans.Runtime.Watchdog"] = "Error";
            // Stopping the silo right after a flood leaves alerts queued for the plant-wide stream; each machine's
            // "events still unpublished" at teardown is the benchmark's own shutdown, not a figure.
            settings["Logging:LogLevel:AsdOrleans.Grains.MachineGrain"] = "Error";
            var (app, address) = await SiloApp.StartOnLoopbackAsync(settings);
            return new EmbeddedSilo(app, address, folder);
        }

        public async ValueTask DisposeAsync()
        {
            await App.StopAsync();
            await App.DisposeAsync();
            try { Directory.Delete(Folder, recursive: true); }
            catch (IOException) { /* a leftover temporary folder is harmless */ }
        }
    }
}
