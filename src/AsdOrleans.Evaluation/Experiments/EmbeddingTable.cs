using System.Globalization;
using System.Text;
using AsdOrleans.Method.Io;
using AsdOrleans.Method.Vocabulary;

namespace AsdOrleans.Evaluation.Experiments;

/// <summary>One clip's embedding with its ground truth, as an embeddings CSV row holds it.</summary>
public sealed record EmbeddingRecord(string Machine, bool IsTest, bool IsTarget, bool IsAnomaly, string File, float[] Embedding)
{
    /// <summary>A whitened training clip's held-out distance (<see cref="AsdOrleans.Method.Enrollment.EnrollmentClip.HeldOutDistance"/>); null otherwise.</summary>
    public double? HeldOutDistance { get; init; }
}

/// <summary>
/// The embeddings CSV that `asd embed` writes and `asd experiment` reads:
/// header <c>machine,split,domain,label,file,e0,e1,…</c>; split train|test, domain source|target (or 0/1),
/// label normal|anomaly (or 0/1). An optional <c>held_out_distance</c> column right after <c>file</c> carries a whitened
/// training clip's held-out distance (`asd embed --embedder spectral` writes it; empty for test rows), so a run on the CSV
/// enrolls as a run on the audio does. Loading validates everything and names file and line on error.
/// </summary>
public sealed class EmbeddingTable
{
    public static readonly string[] LeadingColumns = ["machine", "split", "domain", "label", "file"];
    public const string HeldOutDistanceColumn = "held_out_distance";

    public EmbeddingTable(IReadOnlyList<EmbeddingRecord> records, int dimension, string source = "(memory)")
    {
        Records = records;
        Dimension = dimension;
        Source = source;
    }

    public IReadOnlyList<EmbeddingRecord> Records { get; }
    public int Dimension { get; }
    /// <summary>Where the table came from, for error messages.</summary>
    public string Source { get; }

    public IReadOnlyList<string> Machines => Records.Select(r => r.Machine).Distinct().Order(StringComparer.Ordinal).ToList();

    public static EmbeddingTable Load(string path)
    {
        var (header, rows) = CsvRecords.ReadWithHeader(path);
        bool hasHeldOut = header.Length > LeadingColumns.Length && header[LeadingColumns.Length] == HeldOutDistanceColumn;
        int first = LeadingColumns.Length + (hasHeldOut ? 1 : 0); // the first embedding column
        int dimension = ValidateHeader(path, header, first);
        if (rows.Count == 0)
            throw new InputDataException(path, null, "the file has a header but no rows");
        var records = new List<EmbeddingRecord>(rows.Count);
        var seen = new HashSet<(string, bool, string)>();
        foreach (var row in rows)
        {
            var f = row.Fields;
            string machine = f[0];
            if (!IsValidMachineName(machine))
                throw new InputDataException(path, row.Line, $"machine {Identifiers.InvalidMachineId(machine)}");
            bool isTest = f[1] switch
            {
                "train" => false,
                "test" => true,
                _ => throw new InputDataException(path, row.Line, $"split '{f[1]}' is neither 'train' nor 'test'"),
            };
            bool isTarget = ParseDomain(path, row.Line, f[2]);
            bool isAnomaly = ParseLabel(path, row.Line, f[3]);
            if (!isTest && isAnomaly)
                throw new InputDataException(path, row.Line, "a training clip is labelled anomaly; enrollment takes normal clips only");
            string file = f[4];
            if (file.Length == 0)
                throw new InputDataException(path, row.Line, "column 'file' is empty");
            if (!seen.Add((machine, isTest, file)))
                throw new InputDataException(path, row.Line, DuplicateClip.Problem(file, machine, f[1]));
            double? heldOut = null;
            if (hasHeldOut && f[LeadingColumns.Length].Length > 0)
            {
                if (isTest)
                    throw new InputDataException(path, row.Line, $"column '{HeldOutDistanceColumn}' is for training clips; leave it empty on a test clip");
                double distance = CsvRecords.ParseFinite(path, row.Line, HeldOutDistanceColumn, f[LeadingColumns.Length]);
                if (distance < 0)
                    throw new InputDataException(path, row.Line, $"column '{HeldOutDistanceColumn}': {f[LeadingColumns.Length]} is negative; a distance is at least 0");
                heldOut = distance;
            }
            var embedding = new float[dimension];
            bool allZero = true;
            for (int j = 0; j < dimension; j++)
            {
                double value = CsvRecords.ParseFinite(path, row.Line, header[first + j], f[first + j]);
                if (Math.Abs(value) > float.MaxValue)
                    throw new InputDataException(path, row.Line, $"column '{header[first + j]}': {f[first + j]} is out of single-precision range");
                embedding[j] = (float)value;
                allZero &= embedding[j] == 0;
            }
            if (allZero)
                throw new InputDataException(path, row.Line, "the embedding is all zeros and has no direction");
            records.Add(new EmbeddingRecord(machine, isTest, isTarget, isAnomaly, file, embedding) { HeldOutDistance = heldOut });
        }
        return new EmbeddingTable(records, dimension, path);
    }

