using System.Numerics;
using AsdOrleans.Audio.Features;

namespace AsdOrleans.Core.Tests.Features;

public class LogStftReferenceTests
{
    private static readonly LogStftSettings Tiny = new() { SampleRate = 16, WindowLength = 4, Hop = 2, FftSize = 8, LogEpsilon = 1e-6 };

    [Theory]
    [InlineData(64)]   // 1000 Hz
    [InlineData(100)]  // 1562.5 Hz
    [InlineData(257)]
    [InlineData(500)]  // 7812.5 Hz
    public void ASineOfBinFrequencyPeaksInThatBin(int k)
    {
        var settings = LogStftSettings.Paper;
        double frequency = k * 16_000.0 / 1024;
        var x = new float[16_000];
        for (int n = 0; n < x.Length; n++)
            x[n] = (float)(0.3 * Math.Sin(2 * Math.PI * frequency * n / 16_000 + 0.4));

        var s = LogStftReference.Compute(x, settings, out int frames);

        // Frames whose 512-sample window lies inside the signal (the edge frames see the reflection's phase jump).
        for (int t = 2; t <= (x.Length - 256) / settings.Hop; t++)
        {
            int peak = Enumerable.Range(0, settings.Bins).MaxBy(bin => s[bin * frames + t]);
            Assert.Equal(k, peak);
        }
        // Interior frame: |X_k| = amplitude · Σw / 2 = 0.3 · 256 / 2 for a periodic Hann of 512.
        Assert.Equal(Math.Log(0.3 * 256 / 2 + 1e-6), s[k * frames + frames / 2], 1e-4);
    }

    [Fact]
    public void OneFrameSatisfiesParseval()
    {
        var settings = LogStftSettings.Paper;
        var random = new Random(11);
        var x = new float[4000];
        for (int n = 0; n < x.Length; n++)
            x[n] = (float)(random.NextDouble() * 2 - 1);
        const int t = 10;

        var s = LogStftReference.Compute(x, settings, out int frames);

        // Frequency side: the onesided bins stand for the full spectrum (bins 1..N/2−1 twice).
        double spectral = 0;
        for (int k = 0; k < settings.Bins; k++)
        {
            double magnitude = Math.Exp(s[k * frames + t]) - settings.LogEpsilon;
            spectral += (k == 0 || k == settings.Bins - 1 ? 1 : 2) * magnitude * magnitude;
        }
        // Time side: N · Σ (w·x)² over the frame (frame 10 lies inside the signal: starts at 10·128 − 512 ≥ 0).
        var window = LogStftReference.PaddedWindow(settings);
        double temporal = 0;
        for (int j = 0; j < settings.FftSize; j++)
        {
            double v = window[j] * x[t * settings.Hop - settings.FftSize / 2 + j];
            temporal += v * v;
        }
        temporal *= settings.FftSize;
        Assert.Equal(1.0, spectral / temporal, 1e-5);
    }

    [Theory]
    [InlineData(513)]
    [InlineData(1000)]
    [InlineData(16_000)]
    [InlineData(160_000)]
    [InlineData(192_000)]
    public void FrameCountIsOnePlusSamplesOverHop(int n)
    {
        var s = LogStftReference.Compute(new float[n], LogStftSettings.Paper, out int frames);

        Assert.Equal(1 + n / 128, frames);
        Assert.Equal(LogStftSettings.Paper.FrameCount(n), frames);
        Assert.Equal(513 * frames, s.Length);
        Assert.All(s, v => Assert.Equal(Math.Log(1e-6), v, 1e-6)); // silence is log ε, finite
    }

