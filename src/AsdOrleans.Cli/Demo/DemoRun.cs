using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using AsdOrleans.Cli.Commands;
using AsdOrleans.Method.Budget;
using AsdOrleans.Method.Io;
using AsdOrleans.Method.Metrics;
using AsdOrleans.Method.Randomness;
using AsdOrleans.Silo;
using Spectre.Console;

namespace AsdOrleans.Cli.Demo;

/// <summary>
/// `asd demo` end to end on the embedded default: plant and encoder (cached), a silo in this process, enrollment and
/// the test streams through the HTTP API with an oracle annotator, then offline vs active-learning AUC/pAUC, beside the
/// training-free baseline's offline AUC/pAUC on the same clips (<see cref="DemoBaseline"/>).
/// Every machine has a twin with strategy none fed the same clips: the offline model, scored on the same stream.
/// </summary>
public static class DemoRun
{
    public const string ResultsFile = "results.csv";
    /// <summary>results.csv's mode of the training-free baseline's rows.</summary>
    public const string BaselineMode = "baseline";

    private sealed record StreamResult(DemoMachine Machine, bool Offline, double[] Scores, bool[] Alerts, int Queries, int Labels, IReadOnlyList<string?> QueryReasons);

    public static async Task<int> RunAsync(DemoSettings settings, string folder, bool keepRunning, TextWriter writer, CancellationToken cancellation)
    {
        var total = Stopwatch.StartNew();
        Directory.CreateDirectory(folder);
        var machines = DemoPlant.Prepare(settings, folder, writer, cancellation);
        string? modelPath = settings.TrainsEncoder ? DemoPlant.EnsureModel(settings, folder, machines, writer, cancellation) : null;
        if (modelPath is null)
            writer.WriteLine("embedder: spectral (training-free log-mel mean, std, maximum and smoothed maximum, and envelope-modulation peaks; each machine whitens them on its training clips)");
        var baseline = DemoBaseline.Compute(settings, machines, folder, writer);

        // A fresh silo state each run: the demo's machines start from their enrollment.
        string siloData = Path.Combine(folder, "silo");
        if (Directory.Exists(siloData)) Directory.Delete(siloData, recursive: true);
        var keys = new[] { "Device", "Labeller", "Operator" }.ToDictionary(r => r, _ => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)));
        var siloSettings = new Dictionary<string, string?>
        {
            ["Asd:DataDirectory"] = siloData,
            ["Asd:ModelPath"] = modelPath is null ? "" : Path.GetFullPath(modelPath),
            ["Asd:Embedder"] = settings.Embedder,
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Orleans"] = "Error", // start-up advice (ServerGC, watchdog) is not for the demo's reader
        };
        foreach (var (role, key) in keys) siloSettings[$"Asd:ApiKeys:{role}:0"] = key;
        // Every machine and its twin enroll and stream at once: the silo queues them all rather than refuse one (503),
        // however many machines --machines-per-type asks for.
        siloSettings["Asd:QueuedClips"] = Math.Max(AsdOrleans.Silo.ClipWorkLimit.DefaultQueued, 2 * machines.Count).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var (app, address) = await SiloApp.StartOnLoopbackAsync(siloSettings);
        try
        {
            writer.WriteLine($"silo: embedded (localhost clustering, SQLite state in {siloData}) at {address}");
            using var operatorHttp = new ClusterHttp(address.ToString(), keys["Operator"]);
            using var deviceHttp = new ClusterHttp(address.ToString(), keys["Device"]);

            var enrollWatch = Stopwatch.StartNew();
            int enrolled = 0;
            await Terminal.WithProgressAsync(writer, "enrolling", async progress =>
            {
                await Task.WhenAll(machines.SelectMany(m => new[] { (m, false), (m, true) }).Select(async pair =>
                {
                    var (machine, offline) = pair;
                    string id = offline ? machine.OfflineId : machine.Id;
                    // Each machine names its embedder, as a plant's machines would; the silo's only serves calls naming none.
                    var configuration = offline
                        ? new { strategy = "none", budget = 0.0, embedder = settings.Embedder }
                        : new { strategy = settings.Strategy, budget = settings.Budget, embedder = settings.Embedder };
                    await operatorHttp.SendAsync(HttpMethod.Put, $"/api/machines/{id}", System.Net.Http.Json.JsonContent.Create(configuration), cancellation);
                    await SiloFeed.EnrollAsync(operatorHttp, id, machine.TrainingClips.Select(c => c.Path).ToList(), cancellation);
                    progress(Interlocked.Increment(ref enrolled), 2 * machines.Count);
                }));
                return 0;
            });
            writer.WriteLine($"enrolled {machines.Count} machines and their offline twins from {machines.Sum(m => m.TrainingClips.Count)} training clips in {enrollWatch.Elapsed.TotalSeconds:F1} s");

            var streamWatch = Stopwatch.StartNew();
            int streamed = 0, clipsInAll = 2 * machines.Sum(m => m.TestClips.Count);
            var results = await Terminal.WithProgressAsync(writer, "streaming test clips", progress =>
                Task.WhenAll(machines.SelectMany(m => new[] { (m, false), (m, true) }).Select(async pair =>
                {
                    var (machine, offline) = pair;
                    // Each machine's device sends its clips in its own seeded order; twins see the same order.
                    var order = Shuffled(machine.TestClips.Count, RandomState.DeriveSeed(settings.Seed, RandomState.StableHash(machine.Id)));
                    var scores = new double[machine.TestClips.Count];
                    var alerts = new bool[machine.TestClips.Count];
                    int queries = 0, labels = 0;
                    var reasons = new List<string?>();
                    foreach (int i in order)
                    {
                        var clip = machine.TestClips[i];
                        var pushed = await SiloFeed.PushAsync(deviceHttp, offline ? machine.OfflineId : machine.Id, clip.Path,
                            offline ? null : clip.IsAnomaly, keys["Labeller"], cancellation);
                        scores[i] = pushed.Score;
                        alerts[i] = pushed.Anomalous;
                        if (pushed.LabelRequested) { queries++; reasons.Add(pushed.QueryReason); }
                        if (pushed.Labelled) labels++;
                        progress(Interlocked.Increment(ref streamed), clipsInAll);
                    }
                    return new StreamResult(machine, offline, scores, alerts, queries, labels, reasons);
                })), linesWhenRedirected: true);
            double seconds = streamWatch.Elapsed.TotalSeconds;
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"streamed {clipsInAll} clips in {seconds:F1} s ({clipsInAll / seconds:F1} clips/s through the HTTP API, encoder and grains); the oracle answered {results.Sum(r => r.Labels)} label requests ({SiloFeed.ByReason(results.SelectMany(r => r.QueryReasons))})"));

            PrintAndSave(settings, results, baseline, folder, writer);
            string dashboard = new Uri(address, "/dashboard").ToString();
            writer.WriteLine($"dashboard: {dashboard}   (the whole demo took {total.Elapsed.TotalSeconds:F0} s)");
            if (keepRunning)
            {
                writer.WriteLine($"the silo keeps running at {address} — API keys: device {keys["Device"]}, labeller {keys["Labeller"]}, operator {keys["Operator"]}");
                writer.WriteLine($"console: {new Uri(address, "/ui/")} (sign in with the labeller or operator key), API docs: {new Uri(address, "/docs")}");
                writer.WriteLine("Ctrl+C stops it");
                await WaitForInterrupt(cancellation);
            }
            return 0;
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
    }

    private static void PrintAndSave(DemoSettings settings, StreamResult[] results, IReadOnlyDictionary<string, BaselineFigures> baseline, string folder, TextWriter writer)
    {
        var console = Terminal.For(writer);
        var table = new Table().Border(TableBorder.Simple)
            .Title(Markup.Escape($"Training-free baseline and offline model vs active learning ({settings.Strategy}, b = {settings.Budget.ToString(CultureInfo.InvariantCulture)}), prequential over each machine's test stream"));
        table.AddColumns("machine", "clips", "labels asked", "AUC baseline", "AUC offline", "AUC with AL", "pAUC baseline", "pAUC offline", "pAUC with AL");
        var csv = new StringBuilder("machine,mode,clips,label_requests,labels,auc,pauc,auc_source,auc_target,false_alerts_source,false_alerts_target,alerts_on_anomalies\n");
        var alertCounts = new ConfusionCounts[2]; // the machines with active learning, source and target: what an operator is paged with
        // Index 0: the baseline, 1: the offline model, 2: with active learning.
        var aucs = new List<double>[] { [], [], [] };
        var paucs = new List<double>[] { [], [], [] };
        foreach (var group in results.GroupBy(r => r.Machine.Id).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var offline = group.Single(r => r.Offline);
            var active = group.Single(r => !r.Offline);
            var clips = active.Machine.TestClips;
            var isAnomaly = clips.Select(c => c.IsAnomaly!.Value).ToArray();
            var isTarget = clips.Select(c => c.IsTarget).ToArray();
            var m0 = DetectionMetrics.Evaluate(offline.Scores, isAnomaly, isTarget, offline.Alerts);
            var m1 = DetectionMetrics.Evaluate(active.Scores, isAnomaly, isTarget, active.Alerts);
            alertCounts[0] += m1.DecisionsSource!.Value;
            alertCounts[1] += m1.DecisionsTarget!.Value;
            var b = baseline[group.Key];
            aucs[0].Add(b.Auc); aucs[1].Add(m0.Auc); aucs[2].Add(m1.Auc);
            paucs[0].Add(b.PartialAuc); paucs[1].Add(m0.PartialAuc); paucs[2].Add(m1.PartialAuc);
            table.AddRow(group.Key, clips.Count.ToString(CultureInfo.InvariantCulture), $"{active.Queries} ({(double)active.Queries / clips.Count:P0})"
                + (BudgetTolerance.HasOverspent(settings.Budget, (double)active.Queries / clips.Count, clips.Count) ? " [red]overspent[/]" : ""), // judged from 100 clips, as a machine is
                F(b.Auc), F(m0.Auc), F(m1.Auc), F(b.PartialAuc), F(m0.PartialAuc), F(m1.PartialAuc));
            csv.Append(string.Create(CultureInfo.InvariantCulture,
                $"{group.Key},{BaselineMode},{clips.Count},0,0,{b.Auc:R},{b.PartialAuc:R},{b.AucSource:R},{b.AucTarget:R},,,\n"));
            foreach (var (r, m) in new[] { (offline, m0), (active, m1) })
                csv.Append(string.Create(CultureInfo.InvariantCulture,
                    $"{group.Key},{(r.Offline ? "offline" : settings.Strategy)},{clips.Count},{r.Queries},{r.Labels},{m.Auc:R},{m.PartialAuc:R},{m.AucSource:R},{m.AucTarget:R},"
                    + $"{m.DecisionsSource!.Value.FalseAlertRate:R},{m.DecisionsTarget!.Value.FalseAlertRate:R},{(m.DecisionsSource.Value + m.DecisionsTarget.Value).Recall:R}\n"));
        }
        table.AddEmptyRow();
        table.AddRow(["harmonic mean", "", "", .. aucs.Concat(paucs).Select(v => F(DetectionMetrics.HarmonicMean(v.ToArray())))]);
        console.Write(table);
        var all = alertCounts[0] + alertCounts[1];
        writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"alerts (score above its machine's φ, with AL): {all.FalseAlertRate:P0} of normal clips (source {alertCounts[0].FalseAlertRate:P0}, target {alertCounts[1].FalseAlertRate:P0}; φ intends 10 %), {all.Recall:P0} of anomalous clips"));
        AtomicFile.WriteAllText(Path.Combine(folder, ResultsFile), csv.ToString());
        writer.WriteLine($"per-machine figures in {Path.Combine(folder, ResultsFile)}");
    }

    private static int[] Shuffled(int count, ulong seed)
    {
        var random = RandomState.FromSeed(seed);
        var order = Enumerable.Range(0, count).ToArray();
        for (int i = count - 1; i > 0; i--)
        {
            int j = random.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    /// <summary>Blocks until Ctrl+C or SIGTERM (System.CommandLine 2.0.0 leaves them to the default handler, which kills the process).</summary>
    private static async Task WaitForInterrupt(CancellationToken cancellation)
    {
        using var interrupted = new Interruption(cancellation);
        try
        {
            await Task.Delay(Timeout.Infinite, interrupted.Token);
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C, SIGTERM or the command's cancellation: the demo stops its silo
        }
    }

    private static string F(double value) => value.ToString("0.000", CultureInfo.InvariantCulture);
}
