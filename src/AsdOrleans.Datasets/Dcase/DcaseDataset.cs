using AsdOrleans.Method.Io;

namespace AsdOrleans.Datasets.Dcase;

/// <summary>
/// Finds the clips of a DCASE 2023 Task 2 data set (docs/design.md §3):
/// <c>ROOT/dev_data/raw/&lt;machine_type&gt;/{train,test}/*.wav</c> and <c>ROOT/eval_data/raw/&lt;machine_type&gt;/{train,test}/*.wav</c>.
/// ROOT may also be a <c>raw</c> folder itself, a folder holding <c>raw/</c>, or a single machine-type folder with
/// <c>train/</c> and <c>test/</c>. Only names and folders are read, never audio.
/// <para>
/// Evaluation test clips (<c>section_NN_NNNN.wav</c>) carry no domain or label in their names; these come from the
/// ground-truth directory (see <see cref="DcaseGroundTruth"/> for its layouts). The domain is required (an
/// <see cref="InputDataException"/> otherwise: a clip's domain decides how it is scored and enrolled); the label
/// is not: without a label file for the section, <see cref="DcaseClip.IsAnomaly"/> is null, which is how a blind
/// evaluation set is streamed. Attributes come from the evaluator's <c>ground_truth_attributes/</c> files when
/// present, else they are empty.
/// </para>
/// </summary>
public static class DcaseDataset
{
    private static readonly string[] Splits = ["train", "test"];

    private const string ExpectedLayout =
        "expected ROOT/dev_data/raw/<machine_type>/{train,test}/*.wav and/or ROOT/eval_data/raw/<machine_type>/{train,test}/*.wav";

    /// <summary>
    /// Every clip under <paramref name="root"/>, sorted by machine type, split (train first), file name and path
    /// (ordinal comparisons, so the order is the same on every machine).
    /// </summary>
    /// <param name="groundTruthDir">The official ground truth, needed only when evaluation test clips are present.</param>
    /// <exception cref="InputDataException">Root missing, no clips, a name that is not a DCASE clip name, a name whose
    /// split disagrees with its folder, an evaluation test clip without a domain in the ground truth, or one clip (machine
    /// type, split and file name) in two places, such as dev_data and eval_data.</exception>
    public static IReadOnlyList<DcaseClip> Scan(string root, string? groundTruthDir = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        if (!Directory.Exists(root))
            throw new InputDataException(root, null, $"no such directory; {ExpectedLayout}");
        var groundTruth = groundTruthDir is null ? null : DcaseGroundTruth.Open(groundTruthDir);

        var clips = new List<DcaseClip>();
        foreach (var machineDir in MachineDirectories(Path.GetFullPath(root)))
        {
            string machineType = Path.GetFileName(machineDir);
            foreach (var split in Splits)
            {
                string splitDir = Path.Combine(machineDir, split);
                if (!Directory.Exists(splitDir))
                    continue;
                foreach (var path in Directory.EnumerateFiles(splitDir, "*.wav", WavFiles))
                    clips.Add(Describe(path, machineType, isTest: split == "test", groundTruth));
            }
        }
        if (clips.Count == 0)
            throw new InputDataException(root, null, $"no DCASE clips found; {ExpectedLayout}");

        clips.Sort((a, b) =>
        {
            int c = string.CompareOrdinal(a.MachineType, b.MachineType);
            if (c == 0) c = a.IsTest.CompareTo(b.IsTest);
            if (c == 0) c = string.CompareOrdinal(a.FileName, b.FileName);
            return c != 0 ? c : string.CompareOrdinal(a.Path, b.Path);
        });
        RefuseDuplicates(root, clips);
        return clips;
    }

    /// <summary>
    /// A clip found twice (say a machine type copied from dev_data into eval_data) would be streamed or enrolled twice;
    /// refused as the embeddings CSV refuses it, naming both places. <paramref name="sorted"/> is in <see cref="Scan"/>'s order.
    /// </summary>
    private static void RefuseDuplicates(string root, List<DcaseClip> sorted)
    {
        for (int i = 1; i < sorted.Count; i++)
        {
            DcaseClip first = sorted[i - 1], second = sorted[i];
            if (first.MachineType == second.MachineType && first.IsTest == second.IsTest && first.FileName == second.FileName)
                throw new InputDataException(root, null,
                    $"{DuplicateClip.Problem(second.FileName, second.MachineType, second.IsTest ? "test" : "train")}: "
                    + $"{Path.GetRelativePath(root, first.Path)} and {Path.GetRelativePath(root, second.Path)}; a data set holds each clip once, so remove one");
        }
    }

    private static readonly EnumerationOptions WavFiles = new()
    {
        MatchCasing = MatchCasing.CaseInsensitive,
        RecurseSubdirectories = false,
        IgnoreInaccessible = false,
    };

    private static List<string> MachineDirectories(string root)
    {
        if (IsMachineDirectory(root))
            return [root];
        var rawRoots = new[] { Path.Combine(root, "dev_data", "raw"), Path.Combine(root, "eval_data", "raw") }
            .Where(Directory.Exists).ToList();
        if (rawRoots.Count == 0)
            rawRoots.Add(Directory.Exists(Path.Combine(root, "raw")) ? Path.Combine(root, "raw") : root);
        return rawRoots
            .SelectMany(raw => Directory.EnumerateDirectories(raw))
            .Where(IsMachineDirectory)
            .ToList();
    }

    private static bool IsMachineDirectory(string dir) => Splits.Any(split => Directory.Exists(Path.Combine(dir, split)));

    private static DcaseClip Describe(string path, string machineType, bool isTest, DcaseGroundTruth? groundTruth)
    {
        string fileName = Path.GetFileName(path);
        string folder = isTest ? "test" : "train";
        if (!DcaseFileName.TryParse(fileName, out var parts))
            throw new InputDataException(path, null, $"'{fileName}' is not a DCASE 2023 clip name; expected {DcaseFileName.ExpectedForms}");

        if (!parts.IsEvaluationTestName)
        {
            if (parts.IsTest != isTest)
                throw new InputDataException(path, null, $"the name says {(parts.IsTest == true ? "test" : "train")} but the clip is in a {folder} folder");
            return new DcaseClip(path, machineType, parts.Section, parts.IsTarget!.Value, isTest, parts.IsAnomaly, parts.Attributes, fileName);
        }

        if (!isTest)
            throw new InputDataException(path, null,
                $"'{fileName}' has the evaluation test form (section_NN_NNNN.wav) but is in a train folder; training clips must name domain and label");
        string expectedFiles = groundTruth is null
            ? $"give the ground-truth directory (its ground_truth_domain/{DcaseGroundTruth.FileNameFor(machineType, parts.Section)} or equivalent)"
            : $"none of {string.Join(", ", groundTruth.CandidateFiles(machineType, parts.Section))} gives it";
        var entry = groundTruth?.Find(machineType, parts.Section, fileName);
        if (entry?.IsTarget is not { } isTarget)
            throw new InputDataException(path, null,
                $"evaluation test clip without a domain: its name has no _source_/_target_, and {expectedFiles}");
        return new DcaseClip(path, machineType, parts.Section, isTarget, IsTest: true, entry.IsAnomaly, entry.Attributes ?? "", fileName);
    }
}
