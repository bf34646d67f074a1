using System.Globalization;
using System.Text.RegularExpressions;

namespace AsdOrleans.Datasets.Synthesis;

/// <summary>
/// Everything that determines one clip: machine type and its recording environment, split, domain,
/// label, fault kind and severity, attributes, length and seed. <see cref="ClipSynthesizer.Render"/>
/// turns it into audio on its own, so any clip can be regenerated independently of the others.
/// </summary>
public sealed record ClipSpec
{
    public required MachineProfile Machine { get; init; }
    public required FactoryEnvironment Environment { get; init; }
    public required SynthSplit Split { get; init; }
    public SynthDomain Domain => Environment.Domain;
    /// <summary>Clip number within the machine type and split (NNNN of the file name).</summary>
    public required int Index { get; init; }
    /// <summary><c>spd</c>: speed in percent of nominal.</summary>
    public required int Speed { get; init; }
    public required int Load { get; init; }
    public AnomalyKind Anomaly { get; init; } = AnomalyKind.None;
    /// <summary>Fault severity in (0, 1]; 0 for normal clips. Small values are barely audible.</summary>
    public double Severity { get; init; }
    /// <summary>
    /// Seed of the fault's physical parameters when they are a machine's recurring condition
    /// (<see cref="FaultConditions.Recurring"/>); null when the clip draws them from its own seed.
    /// </summary>
    public ulong? FaultConditionSeed { get; init; }
    public required int Samples { get; init; }
    public required ulong Seed { get; init; }

    public bool IsAnomaly => Anomaly != AnomalyKind.None;
    public double NominalRotationHz => Machine.RotationHz(Speed, Load);

    /// <summary>DCASE 2023 name: <c>section_00_{source|target}_{train|test}_{normal|anomaly}_NNNN_spd_V_load_V.wav</c>.</summary>
    public string FileName => string.Create(CultureInfo.InvariantCulture,
        $"section_00_{SynthNames.Of(Domain)}_{SynthNames.Of(Split)}_{(IsAnomaly ? "anomaly" : "normal")}_{Index:D4}_spd_{Speed}_load_{Load}.wav");
}

/// <summary>Parses the file names the generator writes (the DCASE 2023 dev pattern with spd and load attributes).</summary>
public static partial class SynthFileName
{
    [GeneratedRegex(@"^section_(?<section>\d{2})_(?<domain>source|target)_(?<split>train|test)_(?<label>normal|anomaly)_(?<index>\d{4})_spd_(?<spd>\d+)_load_(?<load>\d+)\.wav$")]
    public static partial Regex Pattern();

    public sealed record Parts(int Section, SynthDomain Domain, SynthSplit Split, bool IsAnomaly, int Index, int Speed, int Load);

    public static Parts? TryParse(string fileName)
    {
        var m = Pattern().Match(fileName);
        if (!m.Success) return null;
        int I(string group) => int.Parse(m.Groups[group].Value, CultureInfo.InvariantCulture);
        return new Parts(I("section"),
            m.Groups["domain"].Value == "source" ? SynthDomain.Source : SynthDomain.Target,
            m.Groups["split"].Value == "train" ? SynthSplit.Train : SynthSplit.Test,
            m.Groups["label"].Value == "anomaly", I("index"), I("spd"), I("load"));
    }
}
