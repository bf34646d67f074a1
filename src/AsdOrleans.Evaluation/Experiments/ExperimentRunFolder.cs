using AsdOrleans.Method.Budget;
using AsdOrleans.Method.Io;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Evaluation.Experiments;

/// <summary>
/// An `asd experiment` run folder read back: its trial results (results.csv) and, where the run had one, the
/// training-free baseline's offline AUC per machine type (baseline.csv). What `asd pool` pools over plants.
/// </summary>
public sealed record ExperimentRunFolder(string Name, string Folder, IReadOnlyList<TrialResult> Results, IReadOnlyDictionary<string, double>? BaselineAuc)
{
    public const string ResultsFile = "results.csv";
    public const string BaselineFile = "baseline.csv";

    /// <summary>The offline model's alerts per machine type (alerts.csv); null for a run from before the file.</summary>
    public IReadOnlyList<AlertRates>? Alerts { get; init; }
    /// <summary>The data the run read, as its report.md's data row says (a full path, and how its clips were enrolled);
    /// null where the folder has no report.md or the row.</summary>
    public string? Data { get; init; }

    private const string ReportFile = "report.md";
    private const string DataRow = "| data | ";
    /// <summary>The header of table1.csv and baseline.csv: one row per machine (and hmean) × metric.</summary>
    public const string MachineMetricHeader = "machine,metric,trials,mean,ci95_low,ci95_high";

    private static readonly string[] RequiredColumns =
        ["machine", "strategy", "budget", "trial", "auc", "pauc", "auc_source", "auc_target", "clips", "queries", "normal_labels", "anomalous_labels", "gamma", "alpha", "window", "v"];

    /// <summary>Reads a run folder; <see cref="InputDataException"/> names the file and line of anything it cannot read.</summary>
    public static ExperimentRunFolder Load(string folder, string? name = null)
    {
        string results = Path.Combine(folder, ResultsFile);
        if (!File.Exists(results))
            throw new InvalidDataException($"'{folder}' has no {ResultsFile}: it is not an `asd experiment` run folder");
        string baseline = Path.Combine(folder, BaselineFile);
        string alerts = Path.Combine(folder, AlertRateAnalysis.FileName);
        return new ExperimentRunFolder(name ?? RunName(folder), folder, ReadResults(results),
            File.Exists(baseline) ? ReadBaselineAuc(baseline) : null)
        {
            Alerts = File.Exists(alerts) ? AlertRateAnalysis.ReadCsv(alerts) : null,
            Data = ReadData(Path.Combine(folder, ReportFile)),
        };
    }

    private static string? ReadData(string report)
        => File.Exists(report)
            && File.ReadLines(report).FirstOrDefault(l => l.StartsWith(DataRow, StringComparison.Ordinal) && l.EndsWith(" |", StringComparison.Ordinal)) is { } row
            ? row[DataRow.Length..^2] : null;

    /// <summary>The folder's own name (a run folder is named for its plant, as tq-plant0).</summary>
    public static string RunName(string folder) => Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)));

    /// <summary>
    /// results.csv as <see cref="ExperimentSummary.WriteResults"/> writes it. Columns are found by name; files from before a
    /// column existed read as the method then was: scoring and budget start the paper's, target and forced labels unknown (−1).
    /// </summary>
    public static IReadOnlyList<TrialResult> ReadResults(string path)
    {
        var (header, lines) = CsvRecords.ReadWithHeader(path);
        var columns = header.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
        var missing = RequiredColumns.Where(c => !columns.ContainsKey(c)).ToList();
        if (missing.Count > 0)
            throw new InputDataException(path, 1, $"no column {string.Join(", ", missing)} in the header; is this an `asd experiment` results.csv?");
        int Column(string name) => columns.TryGetValue(name, out int i) ? i : -1;
        int scoring = Column("scoring"), budgetStart = Column("budget_start"), targetLabels = Column("target_labels"), forcedLabels = Column("forced_labels"), randomLabels = Column("random_labels"), declined = Column("declined");

        var rows = new List<TrialResult>(lines.Count);
        foreach (var row in lines)
        {
            string Field(string name) => row.Fields[columns[name]];
            double Number(string name) => CsvRecords.ParseFinite(path, row.Line, name, Field(name));
            long Count(string name, long minimum = 0) => CsvRecords.ParseInteger(path, row.Line, name, Field(name), minimum);
            int Int(string name, int minimum = 0) => (int)CsvRecords.ParseInteger(path, row.Line, name, Field(name), minimum, int.MaxValue);
            T Named<T>(string name, string text, Func<string, T> parse)
            {
                try { return parse(text); }
                catch (ArgumentException e) { throw new InputDataException(path, row.Line, $"column '{name}': {e.Message}"); }
            }
            var point = new SweepPoint(Number("gamma"), Number("alpha"), Int("window", 1), Number("v"),
                scoring < 0 ? ScoringKind.Paper : Named("scoring", row.Fields[scoring], ScoringNames.Parse),
                budgetStart < 0 ? BudgetManagerKind.Paper : Named("budget_start", row.Fields[budgetStart], BudgetManagerNames.Parse));
            var result = new TrialResult(Field("machine"), Named("strategy", Field("strategy"), QueryStrategyNames.Parse), Number("budget"),
                Int("trial"), Number("auc"), Number("pauc"), Number("auc_source"), Number("auc_target"),
                Int("clips", 1), Count("queries"), Count("normal_labels"), Count("anomalous_labels"))
            {
                Point = point,
                TargetLabels = targetLabels < 0 ? -1 : Count("target_labels", -1),
                ForcedLabels = forcedLabels < 0 ? -1 : Count("forced_labels", -1),
                RandomLabels = randomLabels < 0 ? -1 : Count("random_labels", -1),
                Declined = declined < 0 ? 0 : Count("declined"), // before the column every request was counted as a label
            };
            if (result.Queries > result.Clips)
                throw new InputDataException(path, row.Line, $"{result.Queries} queries on {result.Clips} clips");
            if (result.ForcedLabels > result.Queries || result.TargetLabels > result.Queries || result.RandomLabels > result.Queries)
                throw new InputDataException(path, row.Line, $"{new[] { result.ForcedLabels, result.TargetLabels, result.RandomLabels }.Max()} forced, target-domain or random labels of {result.Queries} queries");
            if (result.ForcedLabels + result.RandomLabels > result.Queries)
                throw new InputDataException(path, row.Line, $"{result.ForcedLabels} forced and {result.RandomLabels} random labels of {result.Queries} queries");
            if (result.NormalLabels + result.AnomalousLabels + result.Declined != result.Queries)
                throw new InputDataException(path, row.Line, $"{result.NormalLabels} normal and {result.AnomalousLabels} anomalous labels and {result.Declined} declined requests are not the {result.Queries} queries");
            rows.Add(result);
        }
        if (rows.Count == 0)
            throw new InputDataException(path, null, "no result rows");
        return rows;
    }

    /// <summary>baseline.csv's AUC per machine type (the harmonic-mean row left out).</summary>
    public static IReadOnlyDictionary<string, double> ReadBaselineAuc(string path)
    {
        var (header, rows) = CsvRecords.ReadWithHeader(path);
        if (string.Join(',', header) != MachineMetricHeader)
            throw new InputDataException(path, 1, $"not a baseline.csv (header {MachineMetricHeader})");
        var auc = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            if (row.Fields[1] == "auc" && row.Fields[0] != ExperimentSummary.HarmonicMeanMachine)
                auc[row.Fields[0]] = CsvRecords.ParseFinite(path, row.Line, "mean", row.Fields[3]);
        }
        return auc;
    }
}
