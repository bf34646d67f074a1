using AsdOrleans.Audio.Features;
using AsdOrleans.Encoder.Model;

namespace AsdOrleans.Encoder;

/// <summary>How a model was trained, kept in the model file for `asd model-info` and reports.</summary>
public sealed record TrainingSummary(int Epochs, int BatchSize, double CropSeconds, double LearningRate, ulong Seed,
    int TrainingClips, double FinalLoss, double FinalAccuracy, string Data);

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
    public DateTimeOffset CreatedUtc { get; init; }
}
