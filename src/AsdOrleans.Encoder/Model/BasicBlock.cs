using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AsdOrleans.Encoder.Model;

/// <summary>ResNet BasicBlock: 3×3 conv (stride s) → BN → ReLU → 3×3 conv → BN, plus the shortcut, → ReLU; masked.</summary>
internal sealed class BasicBlock : Module<Tensor, Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly Sequential? shortcut;
    private readonly int stride;
    private FoldedConvolution? folded1;
    private FoldedConvolution? folded2;
    private FoldedConvolution? foldedShortcut;

    public BasicBlock(string name, int inChannels, int outChannels, int stride) : base(name)
    {
        this.stride = stride;
        conv1 = Conv2d(inChannels, outChannels, 3, stride: stride, padding: 1, bias: false);
        bn1 = BatchNorm2d(outChannels);
        conv2 = Conv2d(outChannels, outChannels, 3, stride: 1, padding: 1, bias: false);
        bn2 = BatchNorm2d(outChannels);
        if (stride != 1 || inChannels != outChannels)
            shortcut = Sequential(Conv2d(inChannels, outChannels, 1, stride: stride, bias: false), BatchNorm2d(outChannels));
        RegisterComponents();
    }

    /// <param name="input">(B, C, F, T), zero in padded frames.</param>
    /// <param name="outputMask">(B, 1, 1, T') mask at this block's output resolution.</param>
    public override Tensor forward(Tensor input, Tensor outputMask)
    {
        // Each intermediate is freed as soon as it is consumed (as PyTorch's reference counting does): at the
        // paper's size one activation of a 10 s clip is 82 MB, and holding them all until the caller's dispose
        // scope ends made batches several times slower. Without gradients, ReLU and masking work in place.
        bool inPlace = !is_grad_enabled();
        Tensor hidden;
        if (folded1 is not null)
            hidden = folded1.Forward(input);
        else
            using (var convolved = conv1.forward(input))
                hidden = bn1.forward(convolved);
        hidden = ReluMasked(hidden, outputMask, inPlace);
        Tensor output;
        using (hidden)
        {
            if (folded2 is not null)
                output = folded2.Forward(hidden);
            else
                using (var convolved = conv2.forward(hidden))
                    output = bn2.forward(convolved);
        }
        if (shortcut is null)
            output = Accumulate(output, input, inPlace);
        else
            using (var projected = foldedShortcut is not null ? foldedShortcut.Forward(input) : shortcut.forward(input))
                output = Accumulate(output, projected, inPlace);
        return ReluMasked(output, outputMask, inPlace);
    }

    /// <summary>Inference only: runs folded copies of conv+BN pairs in <paramref name="dtype"/> from now on.</summary>
    internal void FoldBatchNorms(ScalarType dtype)
    {
        folded1 = FoldedConvolution.From(conv1, bn1, stride, 1, dtype);
        folded2 = FoldedConvolution.From(conv2, bn2, 1, 1, dtype);
        if (shortcut is not null)
            foldedShortcut = FoldedConvolution.From((Conv2d)shortcut[0], (BatchNorm2d)shortcut[1], stride, 0, dtype);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            folded1?.Dispose();
            folded2?.Dispose();
            foldedShortcut?.Dispose();
        }
        base.Dispose(disposing);
    }

    /// <summary>relu(x)·mask, consuming x.</summary>
    internal static Tensor ReluMasked(Tensor x, Tensor mask, bool inPlace)
    {
        if (inPlace)
            return x.relu_().mul_(mask);
        using (x)
        using (var activated = functional.relu(x))
            return activated.mul(mask);
    }

    private static Tensor Accumulate(Tensor x, Tensor other, bool inPlace)
    {
        using var one = 1.ToScalar(); // explicit alpha: add's implicit one can be finalized mid-call
        if (inPlace)
            return x.add_(other, one);
        using (x)
            return x.add(other, one);
    }
}
