using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using AsdOrleans.Datasets.Dcase;
using AsdOrleans.Method.Io;
using AsdOrleans.Method.Metrics;
using AsdOrleans.Method.Vocabulary;

namespace AsdOrleans.Evaluation.Dcase;

/// <summary>One machine section scored in --dcase mode.</summary>
public sealed record SectionMetrics(string Machine, string Section, DefinedMetrics Metrics);

/// <summary>Every section of a --dcase run plus the DCASE 2023 official score.</summary>
/// <param name="OfficialScore">
/// Harmonic mean over every section's AUC(source), AUC(target) and pAUC, each once. An undefined value (a section
/// without normals of a domain, or without one of the classes) is left out of every harmonic mean, which is then over
/// the defined values only (<see cref="OfficialScoreValues"/> of <see cref="OfficialScoreSlots"/>); null when none is defined.
/// </param>
public sealed record DcaseEvaluation(
    IReadOnlyList<SectionMetrics> Sections,
    double? OfficialScore,
    double? HarmonicMeanAucSource,
    double? HarmonicMeanAucTarget,
    double? HarmonicMeanPartialAuc,
    bool HasDecisions)
{
    public int OfficialScoreSlots => 3 * Sections.Count;

    public int OfficialScoreValues => Sections.Sum(s => (s.Metrics.AucSource.HasValue ? 1 : 0) + (s.Metrics.AucTarget.HasValue ? 1 : 0) + (s.Metrics.PartialAuc.HasValue ? 1 : 0));
}

/// <summary>
/// DCASE 2023 Task 2 metrics from a labelled score CSV, or from a directory laid out for the official evaluator
/// (file formats in `asd metrics --help`). Reads only; the writers print the report.
/// </summary>
public static partial class DcaseEvaluator
{
    private static readonly string[] RequiredColumns = ["file", "label", "domain", "score"];
    private const string DecisionColumn = "decision";

    /// <summary>The header `asd push --scores-out` writes: a stream's verdicts, read here with each clip's label and domain
    /// from its DCASE name and its alert as the decision.</summary>
    public const string PushScoresHeader = "file,clip_id,score,anomalous,label_requested,labelled,query_reason";

    // ------------------------------------------------------------------ single labelled CSV

    /// <summary>Reads a file,label,domain,score[,decision] CSV, or a push's scores (<see cref="PushScoresHeader"/>: label and
    /// domain from each clip's DCASE name, the decision its alert), and computes its metrics.</summary>
    public static DefinedMetrics EvaluateCsv(string path)
    {
        var (header, rows) = CsvRecords.ReadWithHeader(path);
        int headerLine = FirstNonBlankLine(path);
        bool pushed = string.Join(',', header) == PushScoresHeader;
        if (!pushed)
        {
            var missing = RequiredColumns.Where(c => !header.Contains(c)).ToList();
            if (missing.Count > 0)
                throw new InputDataException(path, headerLine, $"missing column(s) {Quoted(missing)}; the header must name file,label,domain,score[,decision]");
            var extra = header.Where(h => !RequiredColumns.Contains(h) && h != DecisionColumn).ToList();
            if (extra.Count > 0)
                throw new InputDataException(path, headerLine, $"unexpected column(s) {Quoted(extra)}; the header must name file,label,domain,score[,decision]");
        }
        if (rows.Count == 0)
            throw new InputDataException(path, headerLine, "only a header, no clips to evaluate");

        int fileCol = Array.IndexOf(header, "file"), labelCol = Array.IndexOf(header, "label");
        int domainCol = Array.IndexOf(header, "domain"), scoreCol = Array.IndexOf(header, "score");
        string decisionName = pushed ? "anomalous" : DecisionColumn;
        int decisionCol = Array.IndexOf(header, decisionName);

        var scores = new double[rows.Count];
        var isAnomaly = new bool[rows.Count];
        var isTarget = new bool[rows.Count];
        var decisions = decisionCol >= 0 ? new bool[rows.Count] : null;
        var firstLineOfClip = new Dictionary<string, int>(rows.Count, StringComparer.Ordinal);
        for (int i = 0; i < rows.Count; i++)
        {
            var (line, fields) = rows[i];
            string clip = fields[fileCol];
            if (clip.Length == 0)
                throw new InputDataException(path, line, "column 'file' is empty");
            if (!firstLineOfClip.TryAdd(clip, line))
                throw new InputDataException(path, line, $"clip '{clip}' appears twice (first on line {firstLineOfClip[clip]})");
            (isAnomaly[i], isTarget[i]) = pushed ? LabelAndDomainOfName(path, line, clip)
                : (ClipWords.ParseLabel(path, line, "label", fields[labelCol]), ClipWords.ParseDomain(path, line, "domain", fields[domainCol]));
            scores[i] = CsvRecords.ParseFinite(path, line, "score", fields[scoreCol]);
            if (decisions is not null)
                decisions[i] = ParseDecision(path, line, decisionName, fields[decisionCol]);
        }
        return Evaluate(path, scores, isAnomaly, isTarget, decisions);
    }

