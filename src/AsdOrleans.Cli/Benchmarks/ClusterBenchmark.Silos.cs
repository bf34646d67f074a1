using System.Diagnostics;
using System.Globalization;
using AsdOrleans.Abstractions;
using AsdOrleans.Client;
using AsdOrleans.Grains;

namespace AsdOrleans.Cli.Benchmarks;

/// <summary>
/// `--silos N` (issue 13): the open-loop load against a Redis cluster of N silo processes on loopback (`asd silo
/// --cluster`, roles machines), through an Orleans client in this process. Per silo: RSS from /proc and machine grain
/// activations from the management grain. `--join-silo`: one more silo starts after the measured window, and the
/// load goes on while the machine grains per silo are sampled. `--stop-silo`: the silo holding the most machines is
/// stopped (SIGTERM) after the measured window, under the load, and every machine's count is checked against the clips
/// acknowledged, and the alert index against the alerts acknowledged; `--kill-silo`: the same with SIGKILL (a crash).
/// </summary>
public static partial class ClusterBenchmark
{
    /// <summary>Seconds after the extra silo is started at which machine grains per silo are counted (window ends).</summary>
    internal static readonly double[] JoinCheckpoints = [5, 15, 30, 60, 70, 80, 90, 120];

    private static async Task RunSiloProcessesAsync(TextWriter output, Settings settings, IReadOnlyList<EnrollmentClip> enrollmentClips, float[][] stream)
    {
        double rate = settings.Rate!.Value;
        int silos = settings.Silos!.Value;
        output.WriteLine();
        output.WriteLine($"open-loop grain scoring on a Redis cluster of {silos} silo processes (asd silo --cluster, roles machines, loopback) through an Orleans client " +
                         $"in this process: IMachineGrain.ProcessClip at {rate:N0} clips/s spread evenly over the machines, {settings.Strategy}, default method (b = 0.1), " +
                         $"J = 42; each machine warmed with {settings.WarmupClips}–{settings.WarmupClips + 9} clips, then {settings.WarmupSeconds:0.#} s at the rate before " +
                         $"{settings.Duration:0.#} s measured; activation rebalancer {(settings.Rebalancer ? "on (Orleans' ActivationRebalancer, experimental), and the silos' spreading after a join off" : "off (the silo default)")}" +
                         (settings.Rebalancer ? "" : $"; spreading onto a silo that joined after {SpreadOnJoinSeconds()} quiet seconds (Asd__SpreadOnJoinSeconds; the silo default 60)"));
        string folder = Directory.CreateTempSubdirectory("asd-bench-silos-").FullName;
        string clusterId = "bench-" + Guid.NewGuid().ToString("N")[..8];
        var processes = new List<SiloProcess>();
        Process? redis = null;
        AsdClusterClient? client = null;
        try
        {
            (redis, string connection) = await StartRedisAsync(Path.Combine(folder, "redis"));
            var started = Stopwatch.StartNew();
            for (int i = 0; i < silos; i++)
                processes.Add(SiloProcess.Start(i, connection, clusterId, folder, settings.Rebalancer));
            client = await AsdClusterClient.ConnectAsync(new AsdClientOptions
            {
                Redis = connection, ClusterId = clusterId, ConnectTimeout = TimeSpan.FromMinutes(3),
            });
            var grains = client.Orleans;
            var management = grains.GetGrain<IManagementGrain>(0);
            await WaitForActiveSilosAsync(management, processes, silos, TimeSpan.FromMinutes(3));
            output.WriteLine($"{silos} silos active after {started.Elapsed.TotalSeconds:F1} s (redis {connection.Split(',')[0]}, cluster id {clusterId}; silo logs under {folder})");

            var enrollment = new EnrollmentRequest(enrollmentClips, SyntheticModelVersion);
            int count = settings.Machines.Max();
            var enrollWatch = Stopwatch.StartNew();
            long enrolled = 0;
            var machines = Enumerable.Range(0, count).Select(i => grains.GetGrain<IMachineGrain>($"bench.machine-{i:D6}")).ToArray();
            await Parallel.ForEachAsync(machines.Select((m, i) => (Machine: m, Index: i)), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (item, _) =>
            {
                if (settings.Strategy != "hybrid") await item.Machine.Configure(new MachineSettings { Strategy = settings.Strategy });
                await item.Machine.Enroll(enrollment);
                for (int c = 0; c < settings.WarmupClips + item.Index % 10; c++)
                    await item.Machine.ProcessClip(new ClipSubmission($"start-{c}", stream[c % stream.Length], SyntheticModelVersion));
                // Progress at every tenth: enrollment of tens of thousands takes minutes, and its rate is a figure too.
                long done = Interlocked.Increment(ref enrolled);
                if (done % Math.Max(1, count / 10) == 0)
                    lock (output) output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {done:N0} machines enrolled and warmed after {enrollWatch.Elapsed.TotalSeconds:F0} s"));
            });
            enrollWatch.Stop();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"enrolled and warmed {count:N0} machines in {enrollWatch.Elapsed.TotalSeconds:F1} s ({count / enrollWatch.Elapsed.TotalSeconds:F0} machines/s)"));

            var order = machines.ToArray();
            new Random(count).Shuffle(order);
            Func<long, Task<ClipVerdict>> Call(string prefix) => i =>
                order[i % order.Length].ProcessClip(new ClipSubmission($"{prefix}-{i}", stream[(int)(i % stream.Length)], SyntheticModelVersion));
            await OpenLoopLoad.RunAsync(rate, TimeSpan.FromSeconds(settings.WarmupSeconds), Call("w"), settings.Generators[0]);
            var load = await OpenLoopLoad.RunAsync(rate, TimeSpan.FromSeconds(settings.Duration), Call("m"), settings.Generators[0]);
            string load1 = LoadAverage();
            // Machines idle longer than Orleans' collection age (the first ones enrolled, on a long enrollment) are
            // deactivated and come back on their next clip: "resident" says how many were active.
            int resident = (await MachineGrainsPerSiloAsync(management)).Values.Sum();

            output.WriteLine($"{"silos",5} {"machines",8} {"resident",8} {"rate/s",7} {"clips",7} {"achieved/s",10} {"p50 ms",8} {"p90 ms",8} {"p99 ms",8} {"p99.9 ms",9} {"max ms",8} {"lag p99",8} {"failed",6}  load");
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{silos,5} {count,8} {resident,8} {rate,7:F0} {load.Calls,7} {load.AchievedPerSecond,10:F0} {load.Percentile(0.50),8:F2} {load.Percentile(0.90),8:F2} " +
                $"{load.Percentile(0.99),8:F2} {load.Percentile(0.999),9:F2} {load.SortedLatencies[^1],8:F1} {ClosedLoopLoad.Percentile(load.SortedSendLags, 0.99),8:F2} {load.Failed,6}  {load1}"));
            await PrintSilosAsync(output, management, processes);

            if (settings.JoinSilo)
                await JoinAsync(output, settings, processes, management, connection, clusterId, folder, rate, Call);
            if (settings.StopSilo)
                await StopOneAsync(output, settings, processes, grains, management, order, rate, Call);
            output.WriteLine("(latency from each clip's scheduled send time; RSS: VmRSS of the silo process from /proc/<pid>/status; machine grains: MachineGrain " +
                             "activations on that silo, IManagementGrain.GetSimpleGrainStatistics; resident: all silos' machine grains after the measured window)");
        }
        finally
        {
            if (client is not null)
            {
                try { await client.DisposeAsync(); }
                catch (Exception) { /* the silos are stopped next either way */ }
            }
            foreach (var silo in processes) silo.Dispose();
            await StopRedisAndRemoveAsync(redis, folder);
        }
    }

    /// <summary>What the silo processes take for Asd:SpreadOnJoinSeconds: this process's environment, else the silo default.</summary>
    private static string SpreadOnJoinSeconds()
        => Environment.GetEnvironmentVariable("Asd__SpreadOnJoinSeconds") ?? Silo.SiloOptions.DefaultSpreadOnJoinSeconds.ToString(CultureInfo.InvariantCulture);

    private static async Task JoinAsync(TextWriter output, Settings settings, List<SiloProcess> processes, IManagementGrain management,
        string connection, string clusterId, string folder, double rate, Func<string, Func<long, Task>> call)
    {
        output.WriteLine();
        output.WriteLine($"silo {processes.Count} joins under load; windows are timed from its process start, machine grains per silo counted at each window's end:");
        var joiner = SiloProcess.Start(processes.Count, connection, clusterId, folder, settings.Rebalancer);
        var launched = Stopwatch.StartNew();
        processes.Add(joiner);
        await RunWindowsAsync(output, settings, processes, management, JoinCheckpoints, launched, rate, call, "j", "joined", async () =>
            (await management.GetHosts(onlyActive: true)).Keys.Any(h => h.Endpoint.Port == joiner.SiloPort) ? "yes" : "no");
        await PrintSilosAsync(output, management, processes);
    }

    /// <summary>The machine's warnings of a failed write: its state or journal, emptying its journal, or the fence of a
    /// second activation (MachineGrain).</summary>
    private static readonly string[] MachineWriteFailures =
        ["writing its state failed", "emptying its journal failed", "another activation wrote its state while this one started"];

    /// <summary>Seconds after the SIGTERM at which machine grains per silo are counted (window ends).</summary>
    internal static readonly double[] StopCheckpoints = [5, 15, 30];

    private static async Task StopOneAsync(TextWriter output, Settings settings, List<SiloProcess> processes, IGrainFactory grains, IManagementGrain management,
        IMachineGrain[] order, double rate, Func<string, Func<long, Task<ClipVerdict>>> call)
    {
        // Every machine's count before the stop, and each clip acknowledged after it: afterwards each machine must count both.
        var before = new long[order.Length];
        var wasOn = new int?[order.Length]; // each machine's silo port before the stop
        await Parallel.ForEachAsync(Enumerable.Range(0, order.Length), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (k, _) =>
        {
            before[k] = (await order[k].GetStatus()).ClipsSeen;
            wasOn[k] = (await management.GetActivationAddress(order[k]))?.Endpoint.Port;
        });
        var acknowledged = new long[order.Length];
        var failed = new long[order.Length]; // a failed call may still have been counted: a loss beside it could hide
        var alerts = new System.Collections.Concurrent.ConcurrentQueue<(int Machine, string ClipId)>(); // acknowledged alerts
        Func<long, Task> Counted(string prefix)
        {
            var send = call(prefix);
            return async i =>
            {
                ClipVerdict verdict;
                try
                {
                    verdict = await send(i);
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref failed[i % order.Length]);
                    throw;
                }
                Interlocked.Increment(ref acknowledged[i % order.Length]);
                if (verdict.Anomalous) alerts.Enqueue(((int)(i % order.Length), verdict.ClipId));
            };
        }
        var counts = await MachineGrainsPerSiloAsync(management);
        var stopping = processes.Where(p => !p.Process.HasExited).MaxBy(p => counts.GetValueOrDefault(p.SiloPort))!;
        // Alerts acknowledged in the seconds before the signal are the ones a shard may hold unwritten when it comes.
        output.WriteLine();
        output.WriteLine($"{PreSignalSeconds:0} s of load before the signal, its clips and alerts counted:");
        await RunWindowsAsync(output, settings, processes, management, [PreSignalSeconds], Stopwatch.StartNew(), rate, Counted, "p", "exited", () => Task.FromResult("no"));
        string signal = settings.KillSilo ? "KILL" : "TERM";
        output.WriteLine();
        output.WriteLine($"silo {stopping.Index} ({counts.GetValueOrDefault(stopping.SiloPort):N0} machine grains) is " +
                         (settings.KillSilo ? "killed (SIGKILL, a crash: nothing handed over or written) under load, " : "stopped (SIGTERM) under load, ") +
                         $"handing its machines over first: {Environment.GetEnvironmentVariable("Asd__HandOverOnStop") ?? "true (the silo default)"}, " +
                         $"writing through while it leaves: {Environment.GetEnvironmentVariable("Asd__WriteThroughOnLeave") ?? "true (the silo default)"}, " +
                         $"grain directory: {Environment.GetEnvironmentVariable("Asd__GrainDirectory") ?? "local (the silo default)"}; " +
                         "windows are timed from the signal, machine grains per silo counted at each window's end:");
        using (var kill = Process.Start("kill", [$"-{signal}", stopping.Process.Id.ToString(CultureInfo.InvariantCulture)])!)
            await kill.WaitForExitAsync();
        var signalled = Stopwatch.StartNew();
        await RunWindowsAsync(output, settings, processes, management, StopCheckpoints, signalled, rate, Counted, "s", "exited", () =>
            Task.FromResult(stopping.Process.HasExited ? stopping.Process.ExitCode.ToString(CultureInfo.InvariantCulture) : "no"));
        // The counts as stored: past a flush period, every machine is deactivated (each writes what it holds), and the
        // reads below activate them from the store, so a write that failed after the windows is a loss too.
        await Task.Delay(MachineGrain.FlushInterval + TimeSpan.FromSeconds(1));
        await management.ForceActivationCollection(TimeSpan.Zero);
        var after = new long[order.Length];
        await Parallel.ForEachAsync(Enumerable.Range(0, order.Length), new ParallelOptions { MaxDegreeOfParallelism = 64 },
            async (k, _) => after[k] = (await order[k].GetStatus()).ClipsSeen);
        long lost = 0, lostAtMost = 0, extra = 0;
        int losing = 0, losingOnStopped = 0;
        for (int k = 0; k < order.Length; k++)
        {
            long missing = before[k] + acknowledged[k] - after[k];
            // A failed call the machine counted offsets a lost one: at most this many more were lost.
            lostAtMost += Math.Max(0, missing + failed[k]);
            if (missing > 0)
            {
                lost += missing;
                losing++;
                if (wasOn[k] == stopping.SiloPort) losingOnStopped++;
            }
            else extra -= missing;
        }
        string upTo = lostAtMost > lost
            ? string.Create(CultureInfo.InvariantCulture, $" to {lostAtMost:N0} (failed calls on the same machines may have been counted)")
            : "";
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"clips acknowledged from {PreSignalSeconds:0} s before the signal: {acknowledged.Sum():N0}; counted by no machine (lost): {lost:N0}{upTo}, on {losing:N0} machines " +
            $"({losingOnStopped:N0} of them on the stopped silo before the signal, {losing - losingOnStopped:N0} on the others); counted though the call failed: {extra:N0}"));
        string? handover = null;
        try { handover = File.ReadLines(stopping.LogPath).LastOrDefault(l => l.Contains("stopping: ", StringComparison.Ordinal) && l.Contains(" over to the other silos", StringComparison.Ordinal)); }
        catch (IOException) { }
        output.WriteLine($"silo {stopping.Index}'s log: {handover?.Trim() ?? "no handover line (Asd__HandOverOnStop=false, or a build before stop 60)"}");
        // A second activation of a machine shows as a failed write of one of the two (the machine's warning).
        int conflicts = processes.Sum(p =>
        {
            try { return File.ReadLines(p.LogPath).Count(l => MachineWriteFailures.Any(w => l.Contains(w, StringComparison.Ordinal))); }
            catch (IOException) { return 0; }
        });
        output.WriteLine($"machine writes that failed (a second activation, or the store), all silos' logs: {conflicts:N0}");
        foreach (var other in processes.Where(p => p != stopping))
        {
            // Each other silo's first word of the leave: the write-through window opened (stop 61).
            string? opened = null;
            try { opened = File.ReadLines(other.LogPath).FirstOrDefault(l => l.Contains("what they held", StringComparison.Ordinal) || l.Contains("what they hold", StringComparison.Ordinal)); }
            catch (IOException) { }
            output.WriteLine($"silo {other.Index}'s log: {opened?.Trim() ?? "no write-through line (Asd__WriteThroughOnLeave=false, or a build before stop 61)"}");
        }
        await CountIndexedAlertsAsync(output, grains, order, alerts.ToList(), k => wasOn[k] == stopping.SiloPort);
        await PrintSilosAsync(output, management, processes);
    }

    /// <summary>Seconds of counted load before a silo is stopped or killed.</summary>
    private const double PreSignalSeconds = 5;

    /// <summary>Longest wait for acknowledged alerts to reach the alert index after the windows.</summary>
    private static readonly TimeSpan AlertIndexWait = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Acknowledged alerts against the plant-wide alert index (all shards, what the console and the webhook read): each
    /// missing one is either a loss of the index (its machine's score history keeps the clip) or went with its machine's
    /// own clips (a crash). Checked every 5 s until the index misses none its machines keep, or for a minute.
    /// </summary>
    private static async Task CountIndexedAlertsAsync(TextWriter output, IGrainFactory grains, IMachineGrain[] order, List<(int Machine, string ClipId)> alerts,
        Func<int, bool> wasOnStopped)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var indexed = new HashSet<(string, string)>();
            foreach (var shard in AlertIndexShards.All(grains))
                foreach (var alert in await shard.Newest(null, AlertIndexGrain.Capacity))
                    indexed.Add((alert.MachineId, alert.Point.ClipId));
            var missing = alerts.Where(a => !indexed.Contains((order[a.Machine].GetPrimaryKeyString(), a.ClipId))).ToList();
            int keptByMachine = 0, keptOnStopped = 0;
            foreach (var machine in missing.GroupBy(a => a.Machine))
            {
                var history = (await grains.GetGrain<IScoreHistoryGrain>(order[machine.Key].GetPrimaryKeyString()).Get(null, MachineScoreHistory.Capacity))
                    .Select(p => p.ClipId).ToHashSet(StringComparer.Ordinal);
                int kept = machine.Count(a => history.Contains(a.ClipId));
                keptByMachine += kept;
                if (wasOnStopped(machine.Key)) keptOnStopped += kept;
            }
            if (keptByMachine == 0 || waited.Elapsed >= AlertIndexWait)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"alerts acknowledged from {PreSignalSeconds:0} s before the signal: {alerts.Count:N0}; missing from the alert index {waited.Elapsed.TotalSeconds:F0} s after the windows: " +
                    $"{missing.Count:N0}, of which {keptByMachine:N0} kept in their machine's score history (lost by the index; {keptOnStopped:N0} of machines on the stopped silo before the signal) " +
                    $"and {missing.Count - keptByMachine:N0} " +
                    $"lost with their machine's own clips"));
                return;
            }
            await Task.Delay(TimeSpan.FromSeconds(5));
        }
    }

    /// <summary>The load in windows ending <paramref name="checkpoints"/> seconds after <paramref name="since"/> started,
    /// each window's calls named by <paramref name="prefix"/> and its end; a row per window with its latency, the machine
    /// grains per silo at its end and <paramref name="state"/> (a column named <paramref name="stateName"/>).</summary>
    private static async Task RunWindowsAsync(TextWriter output, Settings settings, IReadOnlyList<SiloProcess> processes, IManagementGrain management,
        double[] checkpoints, Stopwatch since, double rate, Func<string, Func<long, Task>> call, string prefix, string stateName, Func<Task<string>> state)
    {
        string header = string.Join(' ', processes.Select(p => $"{"silo " + p.Index,8}"));
        output.WriteLine($"{"window s",9} {"clips",6} {"achieved/s",10} {"p50 ms",8} {"p99 ms",8} {"max ms",8} {"failed",6} {stateName,6}  machine grains: {header}  load");
        double from = 0;
        foreach (double until in checkpoints)
        {
            var load = await OpenLoopLoad.RunAsync(rate, TimeSpan.FromSeconds(until - from), call($"{prefix}{until}"), settings.Generators[0]);
            // The load drains its last calls after the window; wait for the checkpoint itself if it came early.
            var remaining = TimeSpan.FromSeconds(until) - since.Elapsed;
            if (remaining > TimeSpan.Zero) await Task.Delay(remaining);
            var counts = await MachineGrainsPerSiloAsync(management);
            string now = await state();
            string perSilo = string.Join(' ', processes.Select(p => $"{counts.GetValueOrDefault(p.SiloPort),8:N0}"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{$"{from:0}–{until:0}",9} {load.Calls,6} {load.AchievedPerSecond,10:F0} {load.Percentile(0.50),8:F2} {load.Percentile(0.99),8:F2} {load.SortedLatencies[^1],8:F1} " +
                $"{load.Failed,6} {now,6}                  {perSilo}  {LoadAverage()}"));
            from = until;
        }
    }

    private static async Task PrintSilosAsync(TextWriter output, IManagementGrain management, IReadOnlyList<SiloProcess> processes)
    {
        var counts = await MachineGrainsPerSiloAsync(management);
        output.WriteLine($"{"silo",5} {"pid",8} {"silo port",9} {"RSS MB",8} {"machine grains",14} {"RSS KB/grain",12}");
        foreach (var silo in processes)
        {
            long? rss = silo.RssBytes();
            int grains = counts.GetValueOrDefault(silo.SiloPort);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{silo.Index,5} {silo.Process.Id,8} {silo.SiloPort,9} {(rss is { } r ? (r / 1048576.0).ToString("F0", CultureInfo.InvariantCulture) : "n/a"),8} {grains,14:N0} " +
                $"{(rss is { } b && grains > 0 ? (b / 1024.0 / grains).ToString("F1", CultureInfo.InvariantCulture) : "n/a"),12}"));
        }
    }

    /// <summary>MachineGrain activations per silo, keyed by the silo's Orleans port. Tried up to ten times a second apart:
    /// right after a silo was killed the call may reach it before the cluster declares it dead.</summary>
    private static async Task<Dictionary<int, int>> MachineGrainsPerSiloAsync(IManagementGrain management)
    {
        SimpleGrainStatistic[] statistics;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                statistics = await management.GetSimpleGrainStatistics();
                break;
            }
            catch (Exception e) when (attempt < 10 && e is OrleansMessageRejectionException or SiloUnavailableException or TimeoutException
                                          or Orleans.Runtime.Messaging.ConnectionFailedException)
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
        }
        return statistics.Where(s => s.GrainType.Contains(nameof(MachineGrain), StringComparison.Ordinal))
            .GroupBy(s => s.SiloAddress.Endpoint.Port)
            .ToDictionary(g => g.Key, g => g.Sum(s => s.ActivationCount));
    }

    private static async Task WaitForActiveSilosAsync(IManagementGrain management, List<SiloProcess> processes, int silos, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            foreach (var silo in processes)
                if (silo.Process.HasExited)
                    throw new InvalidOperationException($"silo {silo.Index} exited with code {silo.Process.ExitCode}; its log: {silo.LogPath}\n{silo.LogTail()}");
            try
            {
                var hosts = await management.GetHosts(onlyActive: true);
                if (processes.All(p => hosts.Keys.Any(h => h.Endpoint.Port == p.SiloPort))) return;
            }
            catch (Exception) when (deadline.Elapsed < timeout) { /* the cluster is still forming */ }
            if (deadline.Elapsed > timeout)
                throw new InvalidOperationException($"not all {silos} silos became active within {timeout.TotalSeconds:0} s (logs under {Path.GetDirectoryName(processes[0].LogPath)})");
            await Task.Delay(500);
        }
    }

    /// <summary>One `asd silo --cluster` child process with its own ports and data folder; its output goes to a log file.</summary>
    private sealed class SiloProcess : IDisposable
    {
        private readonly StreamWriter _log;

        private SiloProcess(int index, Process process, int siloPort, string logPath, StreamWriter log)
            => (Index, Process, SiloPort, LogPath, _log) = (index, process, siloPort, logPath, log);

        public int Index { get; }
        public Process Process { get; }
        public int SiloPort { get; }
        public string LogPath { get; }

        public static SiloProcess Start(int index, string redis, string clusterId, string folder, bool rebalancer)
        {
            int siloPort = Silo.SiloApp.FreeLoopbackPort(), gatewayPort = Silo.SiloApp.FreeLoopbackPort(), httpPort = Silo.SiloApp.FreeLoopbackPort();
            string dataDir = Path.Combine(folder, $"silo-{index}");
            Directory.CreateDirectory(dataDir);
            // The same asd build as this process: `dotnet asd.dll silo …` (the entry assembly may be a test host).
            string dll = typeof(ClusterBenchmark).Assembly.Location;
            string host = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
            var start = new ProcessStartInfo(host,
            [
                dll, "silo", "--roles", "machines", "--cluster", redis, "--data-dir", dataDir, "--urls", $"http://127.0.0.1:{httpPort}",
                "--silo-port", siloPort.ToString(CultureInfo.InvariantCulture), "--gateway-port", gatewayPort.ToString(CultureInfo.InvariantCulture),
            ])
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            start.Environment["Asd__ClusterId"] = clusterId;
            // The handover's one line at a stop (`asd silo` logs warnings and up by default), read by --stop-silo.
            start.Environment["Logging__LogLevel__AsdOrleans.Silo.MachineHandover"] = "Information";
            start.Environment["Logging__LogLevel__AsdOrleans.Silo.WriteThroughOnLeave"] = "Information";
            if (rebalancer)
            {
                start.Environment["Asd__ActivationRebalancer"] = "true";
                start.Environment["Asd__SpreadOnJoinSeconds"] = "0"; // the rebalancer's own effect, not the silos' spreading
                // Orleans' default waits 60 s before the first session; the join is followed for 120 s.
                start.Environment["Asd__Rebalancer__RebalancerDueTime"] = "00:00:10";
            }
            string logPath = Path.Combine(folder, $"silo-{index}.log");
            var log = new StreamWriter(logPath) { AutoFlush = true };
            var process = new Process { StartInfo = start };
            // Output can still arrive after Dispose closed the log: BaseStream is null then.
            void Write(string? line) { if (line is not null) lock (log) if (log.BaseStream is not null) log.WriteLine(line); }
            process.OutputDataReceived += (_, e) => Write(e.Data);
            process.ErrorDataReceived += (_, e) => Write(e.Data);
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return new SiloProcess(index, process, siloPort, logPath, log);
        }

        /// <summary>Resident set size from /proc/&lt;pid&gt;/status (VmRSS), or null once the process is gone.</summary>
        public long? RssBytes() => ProcNumber(Process.Id.ToString(CultureInfo.InvariantCulture), "status", "VmRSS") * 1024;

        public string LogTail()
        {
            lock (_log)
            {
                try { return string.Join('\n', File.ReadLines(LogPath).TakeLast(20)); }
                catch (IOException) { return ""; }
            }
        }

        public void Dispose()
        {
            try
            {
                if (!Process.HasExited)
                {
                    Process.Kill(entireProcessTree: true);
                    Process.WaitForExit(10_000);
                }
            }
            catch (InvalidOperationException) { /* already gone */ }
            Process.Dispose();
            lock (_log) _log.Dispose();
        }
    }
}
