using System.Text.RegularExpressions;
using AsdOrleans.Method.Io;
using AsdOrleans.Method.Vocabulary;

namespace AsdOrleans.Datasets.Dcase;

/// <summary>What the ground truth says about one evaluation test clip; null where no file says it.</summary>
public sealed record DcaseGroundTruthEntry(bool? IsAnomaly, bool? IsTarget, string? Attributes);

/// <summary>
/// The official DCASE 2023 Task 2 ground truth for evaluation test clips (<c>section_NN_NNNN.wav</c>), in the layout of
/// nttcslab/dcase2023_task2_evaluator or flat, as <c>asd metrics --dcase</c> reads it:
/// <list type="bullet">
/// <item><c>DIR/ground_truth_data/ground_truth_&lt;machine&gt;_section_&lt;NN&gt;_test.csv</c>, rows <c>file_name,label</c>
/// (0 normal, 1 anomaly; <c>normal</c>/<c>anomaly</c> also read);</item>
/// <item><c>DIR/ground_truth_domain/…</c>, rows <c>file_name,domain</c> (0 source, 1 target);</item>
/// <item><c>DIR/ground_truth_attributes/…</c>, rows <c>file_name,original_name</c> where the original name is the
/// development-style name (<c>section_00_target_test_normal_0000_vel_12</c>), which gives domain, label and attributes;</item>
/// <item>or flat: <c>DIR/ground_truth_&lt;machine&gt;_section_&lt;NN&gt;_test.csv</c> with rows <c>file_name,label[,domain]</c>.</item>
/// </list>
/// Files are headerless and read on first use. A file that exists must list every clip looked up in it, and files that
/// state the same fact must agree; both are <see cref="InputDataException"/>s naming the file.
/// </summary>
public sealed partial class DcaseGroundTruth
{
    private const string LabelsFolder = "ground_truth_data";
    private const string DomainsFolder = "ground_truth_domain";
    private const string AttributesFolder = "ground_truth_attributes";

    private readonly string labelsDirectory;
    private readonly string? domainsDirectory;
    private readonly string? attributesDirectory;
    private readonly Dictionary<(string Machine, string Section), Section> sections = [];

    private DcaseGroundTruth(string directory)
    {
        Directory = directory;
        string labels = Path.Combine(directory, LabelsFolder);
        labelsDirectory = System.IO.Directory.Exists(labels) ? labels : directory;
        string domains = Path.Combine(directory, DomainsFolder);
        domainsDirectory = System.IO.Directory.Exists(domains) ? domains : null;
        string attributes = Path.Combine(directory, AttributesFolder);
        attributesDirectory = System.IO.Directory.Exists(attributes) ? attributes : null;
    }

    public string Directory { get; }