    /// <summary>A pushed clip's label and domain, from its DCASE development-set name.</summary>
    private static (bool IsAnomaly, bool IsTarget) LabelAndDomainOfName(string path, int line, string clip)
        => DcaseFileName.TryParse(clip, out var parts) && parts.IsAnomaly is { } anomaly && parts.IsTarget is { } target ? (anomaly, target)
            : throw new InputDataException(path, line, $"clip '{clip}' does not name its label and domain ({DcaseFileName.ExpectedForms} with source|target and normal|anomaly): "
                + "a pushed stream's scores are evaluated from DCASE development-set names; for others write file,label,domain,score[,decision]");

    // ------------------------------------------------------------------ official evaluator layout

    [GeneratedRegex(@"^anomaly_score_(?<machine>.+)_section_(?<section>\d+)_test\.csv$")]
    private static partial Regex AnomalyScoreName();

    [GeneratedRegex(@"^decision_result_(?<machine>.+)_section_(?<section>\d+)_test\.csv$")]
    private static partial Regex DecisionResultName();

    /// <summary>Scores every machine section of an official-evaluator layout (see the command help).</summary>
    public static DcaseEvaluation EvaluateDcase(string scoresDir, string groundTruthDir)
    {
        RequireDirectory(scoresDir);
        RequireDirectory(groundTruthDir);
        var truthReader = DcaseGroundTruth.Open(groundTruthDir);
        string officialLabels = Path.Combine(groundTruthDir, "ground_truth_data");
        string labelsDir = Directory.Exists(officialLabels) ? officialLabels : groundTruthDir;
        var groundTruth = new SortedDictionary<SectionKey, string>(SectionOrder);
        foreach (var (machine, section, labelFile) in truthReader.LabelledSections())
            groundTruth.Add(new SectionKey(machine, section), labelFile);
        if (groundTruth.Count == 0)
            throw new InputDataException(labelsDir, null, "no ground_truth_<machine>_section_<NN>_test.csv files here");
        var scoreFiles = FilesMatching(scoresDir, AnomalyScoreName());
        var decisionFiles = FilesMatching(scoresDir, DecisionResultName());
        foreach (var (key, path) in scoreFiles.Concat(decisionFiles))
        {
            if (!groundTruth.ContainsKey(key))
                throw new InputDataException(path, null, $"no ground truth for machine '{key.Machine}' section {key.Section} (expected {GroundTruthPath(labelsDir, key)})");
        }
        bool hasDecisions = decisionFiles.Count > 0;

        var sections = new List<SectionMetrics>(groundTruth.Count);
        foreach (var (key, truthPath) in groundTruth)
        {
            if (!scoreFiles.TryGetValue(key, out var scorePath))
                throw new InputDataException(Path.Combine(scoresDir, $"anomaly_score_{key.Machine}_section_{key.Section}_test.csv"), null,
                    $"no such file, but the ground truth {truthPath} lists this machine section");
            string? decisionPath = null;
            if (hasDecisions && !decisionFiles.TryGetValue(key, out decisionPath))
                throw new InputDataException(Path.Combine(scoresDir, $"decision_result_{key.Machine}_section_{key.Section}_test.csv"), null,
                    "no such file, but other machine sections have decision results (give them for every section or for none)");

            var truth = ReadGroundTruth(truthReader, key, truthPath);
            var scores = ReadPerClip(scorePath, truth, (path, line, text) => CsvRecords.ParseFinite(path, line, "score", text));
            bool[]? decisions = decisionPath is null ? null
                : ReadPerClip(decisionPath, truth, (path, line, text) => ParseDecision(path, line, "decision", text));
            var metrics = Evaluate(truthPath, scores, truth.IsAnomaly, truth.IsTarget, decisions);
            sections.Add(new SectionMetrics(key.Machine, key.Section, metrics));
        }

        var sourceAucs = sections.Select(s => s.Metrics.AucSource).ToArray();
        var targetAucs = sections.Select(s => s.Metrics.AucTarget).ToArray();
        var partialAucs = sections.Select(s => s.Metrics.PartialAuc).ToArray();
        double? official = DetectionMetrics.HarmonicMeanOfDefined([.. sourceAucs, .. targetAucs, .. partialAucs]);
        return new DcaseEvaluation(
            sections, official,
            DetectionMetrics.HarmonicMeanOfDefined(sourceAucs), DetectionMetrics.HarmonicMeanOfDefined(targetAucs), DetectionMetrics.HarmonicMeanOfDefined(partialAucs),
            hasDecisions);
    }

