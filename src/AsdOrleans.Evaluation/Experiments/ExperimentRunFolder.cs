using System.Globalization;
using AsdOrleans.Method.Budget;
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
    /// <summary>The header of table1.csv and baseline.csv: one row per machine (and hmean) × metric.</summary>
    public const string MachineMetricHeader = "machine,metric,trials,mean,ci95_low,ci95_high";

    private static readonly string[] RequiredColumns =
        ["machine", "strategy", "budget", "trial", "auc", "pauc", "auc_source", "auc_target", "clips", "queries", "normal_labels", "anomalous_labels", "gamma", "alpha", "window", "v"];

    /// <summary>Reads a run folder; <see cref="InvalidDataException"/> names the file and line of anything it cannot read.</summary>
    public static ExperimentRunFolder Load(string folder, string? name = null)
    {
        string results = Path.Combine(folder, ResultsFile);
        if (!File.Exists(results))
            throw new InvalidDataException($"'{folder}' has no {ResultsFile}: it is not an `asd experiment` run folder");
        string baseline = Path.Combine(folder, BaselineFile);
        return new ExperimentRunFolder(name ?? RunName(folder), folder, ReadResults(results),
            File.Exists(baseline) ? ReadBaselineAuc(baseline) : null);
    }

    /// <summary>The folder's own name (a run folder is named for its plant, as tq-plant0).</summary>
    public static string RunName(string folder) => Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)));

    /// <summary>
    /// results.csv as <see cref="ExperimentSummary.WriteResults"/> writes it. Columns are found by name; files from before a
    /// column existed read as the method then was: scoring and budget start the paper's, target labels unknown (−1).
    /// </summary>
    public static IReadOnlyList<TrialResult> ReadResults(string path)
    {
        using var reader = new StreamReader(path);
        string header = reader.ReadLine() ?? throw new InvalidDataException($"{path}: the file is empty");
        var columns = header.Split(',').Select((c, i) => (c.Trim(), i)).ToDictionary(p => p.Item1, p => p.i, StringComparer.Ordinal);
        var missing = RequiredColumns.Where(c => !columns.ContainsKey(c)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"{path}: no column {string.Join(", ", missing)} in the header; is this an `asd experiment` results.csv?");
        int Column(string name) => columns.TryGetValue(name, out int i) ? i : -1;
        int scoring = Column("scoring"), budgetStart = Column("budget_start"), targetLabels = Column("target_labels");

        var rows = new List<TrialResult>();
        int lineNumber = 1;
        for (string? line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            lineNumber++;
            if (line.Length == 0) continue;
            var f = line.Split(',');
            try
            {
                if (f.Length != columns.Count)
                    throw new FormatException($"{f.Length} fields, the header has {columns.Count}");
                string Field(string name) => f[columns[name]];
                var point = new SweepPoint(Double(Field("gamma")), Double(Field("alpha")), int.Parse(Field("window"), CultureInfo.InvariantCulture), Double(Field("v")),
                    scoring < 0 ? ScoringKind.Paper : ScoringNames.Parse(f[scoring]),
                    budgetStart < 0 ? BudgetManagerKind.Paper : BudgetManagerNames.Parse(f[budgetStart]));
                var result = new TrialResult(Field("machine"), QueryStrategyNames.Parse(Field("strategy")), Double(Field("budget")),
                    int.Parse(Field("trial"), CultureInfo.InvariantCulture),
                    Double(Field("auc")), Double(Field("pauc")), Double(Field("auc_source")), Double(Field("auc_target")),
                    int.Parse(Field("clips"), CultureInfo.InvariantCulture), long.Parse(Field("queries"), CultureInfo.InvariantCulture),
                    long.Parse(Field("normal_labels"), CultureInfo.InvariantCulture), long.Parse(Field("anomalous_labels"), CultureInfo.InvariantCulture))
                {
                    Point = point,
                    TargetLabels = targetLabels < 0 ? -1 : long.Parse(f[targetLabels], CultureInfo.InvariantCulture),
                };
                if (result.Clips < 1 || result.Queries < 0 || result.Queries > result.Clips)
                    throw new FormatException($"{result.Queries} queries on {result.Clips} clips");
                rows.Add(result);
            }
            catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
            {
                throw new InvalidDataException($"{path} line {lineNumber}: {e.Message}", e);
            }
        }
        if (rows.Count == 0)
            throw new InvalidDataException($"{path}: no result rows");
        return rows;
    }

    /// <summary>baseline.csv's AUC per machine type (the harmonic-mean row left out).</summary>
    public static IReadOnlyDictionary<string, double> ReadBaselineAuc(string path)
    {
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0] != MachineMetricHeader)
            throw new InvalidDataException($"{path}: not a baseline.csv (header {MachineMetricHeader})");
        var auc = new Dictionary<string, double>(StringComparer.Ordinal);
        for (int i = 1; i < lines.Length; i++)
        {
            var f = lines[i].Split(',');
            if (f.Length != 6)
                throw new InvalidDataException($"{path} line {i + 1}: {f.Length} fields, expected 6");
            if (f[1] == "auc" && f[0] != ExperimentSummary.HarmonicMeanMachine)
            {
                try { auc[f[0]] = Double(f[3]); }
                catch (FormatException e) { throw new InvalidDataException($"{path} line {i + 1}: {e.Message}", e); }
            }
        }
        return auc;
    }

    private static double Double(string text)
    {
        double value = double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
        return double.IsFinite(value) ? value : throw new FormatException($"'{text}' is not a finite number");
    }
}