    [Fact]
    public void TooFewSamplesAreRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => LogStftReference.Compute(new float[512], LogStftSettings.Paper, out _));
        Assert.Contains("at least 513 samples", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => LogStftReference.Compute(new float[4], Tiny, out _));
        LogStftReference.Compute(new float[5], Tiny, out int frames);
        Assert.Equal(3, frames);
    }

    [Fact]
    public void TheWindowIsAPeriodicHannCentredInTheFft()
    {
        double[] tiny = LogStftReference.PaddedWindow(Tiny);
        double[] expected = [0, 0, 0, 0.5, 1, 0.5, 0, 0];
        for (int i = 0; i < 8; i++)
            Assert.Equal(expected[i], tiny[i], 1e-15);

        var paper = LogStftReference.PaddedWindow(LogStftSettings.Paper);
        Assert.Equal(1024, paper.Length);
        Assert.All(paper[..256], w => Assert.Equal(0, w));
        Assert.All(paper[768..], w => Assert.Equal(0, w));
        Assert.Equal(1.0, paper[256 + 256], 1e-15);     // the peak of a periodic Hann of 512 is at n = 256
        Assert.Equal(256.0, paper.Sum(), 1e-9);          // Σ of a periodic Hann is L/2
    }

    [Fact]
    public void AConstantSignalGivesTheHandComputedWindowSpectrum()
    {
        // Window [0, 0, 0, .5, 1, .5, 0, 0]: X_k = Σ w_n e^(−2πikn/8) = e^(−iπk) (1 + cos(πk/4)).
        // |X_0| = 2, |X_1| = 1 + √2/2, |X_2| = 1, |X_3| = 1 − √2/2, |X_4| = 0.
        var s = LogStftReference.Compute(Enumerable.Repeat(1f, 9).ToArray(), Tiny, out int frames);

        Assert.Equal(5, frames);
        double[] magnitudes = [2, 1 + Math.Sqrt(0.5), 1, 1 - Math.Sqrt(0.5), 0];
        for (int k = 0; k < 5; k++)
            for (int t = 0; t < frames; t++)
                Assert.Equal(Math.Log(magnitudes[k] + 1e-6), s[k * frames + t], 1e-6);
    }

    [Fact]
    public void ATinyRampMatchesADirectDft()
    {
        float[] x = [0.0f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, -0.35f, 0.05f];

        var s = LogStftReference.Compute(x, Tiny, out int frames);

        var expected = DirectLogStft(x, fftSize: 8, windowLength: 4, hop: 2, epsilon: 1e-6);
        Assert.Equal(expected.GetLength(1), frames);
        for (int k = 0; k < 5; k++)
            for (int t = 0; t < frames; t++)
                Assert.Equal(expected[k, t], s[k * frames + t], 1e-5);
        // Spot values worked by hand: frame 0 covers padded[0..8) = x[4], x[3], x[2], x[1], x[0], x[1], x[2], x[3];
        // windowed: 0, 0, 0, .5·0.1, 1·0, .5·0.1, 0, 0 → X_0 = 0.1, X_4 = 0.05·(−1)³ + 0.05·(−1)⁵ = −0.1.
        Assert.Equal(Math.Log(0.1 + 1e-6), s[0 * frames + 0], 1e-6);
        Assert.Equal(Math.Log(0.1 + 1e-6), s[4 * frames + 0], 1e-6);
    }

    /// <summary>The definition written out: reflect padding, centred periodic Hann, O(N²) DFT, log(|X| + ε).</summary>
    private static double[,] DirectLogStft(float[] x, int fftSize, int windowLength, int hop, double epsilon)
    {
        int pad = fftSize / 2, n = x.Length;
        var padded = new List<double>();
        for (int i = pad; i >= 1; i--) padded.Add(x[i]);           // x[pad], …, x[1]
        padded.AddRange(x.Select(v => (double)v));
        for (int i = 1; i <= pad; i++) padded.Add(x[n - 1 - i]);   // x[n−2], …, x[n−1−pad]

        var window = new double[fftSize];
        int left = (fftSize - windowLength) / 2;
        for (int i = 0; i < windowLength; i++)
            window[left + i] = 0.5 * (1 - Math.Cos(2 * Math.PI * i / windowLength));

        int frames = 1 + (padded.Count - fftSize) / hop;
        var result = new double[fftSize / 2 + 1, frames];
        for (int t = 0; t < frames; t++)
        {
            for (int k = 0; k <= fftSize / 2; k++)
            {
                Complex sum = Complex.Zero;
                for (int j = 0; j < fftSize; j++)
                    sum += window[j] * padded[t * hop + j] * Complex.FromPolarCoordinates(1, -2 * Math.PI * k * j / fftSize);
                result[k, t] = Math.Log(sum.Magnitude + epsilon);
            }
        }
        return result;
    }
}
