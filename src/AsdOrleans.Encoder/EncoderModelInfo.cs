using AsdOrleans.Audio.Features;
using AsdOrleans.Encoder.Model;

namespace AsdOrleans.Encoder;

/// <summary>
/// How a model was trained, kept in the model file for `asd model-info` and reports: enough to rerun the training.
/// Descriptive: outside the version id (<see cref="EncoderModelInfo.TrainingChecksum"/> tells an edit). Files written
/// before a field existed read it as null.
/// </summary>
public sealed record TrainingSummary(int Epochs, int BatchSize, double CropSeconds, double LearningRate, ulong Seed,
    int TrainingClips, double FinalLoss, double FinalAccuracy, string Data)
{
    public string? Recipe { get; init; }
    public string? Schedule { get; init; }
    public double? Mixup { get; init; }
    public double? WeightDecay { get; init; }
    /// <summary>attributes, machines or clips (`asd train --targets`).</summary>
    public string? Targets { get; init; }
    /// <summary>The crop asked for, when the shortest clip shortened it to <see cref="CropSeconds"/>.</summary>
    public double? RequestedCropSeconds { get; init; }
    public string? CommandLine { get; init; }
    /// <summary>The software that trained it: its informational version (with the git commit when the build knew it).</summary>
    public string? Software { get; init; }
    /// <summary>SHA-256 over the training clips' relative paths, classes and decoded samples, in order.</summary>
    public string? DataSha256 { get; init; }
}

/// <summary>What a model file says about itself: architecture, front end, classes, version, size.</summary>
public sealed record EncoderModelInfo
{
    public const int CurrentFormatVersion = 1;

    public int FormatVersion { get; init; } = CurrentFormatVersion;
    /// <summary>Content hash of the weights and settings: every stored embedding records it (docs/design.md §2, Models).</summary>
    public string VersionId { get; init; } = "";
    public required EncoderArchitecture Architecture { get; init; }
    public required LogStftSettings FrontEnd { get; init; }
    /// <summary>Training classes (machine type × section × attributes), index = class id.</summary>
    public IReadOnlyList<string> Classes { get; init; } = [];
    public long ParameterCount { get; init; }
    public TrainingSummary? Training { get; init; }
    /// <summary>Checksum of <see cref="Training"/> as training wrote it (EncoderModel.TrainingChecksumOf); absent in older files.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? TrainingChecksum { get; init; }
    public DateTimeOffset CreatedUtc { get; init; }
}
