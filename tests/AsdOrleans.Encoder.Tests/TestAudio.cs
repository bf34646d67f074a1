using AsdOrleans.Audio.Features;
using AsdOrleans.Method.Randomness;
using AsdOrleans.Encoder.Model;

namespace AsdOrleans.Encoder.Tests;

/// <summary>Tiny models and generated signals: the encoder tests must stay fast on 2 cores.</summary>
internal static class TestAudio
{
    public static readonly EncoderArchitecture Tiny = new() { Width = 4, EmbeddingDimension = 16 };

    /// <summary>A tone with harmonics plus noise: each class its own fundamental.</summary>
    public static float[] Tone(double frequency, double seconds, ulong seed, double noise = 0.05)
    {
        var random = RandomState.FromSeed(seed);
        int n = (int)(seconds * 16000);
        var samples = new float[n];
        double phase = random.NextDouble() * 2 * Math.PI;
        for (int i = 0; i < n; i++)
        {
            double t = i / 16000.0;
            double v = 0.4 * Math.Sin(2 * Math.PI * frequency * t + phase) + 0.2 * Math.Sin(4 * Math.PI * frequency * t + phase);
            samples[i] = (float)(v + noise * random.NextGaussian());
        }
        return samples;
    }

    public static float[] Noise(int samples, ulong seed)
    {
        var random = RandomState.FromSeed(seed);
        return Enumerable.Range(0, samples).Select(_ => (float)(0.1 * random.NextGaussian())).ToArray();
    }

    public static EncoderModel UntrainedModel(EncoderArchitecture? architecture = null, long seed = 1)
    {
        return EncoderModel.Untrained(architecture ?? Tiny, (ulong)seed, TorchSharp.torch.CPU);
    }

    public static double MaxAbsDifference(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();
}
