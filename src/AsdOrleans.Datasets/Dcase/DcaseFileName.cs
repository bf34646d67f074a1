using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace AsdOrleans.Datasets.Dcase;

/// <summary>
/// What a DCASE 2023 Task 2 file name says. Development clips and all training clips name everything
/// (<c>section_00_source_train_normal_0362_car_C2_spd_31V_mic_1.wav</c>); evaluation test clips name only
/// section and index (<c>section_00_0000.wav</c>), so domain, split and label are null.
/// </summary>
public sealed record DcaseFileNameParts(string Section, bool? IsTarget, bool? IsTest, bool? IsAnomaly, string Index, string Attributes)
{
    /// <summary>True for the <c>section_NN_NNNN.wav</c> form, whose domain and label live in the ground truth.</summary>
    public bool IsEvaluationTestName => IsTarget is null;
}

/// <summary>Parses DCASE 2023 Task 2 clip names.</summary>
public static partial class DcaseFileName
{
    public const string ExpectedForms =
        "section_NN_{source|target}_{train|test}_{normal|anomaly}_NNNN[_attributes].wav, or section_NN_NNNN.wav for evaluation test clips";

    // Attributes: everything after the index, e.g. car_C2_spd_31V_mic_1, vel_9_loc_A, volt_1.5_wt_0, m-n_W,
    // noAttribute, or nothing at all.
    [GeneratedRegex(@"^section_(?<section>\d+)_(?<domain>source|target)_(?<split>train|test)_(?<label>normal|anomaly)_(?<index>\d+)(?:_(?<attributes>.*))?\.(?i:wav)$", RegexOptions.CultureInvariant)]
    private static partial Regex NamedClip();

    [GeneratedRegex(@"^section_(?<section>\d+)_(?<index>\d+)\.(?i:wav)$", RegexOptions.CultureInvariant)]
    private static partial Regex EvaluationTestClip();

    public static bool TryParse(string fileName, [NotNullWhen(true)] out DcaseFileNameParts? parts)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        var match = NamedClip().Match(fileName);
        if (match.Success)
        {
            parts = new DcaseFileNameParts(
                match.Groups["section"].Value,
                IsTarget: match.Groups["domain"].Value == "target",
                IsTest: match.Groups["split"].Value == "test",
                IsAnomaly: match.Groups["label"].Value == "anomaly",
                match.Groups["index"].Value,
                match.Groups["attributes"].Value);
            return true;
        }
        match = EvaluationTestClip().Match(fileName);
        if (match.Success)
        {
            parts = new DcaseFileNameParts(match.Groups["section"].Value, null, null, null, match.Groups["index"].Value, "");
            return true;
        }
        parts = null;
        return false;
    }

    /// <exception cref="FormatException">The name has neither DCASE form.</exception>
    public static DcaseFileNameParts Parse(string fileName) =>
        TryParse(fileName, out var parts)
            ? parts
            : throw new FormatException($"'{fileName}' is not a DCASE 2023 clip name; expected {ExpectedForms}");
}
