using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AsdOrleans.Encoder.Model;

/// <summary>
/// f(x): log-STFT frames → ResNet18 → temporal statistics pooling → linear → 128-d embedding (issue 3), and/or the
/// spectrum branch over the frames' mean and std per bin (<see cref="EncoderBranches"/>); with both, the two halves
/// are concatenated.
/// </summary>
public sealed class AsdEncoder : Module<Tensor, Tensor, Tensor>
{
    private readonly ResNetBackbone? backbone;
    private readonly TemporalStatisticsPooling? pooling;
    private readonly Linear? embedding;
    private readonly SpectrumBranch? spectrum;

    public AsdEncoder(EncoderArchitecture architecture) : base("encoder")
    {
        Architecture = architecture.Validate();
        if (architecture.HasSpectrogramBranch)
        {
            backbone = new ResNetBackbone(architecture);
            pooling = new TemporalStatisticsPooling(architecture.PoolingVarianceEpsilon);
            embedding = Linear(architecture.PooledFeatures, architecture.SpectrogramDimension);
        }
        if (architecture.HasSpectrumBranch)
            spectrum = new SpectrumBranch(architecture.FrequencyBins, architecture.SpectrumDimension, architecture.PoolingVarianceEpsilon);
        RegisterComponents();
    }

    public EncoderArchitecture Architecture { get; }

    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <param name="spectrogram">(B, F, T) log-magnitude frames, padded clips zero beyond their length.</param>
    /// <param name="lengths">(B) int64 valid frames per clip.</param>
    /// <returns>(B, D) embeddings (not normalised; scoring normalises).</returns>
    /// <summary>A spectrum-only encoder from precomputed per-bin statistics over time ((B, F) mean and unbiased std),
    /// as <see cref="forward"/> computes them from frames: lets training skip the STFT of every crop.</summary>
    public Tensor ForwardStatistics(Tensor mean, Tensor std)
    {
        if (backbone is not null || spectrum is null)
            throw new InvalidOperationException("only a spectrum-only encoder can run from statistics");
        return spectrum.FromStatistics(mean, std);
    }

    public override Tensor forward(Tensor spectrogram, Tensor lengths)
    {
        if (spectrogram.dim() != 3 || spectrogram.shape[1] != Architecture.FrequencyBins)
            throw new ArgumentException($"expected (batch, {Architecture.FrequencyBins}, frames) frames, got ({string.Join(", ", spectrogram.shape)})");
        Tensor? fromSpectrum = spectrum?.forward(spectrogram, lengths);
        if (backbone is null)
            return fromSpectrum!;
        var fromSpectrogram = SpectrogramBranch(backbone, spectrogram, lengths);
        if (fromSpectrum is null)
            return fromSpectrogram;
        using (fromSpectrogram)
        using (fromSpectrum)
            return cat([fromSpectrogram, fromSpectrum], 1);
    }

    private Tensor SpectrogramBranch(ResNetBackbone trunk, Tensor spectrogram, Tensor lengths)
    {
        if (trunk.TrunkType == ScalarType.Float32)
        {
            var (features, pooledLengths) = trunk.forward(spectrogram, lengths);
            return embedding!.forward(pooling!.forward(features, pooledLengths));
        }
        using var lowered = spectrogram.to_type(trunk.TrunkType);
        var (lowFeatures, lowLengths) = trunk.forward(lowered, lengths);
        using (lowFeatures)
        using (var features = lowFeatures.to_type(ScalarType.Float32))
            return embedding!.forward(pooling!.forward(features, lowLengths));
    }

    /// <summary>
    /// Inference only, irreversible: folds every batch norm of the spectrogram trunk into its convolution and runs that
    /// trunk in <paramref name="trunkType"/> (pooling, the embedding layer and the spectrum branch stay fp32: the branch's
    /// 1-D convolutions cost little). Use on a copy, never on a model being trained or saved.
    /// </summary>
    internal void PrepareForInference(ScalarType trunkType)
    {
        if (training)
            throw new InvalidOperationException("fold batch norms only in eval mode: training updates them");
        backbone?.FoldBatchNorms(trunkType);
    }
}
