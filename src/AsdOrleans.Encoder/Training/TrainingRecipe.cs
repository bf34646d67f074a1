using AsdOrleans.Encoder.Model;

namespace AsdOrleans.Encoder.Training;

/// <summary>
/// A named encoder recipe: the architecture and training settings `asd train` uses unless an option overrides one
/// (docs/decisions.md, issue 11 — the encoder recipe).
/// </summary>
public sealed record TrainingRecipe(string Name, string Description, EncoderBranches Branches, int Width, int Epochs, int BatchSize,
    double CropSeconds, double LearningRate, string Schedule, double Mixup = 0)
{
    /// <summary>Issue 3's recipe: the ResNet over log-STFT frames, 2 s crops, constant learning rate.</summary>
    public static TrainingRecipe ResNetIssue3 { get; } = new("resnet-issue3",
        "issue 3's encoder: ResNet18 (width 32) over 2 s log-STFT crops, 20 epochs, constant lr 1e-3",
        EncoderBranches.Spectrogram, Width: 32, Epochs: 20, BatchSize: 32, CropSeconds: 2.0, LearningRate: 1e-3, Schedule: "constant");

    /// <summary>The spectrum branch alone: the mean/std log spectrum of 8 s crops through a 1-D conv net.</summary>
    public static TrainingRecipe Spectrum { get; } = new("spectrum",
        "spectrum branch only: mean and std over time of each log-STFT bin of 8 s crops, 1-D convolutions, 20 epochs, cosine lr 2e-3",
        EncoderBranches.Spectrum, Width: 16, Epochs: 20, BatchSize: 32, CropSeconds: 8.0, LearningRate: 2e-3, Schedule: "cosine");

    public static IReadOnlyList<TrainingRecipe> All { get; } = [Spectrum, ResNetIssue3];

    /// <summary>The recipe `asd train` uses when none is named.</summary>
    public static TrainingRecipe Default => Spectrum;

    public static TrainingRecipe Named(string name) =>
        All.FirstOrDefault(r => r.Name == name)
        ?? throw new ArgumentException($"unknown recipe '{name}'; known: {string.Join(", ", All.Select(r => r.Name))}");
}
