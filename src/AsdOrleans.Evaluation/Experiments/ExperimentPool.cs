using AsdOrleans.Method.Budget;
using AsdOrleans.Method.Metrics;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Evaluation.Experiments;

/// <summary>A mean with its Student-t 95% interval (NaN bounds from a single value).</summary>
public readonly record struct MeanInterval(double Mean, double Low, double High)
{
    public static MeanInterval Of(IReadOnlyList<double> values)
    {
        var (mean, low, high) = ExperimentSummary.MeanWithConfidence(values);
        return new MeanInterval(mean, low, high);
    }

    public bool ExcludesZeroAbove => Low > 0;
    public bool ExcludesZeroBelow => High < 0;
}

/// <summary>One run's offline model at a sweep point: harmonic means over machine types, averaged over trials.</summary>
public sealed record RunOffline(string Run, SweepPoint Point, double Auc, double PartialAuc, double AucSource, double AucTarget,
    IReadOnlyDictionary<string, double> AucByMachine);

/// <summary>One run's strategy at one budget against its offline model, paired per trial (same stream order).</summary>
public sealed record RunGain(string Run, SweepPoint Point, QueryStrategyKind Strategy, double Budget,
    MeanInterval AucGain, MeanInterval PartialAucGain, double Realised, double HighestMachineRealised,
    long Labels, long TargetLabels, long NormalLabels, long ForcedLabels, long RandomLabels, long Declined = 0)
{
    /// <summary>Requests answered with a label (<see cref="Labels"/> counts every request, declined ones too).</summary>
    public long Answered => Labels - Declined;

    public bool Overspends => BudgetTolerance.Overspends(Budget, HighestMachineRealised);
}

/// <summary>The offline model over runs: mean [95% CI over runs] and the lowest run, per harmonic-mean metric.</summary>
public sealed record PooledOffline(SweepPoint Point, IReadOnlyList<RunOffline> Runs, PooledBaseline? Baseline)
{
    public MeanInterval Auc => MeanInterval.Of(Runs.Select(r => r.Auc).ToList());
    public MeanInterval PartialAuc => MeanInterval.Of(Runs.Select(r => r.PartialAuc).ToList());
    public MeanInterval AucSource => MeanInterval.Of(Runs.Select(r => r.AucSource).ToList());
    public MeanInterval AucTarget => MeanInterval.Of(Runs.Select(r => r.AucTarget).ToList());
    public RunOffline LowestAuc => Runs.MinBy(r => r.Auc)!;
    public RunOffline LowestPartialAuc => Runs.MinBy(r => r.PartialAuc)!;
    public RunOffline LowestAucTarget => Runs.MinBy(r => r.AucTarget)!;
}

/// <summary>The offline model against the training-free baseline, machine type by machine type over every run that has one.</summary>
public sealed record PooledBaseline(int Runs, MeanInterval BaselineAuc, int MachineTypes, int TypesAtMargin, double Margin,
    double SmallestLead, string SmallestLeadAt);

