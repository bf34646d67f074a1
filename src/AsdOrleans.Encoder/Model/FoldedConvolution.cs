using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AsdOrleans.Encoder.Model;

/// <summary>
/// A convolution with the batch norm after it folded in, for inference: w' = w·γ/√(σ²+ε), b' = β − μ·γ/√(σ²+ε).
/// One pass over the activation instead of two; the trained modules are left untouched (they are what is saved).
/// </summary>
internal sealed class FoldedConvolution : IDisposable
{
    private readonly Tensor weight;
    private readonly Tensor bias;
    private readonly long[] strides;
    private readonly long[] paddings;

    private FoldedConvolution(Tensor weight, Tensor bias, long[] strides, long[] paddings)
    {
        this.weight = weight;
        this.bias = bias;
        this.strides = strides;
        this.paddings = paddings;
    }

    public static FoldedConvolution From(Conv2d convolution, BatchNorm2d norm, long stride, long padding, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var variance = norm.running_var ?? throw new InvalidOperationException("batch norm without running statistics");
        var mean = norm.running_mean ?? throw new InvalidOperationException("batch norm without running statistics");
        var gamma = norm.weight ?? throw new InvalidOperationException("batch norm without affine weight");
        var beta = norm.bias ?? throw new InvalidOperationException("batch norm without affine bias");
        if (convolution.bias is not null)
            throw new InvalidOperationException("folding expects a convolution without bias");
        var scale = gamma.div(variance.add(norm.eps).sqrt());
        var folded = convolution.weight!.mul(scale.view(-1, 1, 1, 1)).to_type(dtype).contiguous();
        var shift = beta.sub(mean.mul(scale)).to_type(dtype).contiguous();
        return new FoldedConvolution(folded.MoveToOuterDisposeScope(), shift.MoveToOuterDisposeScope(), [stride, stride], [padding, padding]);
    }

    public Tensor Forward(Tensor input) => nn.functional.conv2d(input, weight, bias, strides, paddings);

    public void Dispose()
    {
        weight.Dispose();
        bias.Dispose();
    }
}