    private readonly record struct SectionKey(string Machine, string Section);

    /// <summary>A section's clips in ground-truth order, with an index by clip name for matching score rows.</summary>
    private sealed record GroundTruth(string FilePath, string[] Clips, Dictionary<string, int> IndexOf, bool[] IsAnomaly, bool[] IsTarget);

    private static readonly IComparer<SectionKey> SectionOrder = Comparer<SectionKey>.Create((a, b) =>
    {
        int byMachine = string.CompareOrdinal(a.Machine, b.Machine);
        return byMachine != 0 ? byMachine : string.CompareOrdinal(a.Section, b.Section);
    });

    private static SortedDictionary<SectionKey, string> FilesMatching(string dir, Regex pattern)
    {
        var found = new SortedDictionary<SectionKey, string>(SectionOrder);
        foreach (var path in Directory.EnumerateFiles(dir))
        {
            var match = pattern.Match(Path.GetFileName(path));
            if (match.Success)
                found.Add(new SectionKey(match.Groups["machine"].Value, match.Groups["section"].Value), path);
        }
        return found;
    }

    private static string GroundTruthPath(string labelsDir, SectionKey key) =>
        Path.Combine(labelsDir, $"ground_truth_{key.Machine}_section_{key.Section}_test.csv");

    /// <summary>A section's clips from Core's reader of the official layout; a clip no file gives a domain takes it from its name.</summary>
    private static GroundTruth ReadGroundTruth(DcaseGroundTruth official, SectionKey key, string path)
    {
        var listed = official.SectionClips(key.Machine, key.Section);
        if (listed.Count == 0)
            throw new InputDataException(path, null, "the file is empty (expected rows file_name,label[,domain])");
        var clips = new string[listed.Count];
        var index = new Dictionary<string, int>(listed.Count, StringComparer.Ordinal);
        var isAnomaly = new bool[listed.Count];
        var isTarget = new bool[listed.Count];
        for (int i = 0; i < listed.Count; i++)
        {
            var (clip, entry) = listed[i];
            clips[i] = clip;
            index.Add(clip, i);
            isAnomaly[i] = entry.IsAnomaly ?? throw new InputDataException(path, null, $"clip '{clip}' has no label");
            if (entry.IsTarget is { } target)
            {
                isTarget[i] = target;
                continue;
            }
            bool source = clip.Contains("_source_", StringComparison.Ordinal);
            bool inTarget = clip.Contains("_target_", StringComparison.Ordinal);
            if (source == inTarget)
                throw new InputDataException(path, null,
                    $"clip '{clip}' has no domain: give a third column (0 = source, 1 = target), a ground_truth_domain/ file, or a name containing _source_ or _target_");
            isTarget[i] = inTarget;
        }
        return new GroundTruth(path, clips, index, isAnomaly, isTarget);
    }

    /// <summary>Reads headerless file_name,value rows that must cover exactly the ground truth's clips, once each.</summary>
    private static T[] ReadPerClip<T>(string path, GroundTruth truth, Func<string, int, string, T> parse)
    {
        var values = new T[truth.Clips.Length];
        var lineOfClip = new int[truth.Clips.Length];
        foreach (var (line, fields) in CsvRecords.ReadHeaderless(path, 2))
        {
            if (!truth.IndexOf.TryGetValue(fields[0], out int i))
                throw new InputDataException(path, line, $"clip '{fields[0]}' is not in the ground truth {truth.FilePath}");
            if (lineOfClip[i] != 0)
                throw new InputDataException(path, line, $"clip '{fields[0]}' appears twice (first on line {lineOfClip[i]})");
            lineOfClip[i] = line;
            values[i] = parse(path, line, fields[1]);
        }
        var missing = Enumerable.Range(0, truth.Clips.Length).Where(i => lineOfClip[i] == 0).Select(i => truth.Clips[i]).ToList();
        if (missing.Count > 0)
            throw new InputDataException(path, null,
                $"{missing.Count} of the {truth.Clips.Length} clips in the ground truth {truth.FilePath} are missing, e.g. {Quoted(missing.Take(3))}");
        return values;
    }