/// <summary>A strategy at a budget over runs: the paired gains' mean [95% CI over runs], extremes and counts.</summary>
public sealed record PooledGain(SweepPoint Point, QueryStrategyKind Strategy, double Budget, IReadOnlyList<RunGain> Runs)
{
    public MeanInterval AucGain => MeanInterval.Of(Runs.Select(r => r.AucGain.Mean).ToList());
    public MeanInterval PartialAucGain => MeanInterval.Of(Runs.Select(r => r.PartialAucGain.Mean).ToList());
    public RunGain LowestAucGain => Runs.MinBy(r => r.AucGain.Mean)!;
    public RunGain HighestAucGain => Runs.MaxBy(r => r.AucGain.Mean)!;
    public int RunsBelowOfflineAuc => Runs.Count(r => r.AucGain.Mean < 0);
    public int RunsBelowOfflinePartialAuc => Runs.Count(r => r.PartialAucGain.Mean < 0);
    /// <summary>Runs whose paired CI over trials lies wholly above (below) 0: gains (losses) that run's trials resolve.</summary>
    public int RunsResolvedAbove => Runs.Count(r => r.AucGain.ExcludesZeroAbove);
    public int RunsResolvedBelow => Runs.Count(r => r.AucGain.ExcludesZeroBelow);
    public double LowestRealised => Runs.Min(r => r.Realised);
    public double HighestRealised => Runs.Max(r => r.Realised);
    public int OverspentRuns => Runs.Count(r => r.Overspends);
    public long Labels => Runs.Sum(r => r.Labels);
    /// <summary>Share of the labels asked on target-domain clips; null where a run's results.csv predates the count.</summary>
    public double? TargetShare => ShareOfLabels(r => r.TargetLabels);
    /// <summary>Share of the labels given that are normal (a declined request gave none).</summary>
    public double? NormalShare => Runs.Sum(r => r.Answered) is var answered and > 0 ? (double)Runs.Sum(r => r.NormalLabels) / answered : null;
    /// <summary>The lowest and highest run's share, over runs that asked for labels.</summary>
    public (double Low, double High)? TargetShareRange => TargetShare is null ? null : Range(r => r.TargetLabels);
    public (double Low, double High)? NormalShareRange => NormalShare is null ? null : Range(r => r.NormalLabels, of: r => r.Answered);
    public long Declined => Runs.Sum(r => r.Declined);
    /// <summary>Share of the labels the paced budget's floor forced; null where a run's results.csv predates the count.</summary>
    public double? ForcedShare => ShareOfLabels(r => r.ForcedLabels);
    public (double Low, double High)? ForcedShareRange => ForcedShare is null ? null : Range(r => r.ForcedLabels);

    /// <summary>A count's share of the labels over runs; null when no label was asked or a run does not know the count.</summary>
    private double? ShareOfLabels(Func<RunGain, long> count)
        => ExperimentPool.KnownSum(Runs, count) is var known and >= 0 && Labels > 0 ? (double)known / Labels : null;

    /// <summary>The lowest and highest run's share of <paramref name="count"/> in <paramref name="of"/> (default: the
    /// requests), over runs where that is not 0.</summary>
    private (double, double) Range(Func<RunGain, long> count, Func<RunGain, long>? of = null)
    {
        of ??= r => r.Labels;
        var shares = Runs.Where(r => of(r) > 0).Select(r => (double)count(r) / of(r)).ToList();
        return (shares.Min(), shares.Max());
    }
}

/// <summary>One run's offline alerts (alerts.csv): per machine type, and each share's mean over the machine types.</summary>
public sealed record RunAlerts(string Run, IReadOnlyList<AlertRates> Machines)
{
    /// <summary>The mean over machine types of one share (a type whose stream had no such clips left out); NaN if none had.</summary>
    public double Mean(Func<AlertRates, double> share)
        => Machines.Select(share).Where(double.IsFinite).DefaultIfEmpty(double.NaN).Average();
}

/// <summary>The offline model's alerts over the runs that wrote alerts.csv: each run the mean over its machine types.</summary>
public sealed record PooledAlerts(IReadOnlyList<RunAlerts> Runs)
{
    /// <summary>Mean [95% CI over runs] of the runs' means.</summary>
    public MeanInterval Of(Func<AlertRates, double> share)
        => MeanInterval.Of(Runs.Select(r => r.Mean(share)).Where(double.IsFinite).ToList());

    /// <summary>The lowest and highest machine type over every run, with where each was.</summary>
    public ((double Value, string At) Low, (double Value, string At) High) MachineRange(Func<AlertRates, double> share)
    {
        var values = Runs.SelectMany(r => r.Machines.Select(m => (Value: share(m), At: $"{r.Run} {m.Machine}"))).Where(v => double.IsFinite(v.Value)).ToList();
        return values.Count == 0 ? ((double.NaN, ""), (double.NaN, "")) : (values.MinBy(v => v.Value), values.MaxBy(v => v.Value));
    }
}

/// <summary>Everything `asd pool` reports.</summary>
public sealed record PoolReport(IReadOnlyList<string> Runs, IReadOnlyList<PooledOffline> Offline, IReadOnlyList<PooledGain> Gains)
{
    /// <summary>The offline model's alerts, over the runs that have alerts.csv; null where none has.</summary>
    public PooledAlerts? Alerts { get; init; }

    /// <summary>A sweep point's name among the pooled points (<see cref="SweepPoint.NameAmong"/>).</summary>
    public string NameOf(SweepPoint point) => point.NameAmong(Offline.Select(o => o.Point));
}

