using AsdOrleans.Audio.Features;
using MathNet.Numerics.IntegralTransforms;

namespace AsdOrleans.Core.Tests.Features;

public class PairedPowerSpectraTests
{
    /// <summary>|X_k|² of one real frame by MathNet's real FFT, the transform the paired one replaced.</summary>
    private static double[] RealPower(double[] frame)
    {
        int n = frame.Length;
        var buffer = new double[n + 2];
        frame.CopyTo(buffer, 0);
        Fourier.ForwardReal(buffer, n, FourierOptions.NoScaling);
        return Enumerable.Range(0, n / 2 + 1).Select(k => buffer[2 * k] * buffer[2 * k] + buffer[2 * k + 1] * buffer[2 * k + 1]).ToArray();
    }

    [Theory]
    [InlineData(256, 2)]
    [InlineData(256, 1)]
    [InlineData(1024, 2)]
    [InlineData(6, 2)]
    public void EachFramesSpectrumIsItsOwnRealFftsWhetherPairedOrAlone(int size, int frames)
    {
        var random = new Random(size + frames);
        var inputs = Enumerable.Range(0, frames).Select(_ => Enumerable.Range(0, size).Select(_ => random.NextDouble() * 2 - 1).ToArray()).ToArray();
        var spectra = new PairedPowerSpectra(size);
        for (int f = 0; f < frames; f++) inputs[f].CopyTo(spectra.Frame(f));
        if (frames == 1) spectra.Frame(1).Fill(123); // left over from an earlier pair: must not leak into frame 0
        spectra.Transform(frames);
        for (int f = 0; f < frames; f++)
        {
            var expected = RealPower(inputs[f]);
            var actual = spectra.Power(f).ToArray();
            Assert.Equal(expected.Length, actual.Length);
            for (int k = 0; k < expected.Length; k++)
                Assert.True(Math.Abs(actual[k] - expected[k]) <= 1e-9 * (1 + expected[k]), $"frame {f}, bin {k}: {actual[k]} vs {expected[k]}");
        }
    }

    [Fact]
    public void ASineFallsInItsOwnBinInEitherSlot()
    {
        const int n = 64;
        var spectra = new PairedPowerSpectra(n);
        for (int j = 0; j < n; j++)
        {
            spectra.Frame(0)[j] = Math.Cos(2 * Math.PI * 5 * j / n);
            spectra.Frame(1)[j] = Math.Sin(2 * Math.PI * 9 * j / n);
        }
        spectra.Transform(2);
        // A unit cosine or sine of k cycles has |X_k| = n/2 and nothing elsewhere.
        for (int k = 0; k <= n / 2; k++)
        {
            Assert.Equal(k == 5 ? n * n / 4.0 : 0, spectra.Power(0)[k], 6);
            Assert.Equal(k == 9 ? n * n / 4.0 : 0, spectra.Power(1)[k], 6);
        }
    }

    [Theory]
    [InlineData(-32, 7)] // centred frames, an odd count: the last one alone
    [InlineData(0, 6)]
    public void ForEachFrameHandsOnEachWindowedFramesSpectrumInOrder(int firstSample, int frames)
    {
        const int n = 64, hop = 16;
        var random = new Random(frames);
        var samples = Enumerable.Range(0, 120).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var window = Windows.PeriodicHann(n);
        var seen = new List<int>();
        new PairedPowerSpectra(n).ForEachFrame(samples, window, hop, firstSample, frames, (t, power) =>
        {
            seen.Add(t);
            var frame = new double[n];
            for (int j = 0; j < n; j++)
            {
                int i = firstSample + t * hop + j;
                frame[j] = i >= 0 && i < samples.Length ? window[j] * samples[i] : 0; // zero outside the clip
            }
            var expected = RealPower(frame);
            for (int k = 0; k < expected.Length; k++)
                Assert.True(Math.Abs(power[k] - expected[k]) <= 1e-9 * (1 + expected[k]), $"frame {t}, bin {k}");
        });
        Assert.Equal(Enumerable.Range(0, frames), seen);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void RejectsASizeThatCannotBeSplitIntoHalves(int size)
        => Assert.Throws<ArgumentException>(() => new PairedPowerSpectra(size));
}