    // ------------------------------------------------------------------ shared parsing

    private static DefinedMetrics Evaluate(string path, double[] scores, bool[] isAnomaly, bool[] isTarget, bool[]? decisions)
    {
        try
        {
            return decisions is null
                ? DetectionMetrics.EvaluateWhereDefined(scores, isAnomaly, isTarget)
                : DetectionMetrics.EvaluateWhereDefined(scores, isAnomaly, isTarget, decisions);
        }
        catch (ArgumentException e)
        {
            // The metric's own reason (e.g. only one class), told against the file it came from.
            throw new InputDataException(path, null, WithoutParameterSuffix(e));
        }
    }

    private static bool ParseDecision(string path, int line, string column, string text) => text switch
    {
        "0" => false,
        "1" => true,
        _ => throw new InputDataException(path, line, $"column '{column}': '{text}' is not 0 or 1"),
    };

    private static string WithoutParameterSuffix(ArgumentException e)
    {
        string suffix = $" (Parameter '{e.ParamName}')";
        return e.ParamName is not null && e.Message.EndsWith(suffix, StringComparison.Ordinal) ? e.Message[..^suffix.Length] : e.Message;
    }

    private static void RequireDirectory(string dir)
    {
        if (!Directory.Exists(dir))
            throw new InputDataException(dir, null, "no such directory");
    }

