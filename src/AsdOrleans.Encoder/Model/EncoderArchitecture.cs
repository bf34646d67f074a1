using System.Text.Json.Serialization;

namespace AsdOrleans.Encoder.Model;

/// <summary>
/// Shape of the wespeaker-style ResNet18 encoder (docs/design.md §1), with the paper's sizes as defaults:
/// a 3×3 stem to <see cref="Width"/> channels, 4 stages × 2 BasicBlocks at width ×1, ×2, ×4, ×8 with
/// strides 1, 2, 2, 2, temporal mean+std pooling over (channels × frequency), one linear layer to 128.
/// </summary>
public sealed record EncoderArchitecture
{
    public int FrequencyBins { get; init; } = 513;
    public int Width { get; init; } = 32;
    public int EmbeddingDimension { get; init; } = 128;
    public int[] BlocksPerStage { get; init; } = [2, 2, 2, 2];
    public int[] StageStrides { get; init; } = [1, 2, 2, 2];
    /// <summary>std = sqrt(unbiased variance + this), as wespeaker's pooling.</summary>
    public double PoolingVarianceEpsilon { get; init; } = 1e-7;
    /// <summary>Spectrogram (the ResNet only, issue 3), Spectrum (the clip's mean/std log spectrum only) or Both
    /// (each half of the embedding). Not written when Spectrogram, so issue-3 model files keep their version ids.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public EncoderBranches Branches { get; init; } = EncoderBranches.Spectrogram;

    public bool HasSpectrogramBranch => Branches != EncoderBranches.Spectrum;
    public bool HasSpectrumBranch => Branches != EncoderBranches.Spectrogram;

    /// <summary>Embedding dimensions from the ResNet branch (all, none, or the first half with Both).</summary>
    public int SpectrogramDimension => Branches switch
    {
        EncoderBranches.Spectrogram => EmbeddingDimension,
        EncoderBranches.Spectrum => 0,
        _ => EmbeddingDimension / 2,
    };

    public int SpectrumDimension => EmbeddingDimension - SpectrogramDimension;

    public int StageChannels(int stage) => Width << stage;

    /// <summary>Frequency size after the stages: each stride-2 3×3 conv with padding 1 maps n to ⌈n/2⌉ (513 → 65).</summary>
    public int FinalFrequencyBins
    {
        get
        {
            int f = FrequencyBins;
            foreach (int s in StageStrides) f = (f + s - 1) / s;
            return f;
        }
    }

    /// <summary>Overall time downsampling: frames T become ⌈T / product of strides⌉.</summary>
    public int TimeDownsampling => StageStrides.Aggregate(1, (a, s) => a * s);

    public int PooledFeatures => 2 * StageChannels(StageStrides.Length - 1) * FinalFrequencyBins;

    public EncoderArchitecture Validate()
    {
        if (FrequencyBins < 1) throw new ArgumentException($"frequency bins must be positive, got {FrequencyBins}");
        if (Width < 1) throw new ArgumentException($"width must be positive, got {Width}");
        if (!Enum.IsDefined(Branches)) throw new ArgumentException($"unknown branches {Branches}");
        if (Branches == EncoderBranches.Both && EmbeddingDimension < 2) throw new ArgumentException("two branches need an embedding dimension of at least 2");
        // One dimension cannot train: a unit vector in 1-d is ±1, so every cosine is ±1 and ArcFace's sin θ = √(1 − cos²θ)
        // has an infinite gradient at step 1 (it looked like a learning rate too high).
        if (EmbeddingDimension < 2) throw new ArgumentException($"embedding dimension must be at least 2, got {EmbeddingDimension}: in one dimension every cosine is ±1 and the ArcFace margin has no finite gradient");
        if (BlocksPerStage.Length == 0 || BlocksPerStage.Length != StageStrides.Length)
            throw new ArgumentException("blocks per stage and stage strides must have the same, non-zero length");
        if (BlocksPerStage.Any(b => b < 1) || StageStrides.Any(s => s is < 1 or > 2))
            throw new ArgumentException("each stage needs ≥ 1 block and a stride of 1 or 2");
        return this;
    }
}
