using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Evaluation.Experiments;

/// <summary>One plant's figure under two methods: the runs compared, and A − B.</summary>
public sealed record PlantDifference(string Run, string Against, double Auc, double PartialAuc);

/// <summary>
/// Two sets of runs on the same plants (method A and method B), paired plant by plant: the offline model (strategy
/// null) or a strategy at a budget, A − B with its 95% interval over plants.
/// </summary>
public sealed record MethodDifference(QueryStrategyKind? Strategy, double Budget, IReadOnlyList<PlantDifference> Plants)
{
    public MeanInterval Auc => MeanInterval.Of(Plants.Select(p => p.Auc).ToList());
    public MeanInterval PartialAuc => MeanInterval.Of(Plants.Select(p => p.PartialAuc).ToList());
    public int PlantsWhereALosesAuc => Plants.Count(p => p.Auc < 0);
    public int PlantsWhereALosesPartialAuc => Plants.Count(p => p.PartialAuc < 0);
}

/// <summary>One alert share (<see cref="AlertRates.Measures"/>) under two methods, A − B per plant (each plant's mean over
/// its machine types), with its 95% interval over plants.</summary>
public sealed record AlertDifference(string Measure, string Label, IReadOnlyList<(string Run, string Against, double A, double B)> Plants)
{
    public MeanInterval Difference => MeanInterval.Of(Plants.Select(p => p.A - p.B).ToList());
    public double MeanA => Plants.Average(p => p.A);
    public double MeanB => Plants.Average(p => p.B);
}

public static class MethodComparison
{
    /// <summary>
    /// The pairs of <see cref="Compare"/> (by position) whose runs read other data, as their report.md says, described for a
    /// warning: the same plant may sit under two paths. Where every run says its data and another order of
    /// <paramref name="b"/> would pair each run with its own data, the order is a mistake: refused, naming that order.
    /// </summary>
    public static IReadOnlyList<string> PairsOnOtherData(IReadOnlyList<ExperimentRunFolder> a, IReadOnlyList<ExperimentRunFolder> b)
    {
        if (a.Count != b.Count) return []; // Compare refuses these
        var other = a.Zip(b).Where(p => p.First.Data is not null && p.Second.Data is not null && p.First.Data != p.Second.Data)
            .Select(p => $"{p.First.Name} ({p.First.Data}) with {p.Second.Name} ({p.Second.Data})").ToList();
        if (other.Count == 0 || a.Concat(b).Any(r => r.Data is null)) return other;
        var unused = b.ToList();
        var order = new List<ExperimentRunFolder>();
        foreach (var run in a)
        {
            if (unused.FirstOrDefault(u => u.Data == run.Data) is not { } same) return other;
            unused.Remove(same);
            order.Add(same);
        }
        throw new ArgumentException($"--against pairs runs by position, and {string.Join("; ", other)} read other data; in the order "
            + $"{string.Join(" ", order.Select(r => r.Folder))} each run is paired with a run on its own data");
    }

    /// <summary>
    /// The offline model's alert shares, A − B per plant, over the plants whose runs both wrote alerts.csv; empty where no
    /// pair did. Pairs by position, as <see cref="Compare"/> does.
    /// </summary>
    public static IReadOnlyList<AlertDifference> CompareAlerts(PoolReport a, PoolReport b)
    {
        RunAlerts? Of(PoolReport report, string run) => report.Alerts?.Runs.FirstOrDefault(r => r.Run == run);
        var pairs = Plants(a, b).Select(p => (A: Of(a, p.First), B: Of(b, p.Second))).Where(p => p.A is not null && p.B is not null).ToList();
        if (pairs.Count == 0) return [];
        return AlertRates.Measures.Select(m => new AlertDifference(m.Name, m.Label,
                pairs.Select(p => (p.A!.Run, p.B!.Run, p.A.Mean(m.Value), p.B.Mean(m.Value))).Where(p => double.IsFinite(p.Item3) && double.IsFinite(p.Item4)).ToList()))
            .Where(d => d.Plants.Count > 0)
            .ToList();
    }

    /// <summary>
    /// A − B per plant, the i-th run of <paramref name="a"/> against the i-th of <paramref name="b"/>, for the offline
    /// model and every strategy and budget both have. Each set must hold one method setting (one sweep point).
    /// </summary>
    public static IReadOnlyList<MethodDifference> Compare(PoolReport a, PoolReport b)
    {
        var pairs = Plants(a, b);
        var offlineA = SinglePoint(a, "the runs");
        var offlineB = SinglePoint(b, "the runs to compare against");
        RunOffline Offline(PooledOffline pooled, string run) => pooled.Runs.Single(r => r.Run == run);
        var differences = new List<MethodDifference>
        {
            new(null, 0, pairs.Select(p => new PlantDifference(p.First, p.Second,
                Offline(offlineA, p.First).Auc - Offline(offlineB, p.Second).Auc,
                Offline(offlineA, p.First).PartialAuc - Offline(offlineB, p.Second).PartialAuc)).ToList()),
        };
        foreach (var gainA in a.Gains)
        {
            var gainB = b.Gains.FirstOrDefault(g => g.Strategy == gainA.Strategy && g.Budget == gainA.Budget);
            if (gainB is null) continue;
            var plants = new List<PlantDifference>();
            foreach (var (runA, runB) in pairs)
            {
                var withA = gainA.Runs.FirstOrDefault(r => r.Run == runA);
                var withB = gainB.Runs.FirstOrDefault(r => r.Run == runB);
                if (withA is null || withB is null) continue;
                // A run's mean with labels is its offline mean plus its mean paired gain.
                plants.Add(new PlantDifference(runA, runB,
                    Offline(offlineA, runA).Auc + withA.AucGain.Mean - (Offline(offlineB, runB).Auc + withB.AucGain.Mean),
                    Offline(offlineA, runA).PartialAuc + withA.PartialAucGain.Mean - (Offline(offlineB, runB).PartialAuc + withB.PartialAucGain.Mean)));
            }
            if (plants.Count > 0)
                differences.Add(new MethodDifference(gainA.Strategy, gainA.Budget, plants));
        }
        return differences;
    }

    /// <summary>The i-th run of <paramref name="a"/> with the i-th of <paramref name="b"/>: the same plant under two methods.</summary>
    private static List<(string First, string Second)> Plants(PoolReport a, PoolReport b)
        => a.Runs.Count == b.Runs.Count ? a.Runs.Zip(b.Runs).ToList()
            : throw new ArgumentException($"{a.Runs.Count} runs against {b.Runs.Count}: the two sets pair plant by plant, in the order given");

    private static PooledOffline SinglePoint(PoolReport report, string which)
        => report.Offline.Count == 1 ? report.Offline[0]
            : throw new ArgumentException($"{which} hold {report.Offline.Count} method settings ({string.Join(", ", report.Offline.Select(o => report.NameOf(o.Point)))}); a comparison takes one setting per set");
}
