using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AsdOrleans.Encoder.Model;

/// <summary>
/// The spectrum branch: per clip, the mean and the standard deviation over its valid frames of every log-STFT bin
/// (two channels of 513 bins), each bin standardised by a batch norm (a learned version of the training-free baseline's
/// per-machine standardisation), then 1-D convolutions along frequency (stride 2, so harmonics keep their fine
/// positions in the first layers), flattened, and two linear layers to the branch's share of the embedding.
/// </summary>
internal sealed class SpectrumBranch : Module<Tensor, Tensor, Tensor>
{
    /// <summary>(channels, kernel, stride) of the 1-D convolutions.</summary>
    internal static readonly (int Channels, int Kernel, int Stride)[] Layers = [(32, 7, 1), (32, 7, 2), (64, 5, 2), (64, 5, 2), (128, 3, 2)];
    internal const int Hidden = 256;

    private readonly BatchNorm1d inputNorm;
    private readonly Sequential convolutions;
    private readonly Linear hidden;
    private readonly BatchNorm1d hiddenNorm;
    private readonly Linear output;
    private readonly int bins;
    private readonly double varianceEpsilon;

    public SpectrumBranch(int frequencyBins, int outputDimension, double varianceEpsilon) : base("spectrum")
    {
        bins = frequencyBins;
        this.varianceEpsilon = varianceEpsilon;
        inputNorm = BatchNorm1d(2 * frequencyBins);
        var layers = new List<(string, Module<Tensor, Tensor>)>();
        int inChannels = 2;
        int i = 0;
        foreach (var (channels, kernel, stride) in Layers)
        {
            layers.Add(($"conv{i}", Conv1d(inChannels, channels, kernel, stride: stride, padding: kernel / 2, bias: false)));
            layers.Add(($"norm{i}", BatchNorm1d(channels)));
            layers.Add(($"relu{i}", ReLU()));
            inChannels = channels;
            i++;
        }
        convolutions = Sequential(layers.ToArray());
        hidden = Linear(FlattenedFeatures(frequencyBins), Hidden);
        hiddenNorm = BatchNorm1d(Hidden);
        output = Linear(Hidden, outputDimension);
        RegisterComponents();
    }

    /// <summary>Frequency positions after the convolutions (each maps n to ⌈n/stride⌉ with padding kernel/2) × channels.</summary>
    internal static int FlattenedFeatures(int frequencyBins)
    {
        int f = frequencyBins;
        foreach (var (_, kernel, stride) in Layers)
            f = (f + 2 * (kernel / 2) - kernel) / stride + 1;
        return f * Layers[^1].Channels;
    }

    /// <param name="spectrogram">(B, F, T) log-magnitude frames, zero beyond each clip's length.</param>
    /// <param name="lengths">(B) int64 valid frames per clip.</param>
    public override Tensor forward(Tensor spectrogram, Tensor lengths)
    {
        using var scope = NewDisposeScope();
        using var one = 1.ToScalar();
        using var epsilon = varianceEpsilon.ToScalar();
        var mask = LengthMasks.TimeMask(lengths, spectrogram.shape[2], spectrogram.dtype).squeeze(1); // (B, 1, T)
        var count = lengths.to_type(spectrogram.dtype).view(-1, 1);
        var mean = spectrogram.mul(mask).sum(-1).div(count);
        var centred = spectrogram.sub(mean.unsqueeze(-1)).mul(mask);
        var std = centred.square().sum(-1).div(count.sub(one).clamp_min(one)).add(epsilon, one).sqrt();
        return FromStatistics(mean, std).MoveToOuterDisposeScope();
    }

    /// <summary>The branch from precomputed statistics: (B, F) mean and (B, F) std over time of each bin.</summary>
    public Tensor FromStatistics(Tensor mean, Tensor std)
    {
        using var scope = NewDisposeScope();
        var statistics = inputNorm.forward(cat([mean, std], 1)).view(-1, 2, bins);
        var features = convolutions.forward(statistics).flatten(1);
        var result = output.forward(functional.relu(hiddenNorm.forward(hidden.forward(features))));
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Multiply-adds × 2 of the convolutions and linear layers (statistics and norms are negligible).</summary>
    internal static double Flops(int frequencyBins, int outputDimension)
    {
        double total = 0;
        int f = frequencyBins, inChannels = 2;
        foreach (var (channels, kernel, stride) in Layers)
        {
            f = (f + 2 * (kernel / 2) - kernel) / stride + 1;
            total += 2.0 * inChannels * channels * kernel * f;
            inChannels = channels;
        }
        return total + 2.0 * FlattenedFeatures(frequencyBins) * Hidden + 2.0 * Hidden * outputDimension;
    }
}
