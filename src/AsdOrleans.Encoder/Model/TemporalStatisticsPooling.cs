using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AsdOrleans.Encoder.Model;

/// <summary>
/// Temporal statistics pooling (wespeaker's TSTP): mean and std over each clip's valid frames, for every
/// channel × frequency, flattened. std = sqrt(unbiased variance + ε); a clip of one frame uses n − 1 = 1.
/// </summary>
internal sealed class TemporalStatisticsPooling : Module<Tensor, Tensor, Tensor>
{
    private readonly double varianceEpsilon;

    public TemporalStatisticsPooling(double varianceEpsilon) : base("pooling")
    {
        this.varianceEpsilon = varianceEpsilon;
    }

    /// <param name="features">(B, C, F, T), zero in padded frames.</param>
    /// <param name="lengths">(B) valid frames.</param>
    public override Tensor forward(Tensor features, Tensor lengths)
    {
        var mask = LengthMasks.TimeMask(lengths, features.shape[3], features.dtype);
        var count = lengths.to_type(features.dtype).view(-1, 1, 1);
        var mean = features.mul(mask).sum(-1).div(count);
        var centred = features.sub(mean.unsqueeze(-1)).mul(mask);
        using var one = 1.ToScalar();
        using var two = 2.ToScalar();
        using var epsilon = varianceEpsilon.ToScalar();
        var variance = centred.pow(two).sum(-1).div(count.sub(one).clamp_min(one));
        var std = variance.add(epsilon, one).sqrt();
        return cat([mean.flatten(1), std.flatten(1)], 1);
    }
}
