using System.Globalization;

namespace AsdOrleans.Datasets.Synthesis;

/// <summary>
/// What <c>asd synth</c> generates. Defaults: 4 machine types; per type 200 source-domain and 10
/// target-domain training clips (DCASE 2023 has 990 + 10: the target set is "a few clips" in both,
/// and 10 is the number the reference set of the method counts on, so it is not scaled down with
/// the source count) and 100 test clips, 25 each of source/target × normal/anomaly (DCASE dev: 200,
/// 50 each); 10 s per clip (DCASE: 6–18 s); seed 0. Defaults write 1,240 clips (3.4 hours of audio).
/// </summary>
public sealed record SynthSettings
{
    public const int SampleRate = 16_000;
    public const double MaxSeconds = 60;
    /// <summary>The shortest clip the pipeline reads (<see cref="AsdOrleans.Audio.AudioLoadOptions.DefaultMinSeconds"/>): a shorter one could be written but not used.</summary>
    public const double MinSeconds = AsdOrleans.Audio.AudioLoadOptions.DefaultMinSeconds;
    /// <summary>Clip numbers (NNNN) run per machine type and split and have four digits.</summary>
    public const int MaxClipsPerSplit = 10_000;

    public int MachineTypes { get; init; } = 4;
    /// <summary>Source-domain training clips per machine type.</summary>
    public int SourceTrain { get; init; } = 200;
    /// <summary>Target-domain training clips per machine type.</summary>
    public int TargetTrain { get; init; } = 10;
    /// <summary>Test clips per machine type: a quarter each of source normal, source anomaly, target normal, target anomaly.</summary>
    public int Test { get; init; } = 100;
    public double Seconds { get; init; } = 10;
    public ulong Seed { get; init; }
    /// <summary>Whether an anomaly's fault parameters are drawn per clip (default) or fixed per machine type and fault kind.</summary>
    public FaultConditions Faults { get; init; } = FaultConditions.PerClip;

    public int SamplesPerClip => (int)Math.Round(Seconds * SampleRate);
    public int TestPerDomainAndLabel => Test / 4;
    public int ClipsPerMachineType => SourceTrain + TargetTrain + Test;
    public int TotalClips => MachineTypes * ClipsPerMachineType;

    /// <summary>Checks every parameter; the message names the parameter as the command line spells it.</summary>
    public SynthSettings Validate()
    {
        int maxTypes = MachineCatalog.All.Count;
        if (MachineTypes < 1 || MachineTypes > maxTypes)
            throw new ArgumentException($"machine-types must be between 1 and {maxTypes}, got {MachineTypes}");
        if (SourceTrain < 1)
            throw new ArgumentException($"train must be at least 1, got {SourceTrain}");
        if (TargetTrain < 0)
            throw new ArgumentException($"target-train must be at least 0, got {TargetTrain}");
        if ((long)SourceTrain + TargetTrain > MaxClipsPerSplit)
            throw new ArgumentException($"train + target-train must be at most {MaxClipsPerSplit} (clip numbers have four digits), got {(long)SourceTrain + TargetTrain}");
        if (Test < 4 || Test % 4 != 0)
            throw new ArgumentException($"test must be a positive multiple of 4 (a quarter each of source/target × normal/anomaly), got {Test}");
        if (Test > MaxClipsPerSplit)
            throw new ArgumentException($"test must be at most {MaxClipsPerSplit} (clip numbers have four digits), got {Test}");
        if (!(Seconds >= MinSeconds && Seconds <= MaxSeconds))
            throw new ArgumentException($"seconds must be in [{MinSeconds.ToString(CultureInfo.InvariantCulture)}, {MaxSeconds}] (a clip shorter than {MinSeconds.ToString(CultureInfo.InvariantCulture)} s is too short for the features), got {Seconds.ToString(CultureInfo.InvariantCulture)}");
        if (!Enum.IsDefined(Faults))
            throw new ArgumentException($"faults must be one of {string.Join(", ", SynthNames.FaultConditionNames.All)}, got {(int)Faults}");
        return this;
    }
}
