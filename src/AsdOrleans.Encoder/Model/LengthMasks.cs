using TorchSharp;
using static TorchSharp.torch;

namespace AsdOrleans.Encoder.Model;

/// <summary>
/// Valid-frame bookkeeping for padded batches. Activations in padded frames are zeroed after every
/// layer, so each clip's frames see exactly what a conv's zero padding shows them when the clip is
/// encoded alone: a clip's embedding does not depend on the batch it travels in (docs/design.md §1).
/// </summary>
internal static class LengthMasks
{
    /// <summary>(B, 1, 1, T) float mask, 1 for frames before each clip's length.</summary>
    public static Tensor TimeMask(Tensor lengths, long frames, ScalarType dtype)
    {
        var positions = arange(frames, device: lengths.device).unsqueeze(0);
        return positions.lt(lengths.unsqueeze(1)).to_type(dtype).unsqueeze(1).unsqueeze(1);
    }

    /// <summary>Lengths after a stride-s, kernel-3, padding-1 conv: ⌈L/s⌉.</summary>
    /// <remarks>floor_divide, not div(…, rounding_mode: floor): TorchSharp 0.107 ignores that rounding mode and
    /// returns 8.5 for 17 / 2, which silently widened masks by one frame.</remarks>
    public static Tensor AfterStride(Tensor lengths, long stride)
    {
        if (stride == 1)
            return lengths;
        using var rounding = (stride - 1).ToScalar();
        using var divisor = stride.ToScalar();
        using var one = 1.ToScalar(); // explicit alpha: add's implicit one can be finalized mid-call
        using var raised = lengths.add(rounding, one);
        return raised.floor_divide(divisor);
    }
}