    /// <exception cref="InputDataException">The directory does not exist.</exception>
    public static DcaseGroundTruth Open(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!System.IO.Directory.Exists(directory))
            throw new InputDataException(directory, null, "no such ground-truth directory");
        return new DcaseGroundTruth(Path.GetFullPath(directory));
    }

    /// <summary>File name of a section's ground truth, the same in every folder.</summary>
    public static string FileNameFor(string machineType, string section) => $"ground_truth_{machineType}_section_{section}_test.csv";

    /// <summary>Where this ground truth looks for a section's labels, domains and attributes, for messages.</summary>
    public IReadOnlyList<string> CandidateFiles(string machineType, string section)
    {
        string name = FileNameFor(machineType, section);
        var files = new List<string> { Path.Combine(labelsDirectory, name) };
        files.Add(Path.Combine(domainsDirectory ?? Path.Combine(Directory, DomainsFolder), name));
        files.Add(Path.Combine(attributesDirectory ?? Path.Combine(Directory, AttributesFolder), name));
        return files;
    }

    /// <summary>
    /// The ground truth of one clip, or null when no file exists for its machine section.
    /// </summary>
    /// <exception cref="InputDataException">A file is malformed, files disagree, or a file of the section does not list the clip.</exception>
    public DcaseGroundTruthEntry? Find(string machineType, string section, string fileName)
    {
        if (!sections.TryGetValue((machineType, section), out var truth))
        {
            truth = Load(machineType, section);
            sections.Add((machineType, section), truth);
        }
        if (truth.Files.Count == 0)
            return null;
        truth.Clips.TryGetValue(fileName, out var clip);
        foreach (var file in truth.Files)
        {
            if (clip is null || !clip.ListedIn.Contains(file))
                throw new InputDataException(file, null, $"clip '{fileName}' is not listed, but it is in the data set's {machineType} test folder");
        }
        return new DcaseGroundTruthEntry(clip!.IsAnomaly, clip.IsTarget, clip.Attributes);
    }

    [GeneratedRegex(@"^ground_truth_(?<machine>.+)_section_(?<section>\d+)_test\.csv$")]
    private static partial Regex SectionFileName();

    /// <summary>The machine sections that have a label file, in ordinal order of machine type then section.</summary>
    public IReadOnlyList<(string MachineType, string Section, string LabelFile)> LabelledSections()
        => System.IO.Directory.EnumerateFiles(labelsDirectory)
            .Select(path => (Path: path, Match: SectionFileName().Match(Path.GetFileName(path))))
            .Where(f => f.Match.Success)
            .Select(f => (f.Match.Groups["machine"].Value, f.Match.Groups["section"].Value, f.Path))
            .OrderBy(s => s.Item1, StringComparer.Ordinal).ThenBy(s => s.Item2, StringComparer.Ordinal)
            .ToList();

    /// <summary>
    /// Every clip the section's files list, with what they say about it (null where no file says it).
    /// </summary>
    /// <exception cref="InputDataException">A file is malformed, files disagree, or one file lists a clip another does not.</exception>
    public IReadOnlyList<(string FileName, DcaseGroundTruthEntry Entry)> SectionClips(string machineType, string section)
    {
        if (!sections.TryGetValue((machineType, section), out var truth))
        {
            truth = Load(machineType, section);
            sections.Add((machineType, section), truth);
        }
        var clips = new List<(string, DcaseGroundTruthEntry)>(truth.Clips.Count);
        foreach (var (name, clip) in truth.Clips)
        {
            foreach (var file in truth.Files)
                if (!clip.ListedIn.Contains(file))
                    throw new InputDataException(file, null, $"clip '{name}' is not listed, but {clip.ListedIn[0]} lists it");
            clips.Add((name, new DcaseGroundTruthEntry(clip.IsAnomaly, clip.IsTarget, clip.Attributes)));
        }
        return clips;
    }

    // ------------------------------------------------------------------ loading

    private sealed class Clip
    {
        public bool? IsAnomaly;
        public bool? IsTarget;
        public string? Attributes;
        public readonly List<string> ListedIn = [];
        public readonly Dictionary<string, string> SaidBy = []; // fact -> file that stated it first
    }

    private sealed record Section(List<string> Files, Dictionary<string, Clip> Clips);

    private Section Load(string machineType, string section)
    {
        var truth = new Section([], new Dictionary<string, Clip>(StringComparer.Ordinal));
        string name = FileNameFor(machineType, section);

        string labels = Path.Combine(labelsDirectory, name);
        if (File.Exists(labels))
        {
            // file_name,label or file_name,label,domain: the first row decides, every row must agree.
            int fields = FirstRowFieldCount(labels) == 3 ? 3 : 2;
            foreach (var (line, row) in Rows(truth, labels, fields))
            {
                var clip = ClipOf(truth, labels, line, row[0]);
                Set(ref clip.IsAnomaly, ParseLabel(labels, line, row[1]), clip, "label", labels, line, row[0]);
                if (fields == 3)
                    Set(ref clip.IsTarget, ParseDomain(labels, line, row[2]), clip, "domain", labels, line, row[0]);
            }
        }
        if (domainsDirectory is not null && File.Exists(Path.Combine(domainsDirectory, name)))
        {
            string domains = Path.Combine(domainsDirectory, name);
            foreach (var (line, row) in Rows(truth, domains, 2))
            {
                var clip = ClipOf(truth, domains, line, row[0]);
                Set(ref clip.IsTarget, ParseDomain(domains, line, row[1]), clip, "domain", domains, line, row[0]);
            }
        }
        if (attributesDirectory is not null && File.Exists(Path.Combine(attributesDirectory, name)))
        {
            string attributes = Path.Combine(attributesDirectory, name);
            foreach (var (line, row) in Rows(truth, attributes, 2))
            {
                var clip = ClipOf(truth, attributes, line, row[0]);
                string original = row[1].EndsWith(".wav", StringComparison.OrdinalIgnoreCase) ? row[1] : row[1] + ".wav";
                if (!DcaseFileName.TryParse(original, out var parts) || parts.IsEvaluationTestName)
                    throw new InputDataException(attributes, line,
                        $"'{row[1]}' is not a development-style clip name (section_NN_{{source|target}}_test_{{normal|anomaly}}_NNNN[_attributes])");
                Set(ref clip.IsTarget, parts.IsTarget, clip, "domain", attributes, line, row[0]);
                Set(ref clip.IsAnomaly, parts.IsAnomaly, clip, "label", attributes, line, row[0]);
                Set(ref clip.Attributes, parts.Attributes, clip, "attributes", attributes, line, row[0]);
            }
        }
        return truth;
    }

    private static List<CsvRow> Rows(Section truth, string path, int fields)
    {
        var rows = CsvRecords.ReadHeaderless(path, fields);
        if (rows.Count == 0)
            throw new InputDataException(path, null, "the file is empty (expected one row per test clip)");
        truth.Files.Add(path);
        return rows;
    }

    private static Clip ClipOf(Section truth, string path, int line, string fileName)
    {
        if (fileName.Length == 0)
            throw new InputDataException(path, line, "the file name is empty");
        if (!truth.Clips.TryGetValue(fileName, out var clip))
        {
            clip = new Clip();
            truth.Clips.Add(fileName, clip);
        }
        if (clip.ListedIn.Contains(path))
            throw new InputDataException(path, line, $"clip '{fileName}' appears twice");
        clip.ListedIn.Add(path);
        return clip;
    }

    private static void Set<T>(ref T? slot, T? value, Clip clip, string fact, string path, int line, string fileName)
    {
        if (value is null)
            return;
        if (slot is null)
        {
            slot = value;
            clip.SaidBy[fact] = $"{path}:{line}";
            return;
        }
        if (!EqualityComparer<T>.Default.Equals(slot, value))
            throw new InputDataException(path, line, $"clip '{fileName}': {fact} '{Show(value)}' disagrees with '{Show(slot)}' in {clip.SaidBy[fact]}");
    }

    private static string Show<T>(T value) => value switch
    {
        bool b => b ? "1" : "0",
        _ => value?.ToString() ?? "",
    };

    private static bool ParseLabel(string path, int line, string text) => ClipWords.ParseLabel(path, line, "label", text);

    private static bool ParseDomain(string path, int line, string text) => ClipWords.ParseDomain(path, line, "domain", text);

    private static int FirstRowFieldCount(string path)
    {
        var first = File.ReadLines(path).FirstOrDefault(l => l.Trim().Length > 0);
        return first is null ? 0 : first.Split(',').Length;
    }
}
