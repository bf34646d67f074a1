using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AsdOrleans.Encoder.Model;

/// <summary>wespeaker-style ResNet trunk: 3×3 stem (no max-pool), then the stages of BasicBlocks.</summary>
internal sealed class ResNetBackbone : Module<Tensor, Tensor, (Tensor Features, Tensor Lengths)>
{
    private readonly Conv2d stem;
    private readonly BatchNorm2d stemNorm;
    private readonly ModuleList<BasicBlock> blocks;
    private readonly int[] blockStrides;
    private FoldedConvolution? foldedStem;

    public ResNetBackbone(EncoderArchitecture architecture) : base("backbone")
    {
        stem = Conv2d(1, architecture.Width, 3, stride: 1, padding: 1, bias: false);
        stemNorm = BatchNorm2d(architecture.Width);
        blocks = new ModuleList<BasicBlock>();
        var strides = new List<int>();
        int inChannels = architecture.Width;
        for (int stage = 0; stage < architecture.BlocksPerStage.Length; stage++)
        {
            int outChannels = architecture.StageChannels(stage);
            for (int b = 0; b < architecture.BlocksPerStage[stage]; b++)
            {
                int stride = b == 0 ? architecture.StageStrides[stage] : 1;
                blocks.Add(new BasicBlock($"stage{stage + 1}_block{b + 1}", inChannels, outChannels, stride));
                strides.Add(stride);
                inChannels = outChannels;
            }
        }
        blockStrides = strides.ToArray();
        RegisterComponents();
    }

    /// <param name="spectrogram">(B, F, T) log-magnitude frames, zero beyond each clip's length.</param>
    /// <param name="lengths">(B) int64 valid frames per clip.</param>
    public override (Tensor Features, Tensor Lengths) forward(Tensor spectrogram, Tensor lengths)
    {
        bool inPlace = !is_grad_enabled();
        Tensor x;
        var mask = LengthMasks.TimeMask(lengths, spectrogram.shape[2], spectrogram.dtype);
        using (var input = spectrogram.unsqueeze(1).mul(mask))
        if (foldedStem is not null)
            x = BasicBlock.ReluMasked(foldedStem.Forward(input), mask, inPlace);
        else
            using (var convolved = stem.forward(input))
                x = BasicBlock.ReluMasked(stemNorm.forward(convolved), mask, inPlace);
        for (int i = 0; i < blocks.Count; i++)
        {
            lengths = LengthMasks.AfterStride(lengths, blockStrides[i]);
            long frames = blockStrides[i] == 1 ? x.shape[3] : (x.shape[3] + blockStrides[i] - 1) / blockStrides[i];
            mask = LengthMasks.TimeMask(lengths, frames, x.dtype);
            using var previous = x; // freed once the block has consumed it
            x = blocks[i].forward(previous, mask);
        }
        return (x, lengths);
    }

    /// <summary>Inference only: every conv+BN pair runs folded, in <paramref name="dtype"/>.</summary>
    internal void FoldBatchNorms(ScalarType dtype)
    {
        foldedStem = FoldedConvolution.From(stem, stemNorm, 1, 1, dtype);
        foreach (var block in blocks)
            block.FoldBatchNorms(dtype);
        TrunkType = dtype;
    }

    /// <summary>The dtype the trunk computes in: float32 unless folded into another.</summary>
    internal ScalarType TrunkType { get; private set; } = ScalarType.Float32;

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            foldedStem?.Dispose();
        base.Dispose(disposing);
    }
}
