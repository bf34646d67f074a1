using AsdOrleans.Method.Randomness;

namespace AsdOrleans.Datasets.Synthesis;

/// <summary>
/// Noise sources. White noise is uniform with unit variance (cheap; after any filtering it is close to
/// Gaussian). "Pink-ish" noise sums one-pole low-passes of one white stream with corners a factor 3
/// apart (10 Hz … 7.3 kHz) and weights ∝ 1/√corner, which approximates a 1/f power spectrum within a
/// few dB over the audio band.
/// </summary>
internal static class Noise
{
    private static readonly double Sqrt3 = Math.Sqrt(3);
    private static readonly double[] PinkCornersHz = [10, 30, 90, 270, 810, 2430, 7290];

    public static void White(ref RandomState random, Span<double> output)
    {
        for (int i = 0; i < output.Length; i++)
            output[i] = (2 * random.NextDouble() - 1) * Sqrt3;
    }

    /// <summary>Pink-ish noise scaled to unit RMS.</summary>
    public static void Pink(ref RandomState random, Span<double> output, int sampleRate)
    {
        int stages = PinkCornersHz.Length;
        Span<double> coefficient = stackalloc double[stages];
        Span<double> weight = stackalloc double[stages];
        Span<double> state = stackalloc double[stages];
        for (int s = 0; s < stages; s++)
        {
            coefficient[s] = 1 - Math.Exp(-2 * Math.PI * PinkCornersHz[s] / sampleRate);
            weight[s] = 1 / Math.Sqrt(PinkCornersHz[s]);
            state[s] = 0;
        }
        for (int i = 0; i < output.Length; i++)
        {
            double white = (2 * random.NextDouble() - 1) * Sqrt3;
            double sum = 0;
            for (int s = 0; s < stages; s++)
            {
                state[s] += coefficient[s] * (white - state[s]);
                sum += weight[s] * state[s];
            }
            output[i] = sum;
        }
        Signal.NormaliseRms(output);
    }
}
