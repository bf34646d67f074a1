using System.Globalization;
using System.Text;
using AsdOrleans.Method.Io;
using AsdOrleans.Method.Budget;
using AsdOrleans.Method.Metrics;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Strategies;
using MathNet.Numerics.Distributions;

namespace AsdOrleans.Evaluation.Experiments;

/// <summary>Mean and Student-t 95% confidence interval of one metric over trials.</summary>
public sealed record SummaryRow(string Machine, QueryStrategyKind Strategy, double Budget, string Metric,
    int Trials, double Mean, double Ci95Low, double Ci95High)
{
    /// <summary>The γ, α, w and v of the runs summarised.</summary>
    public SweepPoint Point { get; init; }
}

/// <summary>
/// Aggregates trial results: per machine × strategy × budget, and rows across machines (machine "hmean") computed per
/// trial across machines, then averaged over trials, so their intervals reflect trial spread. An "hmean" row is a harmonic
/// mean except for realised_budget, an arithmetic one; summary.csv's across_machines column says which.
/// </summary>
public static class ExperimentSummary
{
    public const string HarmonicMeanMachine = "hmean";
    public static readonly string[] MachineMetrics = ["auc", "pauc", "auc_source", "auc_target", "realised_budget"];
    /// <summary>The DCASE official score: hmean over every machine's AUC(source), AUC(target) and pAUC.</summary>
    public const string OfficialScore = "official_score";

    /// <summary>How far above b a realised label rate may go before a run counts as overspending (<see cref="BudgetTolerance"/>).</summary>
    public const double OverspendTolerance = BudgetTolerance.Overspend;

    public static bool Overspends(double budget, double realised) => BudgetTolerance.Overspends(budget, realised);

    public static IReadOnlyList<SummaryRow> Summarise(IReadOnlyList<TrialResult> results)
    {
        var rows = new List<SummaryRow>();
        var machines = results.Select(r => r.Machine).Distinct().Order(StringComparer.Ordinal).ToList();
        var groups = results.GroupBy(r => (r.Point, r.Strategy, r.Budget))
            .OrderBy(g => g.Key.Point.Gamma).ThenBy(g => g.Key.Point.Alpha).ThenBy(g => g.Key.Point.Window).ThenBy(g => g.Key.Point.V)
            .ThenBy(g => g.Key.Point.Scoring).ThenBy(g => g.Key.Point.BudgetStart)
            .ThenBy(g => g.Key.Strategy).ThenBy(g => g.Key.Budget);
        foreach (var group in groups)
        {
            var point = group.Key.Point;
            foreach (var machine in machines)
            {
                var runs = group.Where(r => r.Machine == machine).OrderBy(r => r.Trial).ToList();
                foreach (var metric in MachineMetrics)
                    rows.Add(Row(machine, group.Key.Strategy, group.Key.Budget, point, metric, runs.Select(r => Value(r, metric))));
            }
            var trials = group.GroupBy(r => r.Trial).OrderBy(t => t.Key).ToList();
            foreach (var metric in MachineMetrics)
            {
                Func<double[], double> across = MeanAcrossMachines(metric) == ArithmeticMean
                    ? v => DetectionMetrics.ArithmeticMean(v)
                    : v => DetectionMetrics.HarmonicMean(v);
                rows.Add(Row(HarmonicMeanMachine, group.Key.Strategy, group.Key.Budget, point, metric,
                    trials.Select(t => across(t.Select(r => Value(r, metric)).ToArray()))));
            }
            rows.Add(Row(HarmonicMeanMachine, group.Key.Strategy, group.Key.Budget, point, OfficialScore,
                trials.Select(t => DetectionMetrics.HarmonicMean(t.SelectMany(r => new[] { r.AucSource, r.AucTarget, r.PartialAuc }).ToArray()))));
        }
        return rows;
    }

    public const string HarmonicMean = "harmonic", ArithmeticMean = "arithmetic";

    /// <summary>
    /// How an "hmean" row averages the machine types: harmonically for the detection metrics (as DCASE does), arithmetically
    /// for realised_budget, a rate. The row keeps the name "hmean" that commit c0ec0d7's summary.csv gave it.
    /// </summary>
    public static string MeanAcrossMachines(string metric) => metric == "realised_budget" ? ArithmeticMean : HarmonicMean;

    public static (double Mean, double Low, double High) MeanWithConfidence(IReadOnlyList<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("no values to summarise");
        double mean = values.Average();
        if (values.Count == 1)
            return (mean, double.NaN, double.NaN); // one trial has no spread to estimate
        double variance = values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1);
        double half = StudentT.InvCDF(0, 1, values.Count - 1, 0.975) * Math.Sqrt(variance / values.Count);
        return (mean, mean - half, mean + half);
    }

    public static double Value(TrialResult r, string metric) => metric switch
    {
        "auc" => r.Auc,
        "pauc" => r.PartialAuc,
        "auc_source" => r.AucSource,
        "auc_target" => r.AucTarget,
        "realised_budget" => r.RealisedBudget,
        _ => throw new ArgumentException($"unknown metric '{metric}'"),
    };

    public static void WriteResults(string path, IReadOnlyList<TrialResult> results)
    {
        var b = new StringBuilder("machine,strategy,budget,trial,auc,pauc,auc_source,auc_target,clips,queries,realised_budget,normal_labels,anomalous_labels,gamma,alpha,window,v,scoring,budget_start,target_labels,forced_labels,random_labels,declined\n");
        foreach (var r in results)
            b.AppendJoin(',', r.Machine, r.Strategy.ToName(), F(r.Budget), r.Trial, F(r.Auc), F(r.PartialAuc), F(r.AucSource), F(r.AucTarget),
                r.Clips, r.Queries, F(r.RealisedBudget), r.NormalLabels, r.AnomalousLabels,
                F(r.Point.Gamma), F(r.Point.Alpha), r.Point.Window, F(r.Point.V), r.Point.Scoring.ToName(), r.Point.BudgetStart.ToName(), r.TargetLabels, r.ForcedLabels, r.RandomLabels, r.Declined).Append('\n');
        AtomicFile.WriteAllText(path, b.ToString());
    }

    public static void WriteSummary(string path, IReadOnlyList<SummaryRow> rows)
    {
        var b = new StringBuilder("machine,strategy,budget,metric,trials,mean,ci95_low,ci95_high,gamma,alpha,window,v,scoring,budget_start,across_machines\n");
        foreach (var r in rows)
            b.AppendJoin(',', r.Machine, r.Strategy.ToName(), F(r.Budget), r.Metric, r.Trials, F(r.Mean), F(r.Ci95Low), F(r.Ci95High),
                F(r.Point.Gamma), F(r.Point.Alpha), r.Point.Window, F(r.Point.V), r.Point.Scoring.ToName(), r.Point.BudgetStart.ToName(),
                r.Machine == HarmonicMeanMachine ? MeanAcrossMachines(r.Metric) : "").Append('\n');
        AtomicFile.WriteAllText(path, b.ToString());
    }

    private static SummaryRow Row(string machine, QueryStrategyKind strategy, double budget, SweepPoint point, string metric, IEnumerable<double> values)
    {
        var list = values.ToList();
        var (mean, low, high) = MeanWithConfidence(list);
        return new SummaryRow(machine, strategy, budget, metric, list.Count, mean, low, high) { Point = point };
    }

    private static string F(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
