using System.Globalization;
using System.Text;
using AsdOrleans.Method.Io;
using AsdOrleans.Method.Metrics;

namespace AsdOrleans.Evaluation.Experiments;

/// <summary>
/// How a machine type's alerts (score above φ) fall on the offline model's stream, mean over trials: the share of normal
/// clips that raised one (false alerts) and of anomalous clips that did (recall), per domain, and the official F1 per
/// domain (DCASE 2023's decision metric, at the test set's own share of anomalies). A φ that means the same in both
/// domains gives both domains about 1 − the decision quantile of false alerts.
/// </summary>
public sealed record AlertRates(string Machine, int Trials, double FalseAlertsSource, double FalseAlertsTarget,
    double RecallSource, double RecallTarget, double F1Source, double F1Target)
{
    /// <summary>The six shares by name, in the order alerts.csv and the pooled tables list them.</summary>
    public static IReadOnlyList<(string Name, string Label, Func<AlertRates, double> Value)> Measures { get; } =
    [
        ("false_alerts_source", "false alerts, source normals", a => a.FalseAlertsSource),
        ("false_alerts_target", "false alerts, target normals", a => a.FalseAlertsTarget),
        ("recall_source", "recall, source anomalies", a => a.RecallSource),
        ("recall_target", "recall, target anomalies", a => a.RecallTarget),
        ("f1_source", "F1 source (official)", a => a.F1Source),
        ("f1_target", "F1 target (official)", a => a.F1Target),
    ];
}

public static class AlertRateAnalysis
{
    /// <summary>Per machine type, from the offline rows (first sweep point) of <paramref name="outcomes"/>.</summary>
    public static IReadOnlyList<AlertRates> Offline(IReadOnlyList<TrialOutcome> outcomes, ExperimentSettings settings)
    {
        var (strategy, budget) = settings.OfflineKey;
        var point = settings.Points[0];
        return outcomes.Where(o => o.Result.Strategy == strategy && o.Result.Budget == budget && o.Result.Point == point)
            .GroupBy(o => o.Result.Machine)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => Of(g.Key, g.Select(o => o.Stream).ToList()))
            .ToList();
    }

    /// <summary>alerts.csv in a run folder: the report's "Alerts at φ" table, one row per machine type, for `asd pool`.</summary>
    public const string FileName = "alerts.csv";
    private static readonly string Header = "machine,trials," + string.Join(',', AlertRates.Measures.Select(m => m.Name));

    public static void WriteCsv(string path, IReadOnlyList<AlertRates> alerts)
    {
        var b = new StringBuilder(Header).Append('\n');
        foreach (var a in alerts)
            b.Append(a.Machine).Append(',').Append(a.Trials.ToString(CultureInfo.InvariantCulture)).Append(',')
                .AppendJoin(',', AlertRates.Measures.Select(m => m.Value(a) is var v && double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture))).Append('\n');
        AtomicFile.WriteAllText(path, b.ToString());
    }

    /// <summary>alerts.csv as <see cref="WriteCsv"/> writes it; <see cref="InputDataException"/> names the line of anything else.</summary>
    public static IReadOnlyList<AlertRates> ReadCsv(string path)
    {
        var (header, rows) = CsvRecords.ReadWithHeader(path);
        if (string.Join(',', header) != Header)
            throw new InputDataException(path, 1, $"not an alerts.csv (header {Header})");
        var alerts = new List<AlertRates>(rows.Count);
        foreach (var row in rows)
        {
            double Share(int column)
            {
                if (row.Fields[column].Length == 0) return double.NaN; // a domain without such clips in the stream
                double value = CsvRecords.ParseFinite(path, row.Line, header[column], row.Fields[column]);
                return value is >= 0 and <= 1 ? value : throw new InputDataException(path, row.Line, $"column '{header[column]}': {value} is not a share in [0, 1]");
            }
            alerts.Add(new AlertRates(row.Fields[0], (int)CsvRecords.ParseInteger(path, row.Line, "trials", row.Fields[1], 1, int.MaxValue),
                Share(2), Share(3), Share(4), Share(5), Share(6), Share(7)));
        }
        if (alerts.Count == 0)
            throw new InputDataException(path, null, "no machine rows");
        return alerts;
    }

    public static AlertRates Of(string machine, IReadOnlyList<StreamTrace> trials)
    {
        var counts = trials.Select(t => DetectionMetrics.Evaluate(t.Scores, t.IsAnomaly, t.IsTarget, t.Alerts)).ToList();
        double Mean(bool target, Func<ConfusionCounts, double> value) => counts.Average(m => value((target ? m.DecisionsTarget : m.DecisionsSource)!.Value));
        return new AlertRates(machine, trials.Count,
            Mean(false, c => c.FalseAlertRate), Mean(true, c => c.FalseAlertRate),
            Mean(false, c => c.Recall), Mean(true, c => c.Recall),
            Mean(false, c => c.F1), Mean(true, c => c.F1));
    }
}