    private static int FirstNonBlankLine(string path)
    {
        int number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (line.Trim().Length > 0) return number;
        }
        return 1;
    }

    private static string Quoted(IEnumerable<string> names) => string.Join(", ", names.Select(n => $"'{n}'"));

    // ------------------------------------------------------------------ output

    public static void WriteTable(TextWriter output, DefinedMetrics metrics)
    {
        var rows = new List<string[]>
        {
            new[] { "AUC", Fixed(metrics.Auc) },
            new[] { "pAUC", Fixed(metrics.PartialAuc) },
            new[] { "AUC(source)", Fixed(metrics.AucSource) },
            new[] { "AUC(target)", Fixed(metrics.AucTarget) },
        };
        WriteAligned(output, ["metric", "value"], rows);
        foreach (var reason in metrics.Undefined)
            output.WriteLine($"{Undefined}: {reason}");
        if (metrics.DecisionsSource is not { } source || metrics.DecisionsTarget is not { } target)
            return;
        output.WriteLine();
        WriteAligned(output, ["domain", "precision", "recall", "F1", "tn", "fp", "fn", "tp"],
        [
            DecisionRow("source", source),
            DecisionRow("target", target),
        ]);
    }

    public static void WriteJson(TextWriter output, DefinedMetrics metrics) =>
        output.WriteLine(Json(writer =>
        {
            writer.WriteStartObject();
            WriteMetricFields(writer, metrics);
            writer.WriteEndObject();
        }));

    public static void WriteTable(TextWriter output, DcaseEvaluation evaluation)
    {
        var header = new List<string> { "machine", "section", "AUC(source)", "AUC(target)", "pAUC" };
        if (evaluation.HasDecisions)
            header.AddRange(["P(source)", "R(source)", "F1(source)", "P(target)", "R(target)", "F1(target)"]);
        var rows = new List<string[]>();
        foreach (var section in evaluation.Sections)
        {
            var m = section.Metrics;
            var row = new List<string> { section.Machine, section.Section, Fixed(m.AucSource), Fixed(m.AucTarget), Fixed(m.PartialAuc) };
            if (m.DecisionsSource is { } s && m.DecisionsTarget is { } t)
                row.AddRange([Fixed(s.Precision), Fixed(s.Recall), Fixed(s.F1), Fixed(t.Precision), Fixed(t.Recall), Fixed(t.F1)]);
            rows.Add([.. row]);
        }
        var means = new List<string>
        {
            "harmonic mean", "", Fixed(evaluation.HarmonicMeanAucSource), Fixed(evaluation.HarmonicMeanAucTarget), Fixed(evaluation.HarmonicMeanPartialAuc),
        };
        while (means.Count < header.Count) means.Add("");
        rows.Add([.. means]);
        WriteAligned(output, [.. header], rows);
        foreach (var section in evaluation.Sections)
            foreach (var reason in section.Metrics.Undefined)
                output.WriteLine($"{Undefined}: {section.Machine} section {section.Section}: {reason}");
        output.WriteLine();
        string count = evaluation.OfficialScoreValues == evaluation.OfficialScoreSlots
            ? $"{evaluation.OfficialScoreSlots} values"
            : $"the {evaluation.OfficialScoreValues} defined of {evaluation.OfficialScoreSlots} values";
        output.WriteLine($"official score (harmonic mean of {count}: AUC(source), AUC(target), pAUC per section): {Fixed(evaluation.OfficialScore)}");
    }

    public static void WriteJson(TextWriter output, DcaseEvaluation evaluation) =>
        output.WriteLine(Json(writer =>
        {
            writer.WriteStartObject();
            Number(writer, "official_score", evaluation.OfficialScore);
            Number(writer, "hmean_auc_source", evaluation.HarmonicMeanAucSource);
            Number(writer, "hmean_auc_target", evaluation.HarmonicMeanAucTarget);
            Number(writer, "hmean_pauc", evaluation.HarmonicMeanPartialAuc);
            if (evaluation.OfficialScoreValues != evaluation.OfficialScoreSlots)
            {
                writer.WriteNumber("official_score_values", evaluation.OfficialScoreValues);
                writer.WriteNumber("official_score_undefined", evaluation.OfficialScoreSlots - evaluation.OfficialScoreValues);
            }
            writer.WriteStartArray("sections");
            foreach (var section in evaluation.Sections)
            {
                writer.WriteStartObject();
                writer.WriteString("machine", section.Machine);
                writer.WriteString("section", section.Section);
                WriteMetricFields(writer, section.Metrics);
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
        }));

    private static void WriteMetricFields(Utf8JsonWriter writer, DefinedMetrics metrics)
    {
        Number(writer, "auc", metrics.Auc);
        Number(writer, "pauc", metrics.PartialAuc);
        Number(writer, "auc_source", metrics.AucSource);
        Number(writer, "auc_target", metrics.AucTarget);
        if (metrics.Undefined.Count > 0)
        {
            writer.WriteStartArray("undefined");
            foreach (var reason in metrics.Undefined)
                writer.WriteStringValue(reason);
            writer.WriteEndArray();
        }
        if (metrics.DecisionsSource is not { } source || metrics.DecisionsTarget is not { } target)
            return;
        writer.WriteNumber("precision_source", source.Precision);
        writer.WriteNumber("recall_source", source.Recall);
        writer.WriteNumber("f1_source", source.F1);
        writer.WriteNumber("precision_target", target.Precision);
        writer.WriteNumber("recall_target", target.Recall);
        writer.WriteNumber("f1_target", target.F1);
    }

    // Utf8JsonWriter writes doubles in their shortest round-trip form, so no precision is lost.
    private static string Json(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
            write(writer);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static string[] DecisionRow(string domain, ConfusionCounts c) =>
    [
        domain, Fixed(c.Precision), Fixed(c.Recall), Fixed(c.F1),
        Count(c.TrueNegatives), Count(c.FalsePositives), Count(c.FalseNegatives), Count(c.TruePositives),
    ];

    /// <summary>How text output shows a metric that is not defined for these clips (JSON writes null).</summary>
    public const string Undefined = "undefined";

    private static string Fixed(double? value) => value is { } v ? v.ToString("F6", CultureInfo.InvariantCulture) : Undefined;

    private static void Number(Utf8JsonWriter writer, string name, double? value)
    {
        if (value is { } v) writer.WriteNumber(name, v);
        else writer.WriteNull(name);
    }

    private static string Count(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Plain-text table: first column left-aligned, the rest right-aligned, two spaces apart.</summary>
    private static void WriteAligned(TextWriter output, string[] header, IReadOnlyList<string[]> rows)
    {
        var widths = header.Select((h, c) => Math.Max(h.Length, rows.Max(r => r[c].Length))).ToArray();
        void Line(string[] cells) =>
            output.WriteLine(string.Join("  ", cells.Select((cell, c) => c == 0 ? cell.PadRight(widths[c]) : cell.PadLeft(widths[c]))).TrimEnd());
        Line(header);
        Line(widths.Select(w => new string('-', w)).ToArray());
        foreach (var row in rows)
            Line(row);
    }
}
