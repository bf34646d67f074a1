using AsdOrleans.Encoder.Frontend;
using static TorchSharp.torch;

namespace AsdOrleans.Encoder.Training;

/// <summary>
/// Per clip, the sums of each log-STFT bin and of its square over consecutive blocks of frames, computed once
/// before training. A random crop of whole blocks then has exactly the mean and std over its frames that the
/// spectrum branch computes from the crop's frames (up to the few frames at a crop's edges that the STFT's reflect
/// padding changes), so a spectrum-only encoder trains without an STFT per step.
/// </summary>
internal sealed class BlockStatistics
{
    public const int BlockFrames = 64; // 0.512 s at hop 128

    private readonly double[][] sums;    // per clip: blocks × bins
    private readonly double[][] squares; // per clip: blocks × bins
    private readonly int[][] frames;     // per clip: frames per block

    public int Bins { get; }

    private BlockStatistics(double[][] sums, double[][] squares, int[][] frames, int bins) =>
        (this.sums, this.squares, this.frames, Bins) = (sums, squares, frames, bins);

    public int Blocks(int clip) => frames[clip].Length;

    public static BlockStatistics Compute(IReadOnlyList<TrainingClip> clips, TorchLogStft frontend, Device device)
    {
        var sums = new double[clips.Count][];
        var squares = new double[clips.Count][];
        var frames = new int[clips.Count][];
        int bins = frontend.Settings.Bins;
        for (int c = 0; c < clips.Count; c++)
        {
            using var scope = NewDisposeScope();
            var waveform = tensor(clips[c].Samples, [1, clips[c].Samples.Length]).to(device);
            var x = frontend.Compute(waveform)[0].to_type(float64).to(CPU); // (bins, T)
            long t = x.shape[1];
            int blocks = (int)((t + BlockFrames - 1) / BlockFrames);
            var s = new double[blocks * bins];
            var q = new double[blocks * bins];
            var n = new int[blocks];
            for (int b = 0; b < blocks; b++)
            {
                long start = b * BlockFrames, count = Math.Min(BlockFrames, t - start);
                var block = x.narrow(1, start, count);
                block.sum(1).data<double>().CopyTo(s.AsSpan(b * bins, bins));
                block.square().sum(1).data<double>().CopyTo(q.AsSpan(b * bins, bins));
                n[b] = (int)count;
            }
            (sums[c], squares[c], frames[c]) = (s, q, n);
        }
        return new BlockStatistics(sums, squares, frames, bins);
    }

    /// <summary>Mean and unbiased std (with ε under the root, as the branch) of blocks [start, start + count) of a clip.</summary>
    public void Crop(int clip, int start, int count, double varianceEpsilon, Span<float> mean, Span<float> std)
    {
        long n = 0;
        for (int b = start; b < start + count; b++) n += frames[clip][b];
        for (int f = 0; f < Bins; f++)
        {
            double sum = 0, square = 0;
            for (int b = start; b < start + count; b++)
            {
                sum += sums[clip][b * Bins + f];
                square += squares[clip][b * Bins + f];
            }
            double m = sum / n;
            double variance = Math.Max(0, (square - n * m * m) / Math.Max(1, n - 1));
            mean[f] = (float)m;
            std[f] = (float)Math.Sqrt(variance + varianceEpsilon);
        }
    }
}
