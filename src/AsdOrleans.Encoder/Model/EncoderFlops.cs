namespace AsdOrleans.Encoder.Model;

/// <summary>
/// Forward-pass cost of the encoder, counted from its shapes: 2 FLOPs per multiply-add of every convolution
/// and of the final linear layer (batch norm, ReLU and pooling are a rounding error next to them).
/// For the paper's size and a 10 s clip (1,251 frames) this is about 175 GFLOP (docs/design.md §6).
/// </summary>
public static class EncoderFlops
{
    public static double Forward(EncoderArchitecture a, long frames)
    {
        double spectrum = a.HasSpectrumBranch ? SpectrumBranch.Flops(a.FrequencyBins, a.SpectrumDimension) : 0;
        return a.HasSpectrogramBranch ? spectrum + Spectrogram(a, frames) : spectrum;
    }

    private static double Spectrogram(EncoderArchitecture a, long frames)
    {
        double total = 0;
        long f = a.FrequencyBins, t = frames;
        total += Conv(1, a.Width, 9, f, t);
        int inChannels = a.Width;
        for (int stage = 0; stage < a.BlocksPerStage.Length; stage++)
        {
            int outChannels = a.StageChannels(stage);
            for (int b = 0; b < a.BlocksPerStage[stage]; b++)
            {
                int stride = b == 0 ? a.StageStrides[stage] : 1;
                long fo = (f + stride - 1) / stride, to = (t + stride - 1) / stride;
                total += Conv(inChannels, outChannels, 9, fo, to) + Conv(outChannels, outChannels, 9, fo, to);
                if (stride != 1 || inChannels != outChannels)
                    total += Conv(inChannels, outChannels, 1, fo, to);
                (f, t, inChannels) = (fo, to, outChannels);
            }
        }
        return total + 2.0 * a.PooledFeatures * a.SpectrogramDimension;
    }

    private static double Conv(int inChannels, int outChannels, int kernelArea, long f, long t)
        => 2.0 * inChannels * outChannels * kernelArea * f * t;
}
