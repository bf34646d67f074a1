using System.Diagnostics;
using System.Globalization;
using AsdOrleans.Abstractions;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Cli.Benchmarks;

/// <summary>
/// `--rate`: the scoring part as a plant loads a silo (issue 13). Machines are enrolled, then each is taken past its
/// start with <see cref="Settings.WarmupClips"/> clips (closed loop, so the paced budget has spent its start-up
/// tokens and queries about b of the clips), then clips arrive open loop at a fixed rate, spread evenly over the
/// machines (each machine every machines/rate seconds); after a warm-up at that rate, latency percentiles are taken
/// from each clip's scheduled send time.
/// </summary>
public static partial class ClusterBenchmark
{
    private static async Task RunOpenLoopAsync(TextWriter output, Settings settings, IReadOnlyList<EnrollmentClip> enrollmentClips, float[][] stream)
    {
        double rate = settings.Rate!.Value;
        output.WriteLine();
        output.WriteLine($"open-loop grain scoring: IMachineGrain.ProcessClip at {rate:N0} clips/s spread evenly over the machines, {settings.Strategy}, " +
                         $"default method (paced budget, b = 0.1), J = 42; {settings.Storage} grain state; each machine warmed with {settings.WarmupClips}–{settings.WarmupClips + 9} clips{(settings.HistoryPoints > 0 ? $" and its score history filled with {settings.HistoryPoints:N0} points" : "")}, " +
                         $"then {settings.WarmupSeconds:0.#} s at the rate before {settings.Duration:0.#} s measured; latency from each clip's scheduled send time; " +
                         (settings.AnswerLabelsAfterSeconds is { } answerAfter ? $"each label request answered 'normal' {answerAfter:0.#} s after its verdict" : "label requests left open"));
        var labeller = new BenchLabeller(settings.AnswerLabelsAfterSeconds);
        string folder = Directory.CreateTempSubdirectory("asd-bench-").FullName;
        Process? redis = null;
        string? redisConnection = null;
        var siloSettings = new Dictionary<string, string?>();
        if (settings.Storage == "redis")
        {
            (redis, redisConnection) = await StartRedisAsync(Path.Combine(folder, "redis"));
            siloSettings["Asd:Redis"] = redisConnection;
            siloSettings["Asd:ClusterId"] = "bench-" + Guid.NewGuid().ToString("N")[..8];
        }
        if (settings.MachineIdleSeconds is double idle)
            siloSettings["Asd:MachineIdleMinutes"] = (idle / 60).ToString("R", CultureInfo.InvariantCulture);
        try
        {
            await using var silo = await EmbeddedSilo.StartAsync(siloSettings, Path.Combine(folder, "silo"));
            var grains = silo.App.Services.GetRequiredService<IGrainFactory>();
            var management = grains.GetGrain<IManagementGrain>(0);
            var enrollment = new EnrollmentRequest(enrollmentClips, SyntheticModelVersion);
            var machines = new List<IMachineGrain>();
            output.WriteLine($"{"storage",7} {"machines",8} {"rate/s",7} {"clips",7} {"achieved/s",10} {"p50 ms",8} {"p90 ms",8} {"p99 ms",8} {"p99.9 ms",9} {"max ms",8} " +
                             $"{"lag p99",8} {"svc p99",8} {"p99 asked",9} {"p99 other",9} {"queried",8} {"failed",6} {"disk MB/s",9} {"aof rw",6} {"heap KB/grain",13} {"resident",8} {"heap GB",7} {"GC commit GB",12} {"RSS GB",6} {"peak RSS GB",11} {"generator",11}  load");
            foreach (int target in settings.Machines.Order())
            {
                int added = target - machines.Count;
                var before = MemoryNow();
                var newcomers = Enumerable.Range(machines.Count, added).Select(i => grains.GetGrain<IMachineGrain>($"bench.machine-{i:D6}")).ToList();
                var enrolling = Stopwatch.StartNew();
                await Parallel.ForEachAsync(newcomers.Select((m, i) => (Machine: m, Index: i)), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (item, _) =>
                {
                    var machine = item.Machine;
                    if (settings.Strategy != "hybrid") await machine.Configure(new MachineSettings { Strategy = settings.Strategy });
                    await machine.Enroll(enrollment);
                    // 0–9 clips more than the minimum, so the machines' paced budgets are at different phases (a plant's
                    // machines did not all start at once) and about b of the measured clips ask for a label.
                    for (int c = 0; c < settings.WarmupClips + item.Index % 10; c++)
                    {
                        var verdict = await machine.ProcessClip(new ClipSubmission($"start-{c}", stream[c % stream.Length], SyntheticModelVersion));
                        if (verdict.LabelRequested) await labeller.AnswerNow(machine, verdict.ClipId);
                    }
                    // A plant's machines have been running: their score histories are full, and each flush writes one.
                    var history = grains.GetGrain<IScoreHistoryGrain>(machine.GetPrimaryKeyString());
                    var at = DateTimeOffset.UtcNow.AddSeconds(-settings.HistoryPoints * 10);
                    for (int p = 0; p < settings.HistoryPoints; p++)
                        await history.Record(new ScorePoint(at.AddSeconds(p * 10), $"past-{p}", -settings.HistoryPoints + p, 0.5, 0.6, false, false));
                });
                machines.AddRange(newcomers);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  ({added:N0} machines enrolled and warmed in {enrolling.Elapsed.TotalSeconds:F1} s: {added / enrolling.Elapsed.TotalSeconds:F0} a second)"));
                if (settings.HistoryPoints > 0)
                    await SettleWritesAsync(output, redis);
                var after = MemoryNow();

                // Evenly spread: clip i goes to machine order[i mod n], so each machine sees one clip every n/rate seconds.
                var order = machines.ToArray();
                new Random(target).Shuffle(order);
                foreach (var pacing in settings.Generators)
                {
                    // Which measured clips opened a label request: their call waits for a durable write, the others' do not.
                    var asked = new bool[OpenLoopLoad.CallCount(rate, TimeSpan.FromSeconds(settings.Duration))];
                    bool counting = false;
                    string tag = $"{target}{GeneratorPacings.Name(pacing)}";
                    Func<long, Task> Call(string prefix) => async i =>
                    {
                        var machine = order[i % order.Length];
                        var verdict = await machine.ProcessClip(new ClipSubmission($"{prefix}-{i}", stream[(int)(i % stream.Length)], SyntheticModelVersion));
                        if (!verdict.LabelRequested) return;
                        if (Volatile.Read(ref counting)) asked[i] = true;
                        labeller.AnswerLater(machine, verdict.ClipId);
                    };
                    await OpenLoopLoad.RunAsync(rate, TimeSpan.FromSeconds(settings.WarmupSeconds), Call($"w{tag}"), pacing);
                    long? writtenBefore = BytesWritten(redis);
                    var rewritesBefore = await AofRewritesAsync(redisConnection);
                    Volatile.Write(ref counting, true);
                    var load = await OpenLoopLoad.RunAsync(rate, TimeSpan.FromSeconds(settings.Duration), Call($"m{tag}"), pacing);
                    Volatile.Write(ref counting, false);
                    long? written = BytesWritten(redis) - writtenBefore;
                    var rewritesAfter = await AofRewritesAsync(redisConnection);
                    // Rewrites started in the window, plus one already running at its start.
                    string rewrites = rewritesBefore is { } rb && rewritesAfter is { } ra
                        ? (ra.Started - rb.Started + (rb.Running ? 1 : 0)).ToString(CultureInfo.InvariantCulture) : "n/a";
                    long queried = asked.Count(a => a);
                    var (askedP99, otherP99) = SplitP99(load.LatenciesByCall, asked);
                    int resident = await ResidentMachines(management);
                    var memory = MemoryNow();
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{settings.Storage,7} {target,8} {rate,7:F0} {load.Calls,7} {load.AchievedPerSecond,10:F0} {load.Percentile(0.50),8:F2} {load.Percentile(0.90),8:F2} " +
                        $"{load.Percentile(0.99),8:F2} {load.Percentile(0.999),9:F2} {load.SortedLatencies[^1],8:F1} {ClosedLoopLoad.Percentile(load.SortedSendLags, 0.99),8:F2} {ClosedLoopLoad.Percentile(load.SortedServiceLatencies, 0.99),8:F2} " +
                        $"{askedP99,9:F2} {otherP99,9:F2} {100.0 * queried / load.Calls,7:F1}% {load.Failed,6} {(written is { } w ? (w / 1e6 / load.Elapsed.TotalSeconds).ToString("F1", CultureInfo.InvariantCulture) : "n/a"),9} {rewrites,6} " +
                        $"{(after.Heap - before.Heap) / 1024.0 / added,13:F1} {resident,8} {memory.Heap / 1e9,7:F2} {GC.GetGCMemoryInfo().TotalCommittedBytes / 1e9,12:F2} {memory.WorkingSet / 1e9,6:F2} {PeakResidentBytes() / 1e9,11:F2} {GeneratorPacings.Name(pacing),11} {LoadAverage()}"));
                    if (settings.AnswerLabelsAfterSeconds is not null)
                    {
                        var (answered, refused) = await labeller.DrainAsync();
                        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  (labels answered so far, warm-up included: {answered:N0}; refused: {refused:N0})"));
                    }
                }
            }
            // What the GC keeps committed beyond the live heap, and what a compacting collection gives back.
            var beforeCompaction = (Committed: GC.GetGCMemoryInfo().TotalCommittedBytes, Rss: MemoryNow().WorkingSet);
            System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            using (var self = Process.GetCurrentProcess())
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  after an aggressive compacting collection: GC committed {beforeCompaction.Committed / 1e9:F2} → {GC.GetGCMemoryInfo().TotalCommittedBytes / 1e9:F2} GB, RSS {beforeCompaction.Rss / 1e9:F2} → {self.WorkingSet64 / 1e9:F2} GB, heap {GC.GetTotalMemory(false) / 1e9:F2} GB"));
            output.WriteLine("(achieved/s: completed clips over the time from the first scheduled send to the last answer; lag p99: how late the generator itself sent " +
                             "(its timer's resolution, and its share of the cores), already inside the latencies; generator: its own thread sleeping in the kernel, or Task.Delay on the thread pool; svc p99: latency from the actual send, the silo's part; p99 asked / other: of the clips that opened a label request " +
                             "(written right after the verdict returns, before any labeller sees it) and of the rest; disk MB/s: bytes written by " +
                             (settings.Storage == "redis" ? "redis-server" : "this process") + " while measuring; aof rw: redis-server's append-only-file rewrites " +
                             "(a forked child rewriting the whole data set, on the same cores here) that ran while measuring)");
        }
        catch when (redis is not null && ShowRedisLog(output, Path.Combine(folder, "redis")))
        {
            throw; // not reached: the filter shows the log and declines
        }
        finally
        {
            await StopRedisAndRemoveAsync(redis, folder);
        }
    }

    /// <summary>
    /// Waits until the storage writes of the histories just filled have drained (under 1 MB/s for 3 s in a row, at
    /// most 10 minutes), so the measured window sees a plant's steady state, not the first write of every history.
    /// </summary>
    private static async Task SettleWritesAsync(TextWriter output, Process? redis)
    {
        var watch = Stopwatch.StartNew();
        long? last = BytesWritten(redis);
        int quiet = 0;
        while (quiet < 3 && watch.Elapsed < TimeSpan.FromMinutes(10))
        {
            await Task.Delay(1000);
            long? now = BytesWritten(redis);
            if (now is null) break; // no I/O counters here: nothing to wait for
            quiet = now - last < 1_000_000 ? quiet + 1 : 0;
            last = now;
        }
        // Filling made millions of short-lived points; collect them now rather than in the measured window.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  the filled histories' writes drained in {watch.Elapsed.TotalSeconds:F0} s"));
    }

    /// <summary>The benchmark's labeller: answers requests "normal", at once or after a delay, off the clips' path.</summary>
    private sealed class BenchLabeller(double? afterSeconds)
    {
        private readonly List<Task> _pending = [];
        private long _answered, _refused;

        public Task AnswerNow(IMachineGrain machine, string clipId) => afterSeconds is null ? Task.CompletedTask : Answer(machine, clipId, TimeSpan.Zero);

        public void AnswerLater(IMachineGrain machine, string clipId)
        {
            if (afterSeconds is not { } seconds) return;
            var answer = Answer(machine, clipId, TimeSpan.FromSeconds(seconds));
            lock (_pending) _pending.Add(answer);
        }

        /// <summary>Waits for the answers sent so far; returns how many were applied and refused in all.</summary>
        public async Task<(long Answered, long Refused)> DrainAsync()
        {
            Task[] all;
            lock (_pending) { all = [.. _pending]; _pending.Clear(); }
            await Task.WhenAll(all);
            return (Interlocked.Read(ref _answered), Interlocked.Read(ref _refused));
        }

        private async Task Answer(IMachineGrain machine, string clipId, TimeSpan delay)
        {
            if (delay > TimeSpan.Zero) await Task.Delay(delay);
            try
            {
                await machine.SubmitLabel(clipId, ClipLabelValue.Normal);
                Interlocked.Increment(ref _answered);
            }
            catch (Exception e) when (e is LabelRequestExpiredException or LabelConflictException or ArgumentException)
            {
                Interlocked.Increment(ref _refused); // withdrawn past the open-request limit, or expired: counted, not fatal
            }
        }
    }

    /// <summary>p99 of the latencies whose call is marked in <paramref name="marked"/> (one flag per call), and of the rest (NaN where none).</summary>
    private static (double Marked, double Other) SplitP99(double[] latenciesByCall, bool[] marked)
    {
        var inside = latenciesByCall.Where((_, i) => marked[i]).Order().ToArray();
        var outside = latenciesByCall.Where((_, i) => !marked[i]).Order().ToArray();
        return (inside.Length > 0 ? ClosedLoopLoad.Percentile(inside, 0.99) : double.NaN,
                outside.Length > 0 ? ClosedLoopLoad.Percentile(outside, 0.99) : double.NaN);
    }

    /// <summary>redis-server's append-only-file rewrites so far and whether one runs now; null without Redis.</summary>
    private static async Task<(long Started, bool Running)?> AofRewritesAsync(string? connection)
    {
        if (connection is null) return null;
        using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(connection + ",allowAdmin=true"); // INFO is an admin command
        var info = (await redis.GetServers()[0].InfoAsync("persistence")).SelectMany(g => g).ToDictionary(e => e.Key, e => e.Value);
        return (long.Parse(info["aof_rewrites"], CultureInfo.InvariantCulture), info["aof_rewrite_in_progress"] == "1");
    }

    /// <summary>Machine grains activated on the silo now (idle ones are deactivated after Asd:MachineIdleMinutes).</summary>
    private static async Task<int> ResidentMachines(IManagementGrain management)
    {
        var statistics = await management.GetSimpleGrainStatistics();
        return statistics.Where(s => s.GrainType.Contains(nameof(Grains.MachineGrain), StringComparison.Ordinal)).Sum(s => s.ActivationCount);
    }

    /// <summary>This process's peak resident set (VmHWM in /proc/self/status), or 0 where unknown.</summary>
    private static long PeakResidentBytes() => ProcNumber("self", "status", "VmHWM") * 1024 ?? 0;

    /// <summary>Stops the benchmark's redis-server, if it started one, and removes its temporary folder.</summary>
    private static async Task StopRedisAndRemoveAsync(Process? redis, string folder)
    {
        if (redis is not null)
        {
            redis.Kill();
            await redis.WaitForExitAsync();
            redis.Dispose();
        }
        try { Directory.Delete(folder, recursive: true); }
        catch (IOException) { /* a leftover temporary folder is harmless */ }
    }

    private const string RedisLogFile = "redis-server.log";

    /// <summary>The end of redis-server's log, for a run that failed (its folder is removed next); false, so the failure goes on.</summary>
    private static bool ShowRedisLog(TextWriter output, string directory)
    {
        try
        {
            var lines = File.ReadAllLines(Path.Combine(directory, RedisLogFile));
            output.WriteLine($"the run failed; the last lines of redis-server's log ({lines.Length} in all):");
            foreach (var line in lines.TakeLast(20)) output.WriteLine("  " + line);
        }
        catch (IOException e)
        {
            output.WriteLine($"the run failed; redis-server's log could not be read: {e.Message}");
        }
        return false;
    }

    /// <summary>A redis-server on a free loopback port with DESIGN's durability (appendonly, fsync always), data in <paramref name="directory"/>.</summary>
    private static async Task<(Process Process, string Connection)> StartRedisAsync(string directory)
    {
        Directory.CreateDirectory(directory);
        int port = Silo.SiloApp.FreeLoopbackPort();
        // Its log goes to a file: a redirected stream nobody reads stalls redis-server once the pipe fills.
        var start = new ProcessStartInfo("redis-server",
            ["--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", directory, "--appendonly", "yes", "--appendfsync", "always", "--save", "",
             "--logfile", Path.Combine(directory, RedisLogFile)]);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new UsageException($"--storage redis needs redis-server on PATH ({e.Message}); run ./asd setup");
        }
        for (int i = 0; i < 100; i++)
        {
            try
            {
                using var client = new System.Net.Sockets.TcpClient();
                await client.ConnectAsync(System.Net.IPAddress.Loopback, port);
                break;
            }
            catch (System.Net.Sockets.SocketException) { await Task.Delay(50); }
        }
        return (process, $"127.0.0.1:{port},abortConnect=false");
    }

    /// <summary>Bytes written to storage by redis-server when given, else by this process.</summary>
    private static long? BytesWritten(Process? redis) => BytesWritten(redis is null ? "self" : redis.Id.ToString(CultureInfo.InvariantCulture));
}
