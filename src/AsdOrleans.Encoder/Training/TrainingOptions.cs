namespace AsdOrleans.Encoder.Training;

/// <summary>Training settings. Optimiser: Adam with decoupled weight decay (AdamW), constant learning rate.</summary>
public sealed record TrainingOptions
{
    public int Epochs { get; init; } = 20;
    public int BatchSize { get; init; } = 32;
    /// <summary>Random crops of this length are trained on (whole clips are embedded at inference).</summary>
    public double CropSeconds { get; init; } = 2.0;
    public double LearningRate { get; init; } = 1e-3;
    public double WeightDecay { get; init; } = 1e-4;
    public ulong Seed { get; init; }
    public string Device { get; init; } = "auto";
    /// <summary>The ArcFace margin is 0 until this fraction of all steps, then rises linearly…</summary>
    public double MarginWarmupStart { get; init; } = 0.1;
    /// <summary>…to its final value at this fraction (wespeaker warms the margin up the same way).</summary>
    public double MarginWarmupEnd { get; init; } = 0.4;
    public double FinalMargin { get; init; } = Model.SubCenterArcFace.DefaultMargin;
    public int SubCenters { get; init; } = Model.SubCenterArcFace.DefaultSubCenters;
    public double Scale { get; init; } = Model.SubCenterArcFace.DefaultScale;
    /// <summary>"constant" (issue 3), or "cosine": the rate decays from <see cref="LearningRate"/> to 0 over all steps
    /// after a linear warm-up over the first <see cref="WarmupFraction"/> of them.</summary>
    public string Schedule { get; init; } = "constant";
    public double WarmupFraction { get; init; } = 0.05;
    /// <summary>Share of steps trained on mixed clips (mixup, λ uniform in [0, 1]; the loss mixes both clips' classes
    /// with the same weights). Spectrum-only encoders mix the crops' statistics, the others the waveforms.</summary>
    public double MixupProbability { get; init; }
    /// <summary>When set, a checkpoint is written there after every epoch, and training resumes from it if present.</summary>
    public string? CheckpointPath { get; init; }

    public TrainingOptions Validate()
    {
        if (Epochs < 1) throw new ArgumentException($"epochs must be at least 1, got {Epochs}");
        if (BatchSize < 2) throw new ArgumentException($"batch size must be at least 2 (batch normalisation needs it), got {BatchSize}");
        if (!(CropSeconds > 0 && CropSeconds <= 60)) throw new ArgumentException($"crop seconds must be in (0, 60], got {CropSeconds}");
        if (!(LearningRate > 0 && LearningRate < 1)) throw new ArgumentException($"learning rate must be in (0, 1), got {LearningRate}");
        if (!(WeightDecay >= 0)) throw new ArgumentException($"weight decay must be ≥ 0, got {WeightDecay}");
        if (!(MarginWarmupStart >= 0 && MarginWarmupStart <= MarginWarmupEnd && MarginWarmupEnd <= 1))
            throw new ArgumentException("margin warm-up must satisfy 0 ≤ start ≤ end ≤ 1");
        if (!(FinalMargin >= 0 && FinalMargin < Math.PI / 2)) throw new ArgumentException($"margin must be in [0, π/2), got {FinalMargin}");
        if (Schedule is not ("constant" or "cosine")) throw new ArgumentException($"learning-rate schedule must be constant or cosine, got {Schedule}");
        if (!(WarmupFraction >= 0 && WarmupFraction < 1)) throw new ArgumentException($"warm-up fraction must be in [0, 1), got {WarmupFraction}");
        if (!(MixupProbability >= 0 && MixupProbability <= 1)) throw new ArgumentException($"mixup probability must be in [0, 1], got {MixupProbability}");
        if (SubCenters < 1) throw new ArgumentException($"sub-centres must be at least 1, got {SubCenters}");
        return this;
    }

    /// <summary>The learning rate at a step under <see cref="Schedule"/>.</summary>
    public double LearningRateAt(long step, long totalSteps)
    {
        if (Schedule == "constant" || totalSteps <= 1) return LearningRate;
        double progress = (double)step / totalSteps;
        if (progress < WarmupFraction) return LearningRate * (step + 1) / Math.Max(1.0, WarmupFraction * totalSteps);
        double t = (progress - WarmupFraction) / (1 - WarmupFraction);
        return LearningRate * 0.5 * (1 + Math.Cos(Math.PI * t));
    }

    /// <summary>The margin at a step: 0, then linear, then <see cref="FinalMargin"/>.</summary>
    public double MarginAt(long step, long totalSteps)
    {
        double progress = totalSteps <= 1 ? 1 : (double)step / (totalSteps - 1);
        if (progress >= MarginWarmupEnd) return FinalMargin;
        if (progress <= MarginWarmupStart) return 0;
        return FinalMargin * (progress - MarginWarmupStart) / (MarginWarmupEnd - MarginWarmupStart);
    }
}

/// <summary>What the caller knows about a training run beyond its options, recorded in the model's training block.</summary>
public sealed record TrainingProvenance(string? Recipe, string? Targets, string? CommandLine, string? Software, string? DataSha256,
    double? RequestedCropSeconds = null);

/// <summary>One training clip: 16 kHz mono samples and its class index.</summary>
public sealed record TrainingClip(float[] Samples, int ClassIndex);

/// <summary>Progress after an epoch.</summary>
public sealed record EpochReport(int Epoch, int Epochs, double Loss, double Accuracy, double Margin, TimeSpan Elapsed, bool Resumed);
