using System.Diagnostics;
using System.Globalization;
using AsdOrleans.Abstractions;
using AsdOrleans.Grains;
using AsdOrleans.Silo;
using MathNet.Numerics.Statistics;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Cli.Benchmarks;

public static partial class ClusterBenchmark
{
    private const int AlertClipsPerMachine = 20, AlertQueries = 5, AlertListSize = 100;

    /// <summary>
    /// The plant-wide alert list (`GET /api/alerts`, newest 100) two ways on the same machines, alternating: from the
    /// alert index's shards (what the API does) and from every machine's score history (what it did before the index).
    /// </summary>
    private static async Task RunAlertsAsync(TextWriter output, Settings settings, IReadOnlyList<EnrollmentClip> enrollmentClips, float[][] stream)
    {
        output.WriteLine();
        output.WriteLine($"alert list: the newest {AlertListSize} alerts of the plant, from the {MachineRegistryShards.Count} alert-index shards and from every " +
                         $"machine's score history, alternating, {AlertQueries} queries each; {AlertClipsPerMachine} clips per machine (synthetic embeddings, half anomalous)");
        await using var silo = await EmbeddedSilo.StartAsync(new Dictionary<string, string?>());
        var grains = silo.App.Services.GetRequiredService<IGrainFactory>();
        var enrollment = new EnrollmentRequest(enrollmentClips.ToList(), SyntheticModelVersion);
        output.WriteLine($"{"machines",8} {"alerts",8} {"index ms",9} {"histories ms",13} {"ratio",7} {"same list",10}");
        var machines = new List<string>();
        foreach (int target in settings.Machines.Order())
        {
            var newcomers = Enumerable.Range(machines.Count, target - machines.Count).Select(i => $"bench.alerts-{i:D6}").ToList();
            await Parallel.ForEachAsync(newcomers, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (id, _) =>
            {
                var machine = grains.GetGrain<IMachineGrain>(id);
                await machine.Enroll(enrollment);
                int offset = Math.Abs(id.GetHashCode()) % stream.Length;
                for (int c = 0; c < AlertClipsPerMachine; c++)
                    await machine.ProcessClip(new ClipSubmission($"a{c}", stream[(offset + c) % stream.Length], SyntheticModelVersion));
            });
            machines.AddRange(newcomers);
            await Task.Delay(TimeSpan.FromSeconds(2)); // the one-way history → index messages arrive

            var fromIndex = new List<double>();
            var fromHistories = new List<double>();
            List<AlertView> indexed = [], scanned = [];
            int alerts = 0;
            for (int q = 0; q < AlertQueries; q++)
            {
                var watch = Stopwatch.StartNew();
                indexed = await ConsoleApi.PlantAlerts(grains, null, AlertListSize);
                fromIndex.Add(watch.Elapsed.TotalMilliseconds);
                watch.Restart();
                // Before the index: every registered machine's history, its anomalous points, merged (the API until 2026-12-03).
                var ids = await grains.GetGrain<IMachineRegistryGrain>(0).List();
                var histories = await Task.WhenAll(ids.Select(async id => (Id: id, Points: await grains.GetGrain<IScoreHistoryGrain>(id).Get(null, MachineScoreHistory.Capacity))));
                var all = histories.SelectMany(h => h.Points.Where(p => p.Anomalous).Select(p => (h.Id, p))).ToList();
                alerts = all.Count;
                scanned = all.OrderByDescending(a => a.p.At).ThenBy(a => a.Id, StringComparer.Ordinal).Take(AlertListSize)
                    .Select(a => new AlertView(a.Id, a.p.ClipId, a.p.ClipIndex, a.p.Score, a.p.DecisionThreshold, a.p.At, a.p.LabelRequested, a.p.Label)).ToList();
                fromHistories.Add(watch.Elapsed.TotalMilliseconds);
            }
            double index = fromIndex.Median(), scan = fromHistories.Median();
            bool same = indexed.Select(a => (a.MachineId, a.ClipId)).SequenceEqual(scanned.Select(a => (a.MachineId, a.ClipId)));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{target,8} {alerts,8} {index,9:F1} {scan,13:F1} {scan / index,7:F1} {(same ? "yes" : "no"),10}"));
        }
    }
}
