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

    public BasicBlock(string name, int inChannels, int outChannels, int stride) : base(name)
    {
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
        // Out-of-place ops throughout: autograd needs ReLU's output intact. Intermediates are freed by the caller's dispose scope.
        var hidden = functional.relu(bn1.forward(conv1.forward(input))).mul(outputMask);
        var output = bn2.forward(conv2.forward(hidden)).add(shortcut is null ? input : shortcut.forward(input));
        return functional.relu(output).mul(outputMask);
    }
}