/// <summary>
/// Pools experiment runs over data sets (plants): within a run, each strategy and budget is paired with the offline model
/// trial by trial (the summary's harmonic means over machine types); over runs, the unit is the run, so the interval
/// says how the gain varies from plant to plant, not from trial to trial.
/// </summary>
public static class ExperimentPool
{
    /// <summary>The issue-11 margin by which the offline model should beat the training-free baseline on every machine type.</summary>
    public const double DefaultBaselineMargin = 0.05;

    public static PoolReport Pool(IReadOnlyList<ExperimentRunFolder> runs, double baselineMargin = DefaultBaselineMargin)
    {
        if (runs.Count == 0) throw new ArgumentException("no runs to pool");
        var duplicate = runs.GroupBy(r => r.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new ArgumentException($"two runs are named '{duplicate.Key}'; pool runs of different folder names");

        var offline = new List<RunOffline>();
        var gains = new List<RunGain>();
        foreach (var run in runs)
        {
            var (runOffline, runGains) = PairWithOffline(run);
            offline.AddRange(runOffline);
            gains.AddRange(runGains);
        }

        var pooledOffline = offline.GroupBy(o => o.Point).OrderBy(g => PointOrder(g.Key))
            .Select(g => new PooledOffline(g.Key, g.ToList(), CompareWithBaseline(g.ToList(), runs, baselineMargin)))
            .ToList();
        var pooledGains = gains.GroupBy(g => (g.Point, g.Strategy, g.Budget))
            .OrderBy(g => PointOrder(g.Key.Point)).ThenBy(g => g.Key.Strategy).ThenBy(g => g.Key.Budget)
            .Select(g => new PooledGain(g.Key.Point, g.Key.Strategy, g.Key.Budget, g.ToList()))
            .ToList();
        var alerts = runs.Where(r => r.Alerts is not null).Select(r => new RunAlerts(r.Name, r.Alerts!)).ToList();
        return new PoolReport(runs.Select(r => r.Name).ToList(), pooledOffline, pooledGains)
        {
            Alerts = alerts.Count == 0 ? null : new PooledAlerts(alerts),
        };
    }

    private static (List<RunOffline>, List<RunGain>) PairWithOffline(ExperimentRunFolder run)
    {
        var offline = new List<RunOffline>();
        var gains = new List<RunGain>();
        var points = run.Results.Select(r => r.Point).Distinct().OrderBy(PointOrder).ToList();
        foreach (var point in points)
        {
            var atPoint = run.Results.Where(r => r.Point == point).ToList();
            var reference = OfflineRows(run.Name, point.NameAmong(points), atPoint);
            var offlineByTrial = reference.GroupBy(r => r.Trial).ToDictionary(g => g.Key, g => g.ToList());
            var machines = reference.Select(r => r.Machine).Distinct().Order(StringComparer.Ordinal).ToList();
            offline.Add(new RunOffline(run.Name, point,
                offlineByTrial.Values.Average(t => HarmonicMean(t, r => r.Auc)),
                offlineByTrial.Values.Average(t => HarmonicMean(t, r => r.PartialAuc)),
                offlineByTrial.Values.Average(t => HarmonicMean(t, r => r.AucSource)),
                offlineByTrial.Values.Average(t => HarmonicMean(t, r => r.AucTarget)),
                machines.ToDictionary(m => m, m => reference.Where(r => r.Machine == m).Average(r => r.Auc), StringComparer.Ordinal)));

            foreach (var group in atPoint.Where(r => r.Budget > 0 && r.Strategy != QueryStrategyKind.None).GroupBy(r => (r.Strategy, r.Budget)))
            {
                var aucGains = new List<double>();
                var paucGains = new List<double>();
                var realised = new List<double>();
                foreach (var trial in group.GroupBy(r => r.Trial).OrderBy(t => t.Key))
                {
                    var rows = trial.ToList();
                    if (!offlineByTrial.TryGetValue(trial.Key, out var baseRows))
                        throw new InvalidDataException($"run '{run.Name}': {group.Key.Strategy.ToName()} at b = {group.Key.Budget} has trial {trial.Key}, the offline model has not");
                    var rowMachines = rows.Select(r => r.Machine).Order(StringComparer.Ordinal);
                    if (!rowMachines.SequenceEqual(baseRows.Select(r => r.Machine).Order(StringComparer.Ordinal)))
                        throw new InvalidDataException($"run '{run.Name}': {group.Key.Strategy.ToName()} at b = {group.Key.Budget}, trial {trial.Key}, covers other machine types than the offline model");
                    aucGains.Add(HarmonicMean(rows, r => r.Auc) - HarmonicMean(baseRows, r => r.Auc));
                    paucGains.Add(HarmonicMean(rows, r => r.PartialAuc) - HarmonicMean(baseRows, r => r.PartialAuc));
                    realised.Add(DetectionMetrics.ArithmeticMean(rows.Select(r => r.RealisedBudget).ToArray()));
                }
                var rowsOfGroup = group.ToList();
                double highestMachine = rowsOfGroup.GroupBy(r => r.Machine).Max(m => m.Average(r => r.RealisedBudget));
                gains.Add(new RunGain(run.Name, point, group.Key.Strategy, group.Key.Budget, MeanInterval.Of(aucGains), MeanInterval.Of(paucGains),
                    realised.Average(), highestMachine, rowsOfGroup.Sum(r => r.Queries),
                    KnownSum(rowsOfGroup, r => r.TargetLabels), rowsOfGroup.Sum(r => r.NormalLabels), KnownSum(rowsOfGroup, r => r.ForcedLabels),
                    KnownSum(rowsOfGroup, r => r.RandomLabels), rowsOfGroup.Sum(r => r.Declined)));
            }
        }
        return (offline, gains);
    }

    /// <summary>
    /// The offline model among a sweep point's rows, by the rule the run's own report applies
    /// (<see cref="ExperimentSettings.OfflineKeyOf"/>), with the strategies and budgets in the order results.csv lists them.
    /// </summary>
    private static List<TrialResult> OfflineRows(string run, string pointName, IReadOnlyList<TrialResult> atPoint)
    {
        var key = ExperimentSettings.OfflineKeyOf(atPoint.Select(r => r.Strategy).Distinct().ToList(), atPoint.Select(r => r.Budget).Distinct().ToList())
            ?? throw new InvalidDataException($"run '{run}' has no offline model for {pointName} (neither budget 0 nor strategy none was run): run the experiment with 0 among --budgets or none among --strategies");
        return atPoint.Where(r => r.Strategy == key.Strategy && r.Budget == key.Budget).ToList();
    }

    private static PooledBaseline? CompareWithBaseline(IReadOnlyList<RunOffline> offline, IReadOnlyList<ExperimentRunFolder> runs, double margin)
    {
        var baselines = runs.Where(r => r.BaselineAuc is not null).ToDictionary(r => r.Name, r => r.BaselineAuc!, StringComparer.Ordinal);
        var compared = offline.Where(o => baselines.ContainsKey(o.Run)).ToList();
        if (compared.Count == 0) return null;
        var leads = new List<(double Lead, string At)>();
        var baselineHarmonic = new List<double>();
        foreach (var run in compared)
        {
            var baseline = baselines[run.Run];
            var shared = run.AucByMachine.Keys.Where(baseline.ContainsKey).ToList();
            if (shared.Count == 0) continue;
            baselineHarmonic.Add(DetectionMetrics.HarmonicMean(shared.Select(m => baseline[m]).ToArray()));
            leads.AddRange(shared.Select(m => (run.AucByMachine[m] - baseline[m], $"{run.Run} {m}")));
        }
        if (leads.Count == 0) return null;
        var smallest = leads.MinBy(l => l.Lead);
        return new PooledBaseline(baselineHarmonic.Count, MeanInterval.Of(baselineHarmonic), leads.Count,
            leads.Count(l => l.Lead >= margin - 1e-12), margin, smallest.Lead, smallest.At);
    }

    /// <summary>The sum of a count that older results.csv files lack (−1): −1 when any row does not know it.</summary>
    public static long KnownSum<T>(IReadOnlyList<T> rows, Func<T, long> count) => rows.Any(r => count(r) < 0) ? -1 : rows.Sum(count);

    private static double HarmonicMean(IReadOnlyList<TrialResult> rows, Func<TrialResult, double> metric)
        => DetectionMetrics.HarmonicMean(rows.Select(metric).ToArray());

    private static (int, double, double, int, double, int) PointOrder(SweepPoint p)
        => ((int)p.Scoring, p.Gamma, p.Alpha, p.Window, p.V, (int)p.BudgetStart);
}