    /// <summary>
    /// Writes the table atomically (temp file, then rename) so a failure leaves no half-written file. A NaN or infinite
    /// value is refused with a <see cref="NotFiniteNumberException"/> naming the clip, an all-zero embedding (no direction)
    /// with an <see cref="InvalidDataException"/>.
    /// </summary>
    public void Save(string path)
    {
        // The column only where some clip has a held-out distance, so other tables keep the format older readers know.
        bool hasHeldOut = Records.Any(r => r.HeldOutDistance is not null);
        var builder = new StringBuilder();
        builder.Append(string.Join(',', LeadingColumns));
        if (hasHeldOut) builder.Append(',').Append(HeldOutDistanceColumn);
        for (int j = 0; j < Dimension; j++) builder.Append(",e").Append(j.ToString(CultureInfo.InvariantCulture));
        builder.Append('\n');
        foreach (var r in Records)
        {
            // A NaN/∞ written here would only surface later, in another command, far from its cause: stop now, naming the clip.
            int bad = Array.FindIndex(r.Embedding, v => !float.IsFinite(v));
            if (bad >= 0)
                throw new NotFiniteNumberException(
                    $"the embedding of {r.Machine} {(r.IsTest ? "test" : "train")} clip '{r.File}' has a non-finite value ({r.Embedding[bad]} in e{bad}); nothing was written to {path}");
            // All zeros has no cosine direction; Load refuses such a row, so writing one would only defer the error.
            if (r.Embedding.All(v => v == 0))
                throw new InvalidDataException(
                    $"the embedding of {r.Machine} {(r.IsTest ? "test" : "train")} clip '{r.File}' is all zeros and has no direction; nothing was written to {path}");
            builder.Append(r.Machine).Append(',').Append(r.IsTest ? "test" : "train").Append(',')
                .Append(ClipWords.Domain(r.IsTarget)).Append(',').Append(ClipWords.Label(r.IsAnomaly)).Append(',').Append(r.File);
            if (hasHeldOut) builder.Append(',').Append(r.HeldOutDistance?.ToString("R", CultureInfo.InvariantCulture));
            foreach (var v in r.Embedding) builder.Append(',').Append(v.ToString("R", CultureInfo.InvariantCulture));
            builder.Append('\n');
        }
        AtomicFile.WriteAllText(path, builder.ToString());
    }

    /// <summary>The machine id rule (<see cref="Identifiers.IsValidMachineId"/>), kept here for existing callers.</summary>
    public static bool IsValidMachineName(string name) => Identifiers.IsValidMachineId(name);

    public static bool ParseDomain(string path, int line, string text) => ClipWords.ParseDomain(path, line, "domain", text);

    public static bool ParseLabel(string path, int line, string text) => ClipWords.ParseLabel(path, line, "label", text);

    /// <summary>Checks the header; <paramref name="first"/> is its first embedding column (after <c>held_out_distance</c> where there is one).</summary>
    private static int ValidateHeader(string path, string[] header, int first)
    {
        for (int i = 0; i < LeadingColumns.Length; i++)
        {
            if (i >= header.Length || header[i] != LeadingColumns[i])
                throw new InputDataException(path, 1, $"header must start with {string.Join(',', LeadingColumns)}[,{HeldOutDistanceColumn}],e0,e1,…; column {i + 1} is '{(i < header.Length ? header[i] : "(missing)")}'");
        }
        int dimension = header.Length - first;
        if (dimension == 0)
            throw new InputDataException(path, 1, "header has no embedding columns e0, e1, …");
        for (int j = 0; j < dimension; j++)
        {
            if (header[first + j] != "e" + j.ToString(CultureInfo.InvariantCulture))
                throw new InputDataException(path, 1, $"embedding column {j + 1} is '{header[first + j]}', expected 'e{j}'");
        }
        return dimension;
    }
}
