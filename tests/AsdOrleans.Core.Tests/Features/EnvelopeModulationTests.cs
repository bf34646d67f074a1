using AsdOrleans.Audio.Features;
using AsdOrleans.Method.Enrollment;

namespace AsdOrleans.Core.Tests.Features;

public class EnvelopeModulationTests
{
    // A 1 kHz tone whose amplitude beats at `rate` Hz with `depth`, and a steady 3 kHz tone; float32 samples.
    private static float[] BeatingTone(double depth, double rate, int samples)
    {
        var x = new float[samples];
        for (int n = 0; n < samples; n++)
            x[n] = (float)(0.1 * (1 + depth * Math.Cos(2 * Math.PI * rate * n / 16_000)) * Math.Sin(2 * Math.PI * 1000 * n / 16_000)
                           + 0.02 * Math.Sin(2 * Math.PI * 3000 * n / 16_000));
        return x;
    }

    // scipy.signal.welch(E, fs=250, nperseg=min(256, frames)) on the same envelopes (numpy STFT, librosa-style Slaney
    // filterbank), ln(max over 2 ≤ f < 110 Hz + 1e-12): 3 s (18 segments), 0.5 s and 0.504 s (one segment, 122 and 123
    // frames: an even and an odd FFT length).
    public static TheoryData<double, double, int, double[]> ScipyReference => new()
    {
        { 0.3, 23, 48_000, [-1.10873, -1.13980, -1.22641, -2.33826, -2.55029, -2.54984, -2.50127, -1.22753, -1.13617, -1.14713, -27.63077, -27.63099, -4.58352, -7.46845, -10.37212, -12.84338] },
        { 0.3, 37, 48_000, [-1.17647, -1.25843, -1.47673, -4.13898, -2.47774, -2.47594, -4.37587, -1.47972, -1.24472, -1.21812, -27.63030, -27.63093, -4.48296, -7.34206, -10.23972, -12.70949] },
        { 0.3, 23, 8_000, [-2.12260, -2.15330, -2.23889, -3.34097, -3.09709, -3.09663, -3.50295, -2.24000, -2.14971, -2.16054, -27.63087, -27.63100, -5.57732, -8.45898, -11.36174, -13.83299] },
        { 0.3, 23, 8_064, [-2.02171, -2.05251, -2.13838, -3.24311, -3.14644, -3.14598, -3.40538, -2.13948, -2.04891, -2.05977, -27.63087, -27.63100, -5.48191, -8.36445, -11.26749, -13.73869] },
    };

    [Theory]
    [MemberData(nameof(ScipyReference))]
    public void PeaksMatchScipysWelchOnTheSameEnvelopes(double depth, double rate, int samples, double[] expected)
    {
        var peaks = new float[EnvelopeModulation.Bands];
        new EnvelopeModulation(16_000).Peaks(BeatingTone(depth, rate, samples), peaks);
        for (int m = 0; m < peaks.Length; m++)
            Assert.True(Math.Abs(expected[m] - peaks[m]) < 2e-3, $"band {m}: scipy {expected[m]}, ours {peaks[m]}");
    }

    [Fact]
    public void ABeatRaisesThePeakWhereverItsRateLiesAndASteadySoundHasNone()
    {
        var modulation = new EnvelopeModulation(16_000);
        float[] Peaks(double depth, double rate)
        {
            var p = new float[EnvelopeModulation.Bands];
            modulation.Peaks(BeatingTone(depth, rate, 48_000), p);
            return p;
        }
        int band = Enumerable.Range(0, EnvelopeModulation.Bands).First(m =>
            modulation.Filterbank.Edges[m] < 1000 && 1000 < modulation.Filterbank.Edges[m + 2]);
        var steady = Peaks(0, 23);
        var slow = Peaks(0.3, 23);
        var fast = Peaks(0.3, 37);
        var deep = Peaks(0.6, 23);
        Assert.True(slow[band] > steady[band] + 20); // ln-density: a steady tone's envelope is flat
        Assert.InRange(fast[band] - slow[band], -0.2, 0.2); // the rate moved, the height did not
        // The envelope is power, (1 + d cos)²: its line at the rate has amplitude 2d / (1 + d²/2) of its mean.
        static double Line(double d) => 2 * d / (1 + d * d / 2);
        double expected = 2 * Math.Log(Line(0.6) / Line(0.3));
        Assert.InRange(deep[band] - slow[band], expected - 0.02, expected + 0.02);
    }

    [Fact]
    public void TheSpectralEmbedderAppendsThePeaksToTheEarlierVersionsValuesAndExtendsItsId()
    {
        var earlier = new SpectralStatisticsEmbedder(SpectralStatisticsSettings.SpectralWithoutModulation);
        var spectral = new SpectralStatisticsEmbedder(SpectralStatisticsSettings.Spectral);
        var x = BeatingTone(0.3, 23, 32_000);
        var e = spectral.Embed(x);
        Assert.Equal(528, e.Length);
        Assert.Equal(512, earlier.Dimension);
        Assert.Equal(earlier.Embed(x), e[..512]);
        var peaks = new float[EnvelopeModulation.Bands];
        new EnvelopeModulation(16_000).Peaks(x, peaks);
        Assert.Equal(peaks, e[512..]);
        // What lets machines enrolled on the earlier values score the new clips by their prefix:
        Assert.True(AppendedFeatures.Extends(spectral.Id, earlier.Id));
        Assert.False(AppendedFeatures.Extends(earlier.Id, spectral.Id));
        Assert.False(AppendedFeatures.Extends(spectral.Id, spectral.Id));
        Assert.False(AppendedFeatures.Extends(spectral.Id, new SpectralStatisticsEmbedder().Id)); // the baseline is another embedder
        Assert.EndsWith("-max-smax5-envmod-n256-h64-b16-w256-f2to110", spectral.Id);
    }

    [Fact]
    public void ClipsShorterThanOneEnvelopeFrameGiveTheFloor()
    {
        var peaks = new float[EnvelopeModulation.Bands];
        new EnvelopeModulation(16_000).Peaks(BeatingTone(0.3, 23, 200), peaks);
        Assert.All(peaks, p => Assert.Equal(Math.Log(EnvelopeModulation.Floor), p, 3));
        Assert.Equal(1, EnvelopeModulation.FrameCount(200));
        Assert.Equal(1 + (48_000 - 256) / 64, EnvelopeModulation.FrameCount(48_000));
    }
}
