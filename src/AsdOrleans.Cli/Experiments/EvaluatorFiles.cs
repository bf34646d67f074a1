using System.Globalization;
using System.Text;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Io;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Cli.Experiments;

/// <summary>
/// Per trial, the files the official DCASE 2023 evaluator reads (<c>anomaly_score_&lt;machine&gt;_section_&lt;NN&gt;_test.csv</c>,
/// <c>decision_result_…</c>: no header, rows <c>file_name,value</c>), and the ground truth in its layout
/// (<c>ground_truth/ground_truth_data/…</c> and <c>ground_truth_domain/…</c>), so its script or
/// <c>asd metrics --dcase</c> scores a trial folder.
/// </summary>
public static class EvaluatorFiles
{
    public const string Folder = "evaluator";
    public const string GroundTruthFolder = "ground_truth";

    /// <summary>
    /// The folder of one row: evaluator/[point/]offline/trial_NN or evaluator/[point/]strategy/b_B/trial_NN; the point's
    /// folder (<paramref name="pointName"/>) only when the run has several.
    /// </summary>
    public static string TrialFolder(string runFolder, TrialResult result, Func<SweepPoint, string>? pointName)
    {
        var parts = new List<string> { runFolder, Folder };
        if (pointName is not null) parts.Add(pointName(result.Point));
        if (result.Strategy == QueryStrategyKind.None || result.Budget == 0)
            parts.Add("offline");
        else
        {
            parts.Add(result.Strategy.ToName());
            parts.Add("b" + result.Budget.ToString("R", CultureInfo.InvariantCulture));
        }
        parts.Add($"trial_{result.Trial:D2}");
        return Path.Combine([.. parts]);
    }

    /// <summary>Machine type and section of an experiment machine name ("fan" or "fan.section_01").</summary>
    public static (string MachineType, string Section) SectionOf(string machine)
    {
        int at = machine.LastIndexOf(".section_", StringComparison.Ordinal);
        return at > 0 && machine[(at + 9)..] is { Length: > 0 } section && section.All(char.IsAsciiDigit)
            ? (machine[..at], section)
            : (machine, "00");
    }

    /// <summary>Writes every trial's score and decision files (offline runs once) and the ground truth.</summary>
    public static int Write(string runFolder, IReadOnlyList<TrialOutcome> outcomes, ExperimentSettings settings)
    {
        var written = new HashSet<string>(StringComparer.Ordinal);
        foreach (var outcome in outcomes)
        {
            string folder = TrialFolder(runFolder, outcome.Result, settings.Points.Count > 1 ? settings.NameOf : null);
            var (type, section) = SectionOf(outcome.Result.Machine);
            string scores = Path.Combine(folder, $"anomaly_score_{type}_section_{section}_test.csv");
            if (!written.Add(scores))
                continue; // an offline run listed under several strategies
            var stream = outcome.Stream;
            var order = Enumerable.Range(0, stream.Files.Length).OrderBy(i => stream.Files[i], StringComparer.Ordinal).ToArray();
            AtomicFile.WriteAllText(scores, Rows(order.Select(i => (stream.Files[i], stream.Scores[i].ToString("R", CultureInfo.InvariantCulture)))));
            AtomicFile.WriteAllText(Path.Combine(folder, $"decision_result_{type}_section_{section}_test.csv"),
                Rows(order.Select(i => (stream.Files[i], stream.Alerts[i] ? "1" : "0"))));
        }
        foreach (var outcome in outcomes.DistinctBy(o => o.Result.Machine))
        {
            var (type, section) = SectionOf(outcome.Result.Machine);
            var stream = outcome.Stream;
            var order = Enumerable.Range(0, stream.Files.Length).OrderBy(i => stream.Files[i], StringComparer.Ordinal).ToArray();
            string name = $"ground_truth_{type}_section_{section}_test.csv";
            string root = Path.Combine(runFolder, Folder, GroundTruthFolder);
            AtomicFile.WriteAllText(Path.Combine(root, "ground_truth_data", name), Rows(order.Select(i => (stream.Files[i], stream.IsAnomaly[i] ? "1" : "0"))));
            AtomicFile.WriteAllText(Path.Combine(root, "ground_truth_domain", name), Rows(order.Select(i => (stream.Files[i], stream.IsTarget[i] ? "1" : "0"))));
        }
        return written.Count;
    }

    private static string Rows(IEnumerable<(string File, string Value)> rows)
    {
        var b = new StringBuilder();
        foreach (var (file, value) in rows)
            b.Append(file).Append(',').Append(value).Append('\n');
        return b.ToString();
    }
}
