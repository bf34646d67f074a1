using System.Globalization;
using System.Text;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Io;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Cli.Experiments;

/// <summary>
/// The training-free baseline's offline run (issue 11), reported beside the model's as DCASE reports carry their
/// baseline: the same clips, machines, trials and seed, strategy none at b = 0, on the baseline's per-machine
/// standardised embeddings, and always under the baseline's own method (<see cref="Method"/>), not the model's. Written to baseline.csv (table1.csv's columns) and shown as
/// "baseline (training-free)" rows in the printed summary and report.md; results.csv, summary.csv and table1.csv hold the
/// model's rows only, as before.
/// </summary>
public sealed class BaselineRun
{
    public const string FileName = ExperimentRunFolder.BaselineFile;
    public static readonly string[] Metrics = ["auc_source", "auc_target", "auc", "pauc", ExperimentSummary.OfficialScore];

    /// <summary>
    /// The baseline's method as issue 11 defines it: score = 1 − max cosine to the machine's training clips, i.e. Eq. 1
    /// against every training clip, in fp32, unbounded (<c>asd experiment --method paper --clusters N</c>, N at least the
    /// source clips). Fixed, so the row means the same whatever the model's scoring: under the default domain scoring the
    /// baseline's features scored up to 0.07 higher on some plants (docs/decisions.md, "the baseline row's method").
    /// </summary>
    public static readonly MachineConfig Method = MachineConfig.Paper with { SourceClusters = MachineConfig.AllSourceClips };

    private readonly Dictionary<(string Machine, string Metric), SummaryRow> _rows;

    private BaselineRun(IReadOnlyList<SummaryRow> rows, string version)
    {
        Rows = rows;
        Version = version;
        _rows = rows.ToDictionary(r => (r.Machine, r.Metric));
    }

    /// <summary>The summary rows: per machine type and "hmean", strategy none, budget 0.</summary>
    public IReadOnlyList<SummaryRow> Rows { get; }
    /// <summary>The baseline's settings id.</summary>
    public string Version { get; }

    public SummaryRow this[string machine, string metric] => _rows[(machine, metric)];
    public bool Has(string machine, string metric) => _rows.ContainsKey((machine, metric));

    /// <summary>Runs the offline protocol (the trials and seed of <paramref name="settings"/>, the baseline's
    /// <see cref="Method"/>) on the baseline table.</summary>
    public static BaselineRun Compute(EmbeddingTable standardised, ExperimentSettings settings, string version)
    {
        var offline = settings with
        {
            Strategies = [QueryStrategyKind.None], Budgets = [0], Method = BaselineRun.Method,
            Gammas = null, Alphas = null, Windows = null, RandomShares = null, Scorings = null, BudgetStarts = null,
        };
        var results = PrequentialExperiment.Run(standardised, offline);
        return new BaselineRun(ExperimentSummary.Summarise(results), version);
    }

    /// <summary>baseline.csv: machine,metric,trials,mean,ci95_low,ci95_high (table1.csv's columns, plus the official score).</summary>
    public void Write(string runFolder)
    {
        var b = new StringBuilder(ExperimentRunFolder.MachineMetricHeader).Append('\n');
        var machines = Rows.Select(r => r.Machine).Where(m => m != ExperimentSummary.HarmonicMeanMachine).Distinct().Order(StringComparer.Ordinal);
        foreach (var machine in machines.Append(ExperimentSummary.HarmonicMeanMachine))
            foreach (var metric in Metrics.Where(m => Has(machine, m)))
            {
                var r = this[machine, metric];
                b.AppendJoin(',', machine, metric, r.Trials, R(r.Mean), R(r.Ci95Low), R(r.Ci95High)).Append('\n');
            }
        AtomicFile.WriteAllText(Path.Combine(runFolder, FileName), b.ToString());
    }

    private static string R(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
