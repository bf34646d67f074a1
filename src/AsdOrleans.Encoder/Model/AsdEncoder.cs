using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AsdOrleans.Encoder.Model;

/// <summary>f(x): log-STFT frames → ResNet18 → temporal statistics pooling → linear → 128-d embedding.</summary>
public sealed class AsdEncoder : Module<Tensor, Tensor, Tensor>
{
    private readonly ResNetBackbone backbone;
    private readonly TemporalStatisticsPooling pooling;
    private readonly Linear embedding;

    public AsdEncoder(EncoderArchitecture architecture) : base("encoder")
    {
        Architecture = architecture.Validate();
        backbone = new ResNetBackbone(architecture);
        pooling = new TemporalStatisticsPooling(architecture.PoolingVarianceEpsilon);
        embedding = Linear(architecture.PooledFeatures, architecture.EmbeddingDimension);
        RegisterComponents();
    }

    public EncoderArchitecture Architecture { get; }

    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <param name="spectrogram">(B, F, T) log-magnitude frames, padded clips zero beyond their length.</param>
    /// <param name="lengths">(B) int64 valid frames per clip.</param>
    /// <returns>(B, D) embeddings (not normalised; scoring normalises).</returns>
    public override Tensor forward(Tensor spectrogram, Tensor lengths)
    {
        if (spectrogram.dim() != 3 || spectrogram.shape[1] != Architecture.FrequencyBins)
            throw new ArgumentException($"expected (batch, {Architecture.FrequencyBins}, frames) frames, got ({string.Join(", ", spectrogram.shape)})");
        if (backbone.TrunkType == ScalarType.Float32)
        {
            var (features, pooledLengths) = backbone.forward(spectrogram, lengths);
            return embedding.forward(pooling.forward(features, pooledLengths));
        }
        using var lowered = spectrogram.to_type(backbone.TrunkType);
        var (lowFeatures, lowLengths) = backbone.forward(lowered, lengths);
        using (lowFeatures)
        using (var features = lowFeatures.to_type(ScalarType.Float32))
            return embedding.forward(pooling.forward(features, lowLengths));
    }

    /// <summary>
    /// Inference only, irreversible: folds every batch norm into its convolution and runs the trunk in
    /// <paramref name="trunkType"/> (pooling and the embedding layer stay fp32). Use on a copy, never on a model being trained or saved.
    /// </summary>
    internal void PrepareForInference(ScalarType trunkType)
    {
        if (training)
            throw new InvalidOperationException("fold batch norms only in eval mode: training updates them");
        backbone.FoldBatchNorms(trunkType);
    }
}
