using AsdOrleans.Audio;
using AsdOrleans.Audio.Features;

namespace AsdOrleans.Core.Tests.Audio;

/// <summary>Files at other rates come out at 16 kHz with their content in place.</summary>
public sealed class ResamplingTests : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private AudioClip DecodeSine(double frequency, int rate, double seconds, int channels = 1)
    {
        var tone = WavBytes.Sine(frequency, rate, seconds);
        var interleaved = tone.SelectMany(s => Enumerable.Repeat(s, channels)).ToArray();
        return WavDecoder.Read(dir.Write($"sine-{frequency}-{rate}-{channels}.wav", WavBytes.Float32(interleaved, channels, rate)));
    }

    [Theory]
    [InlineData(44_100, 1.0)]
    [InlineData(8_000, 1.0)]
    [InlineData(48_000, 0.7)]
    [InlineData(22_050, 1.2345)]
    [InlineData(11_025, 0.5)]
    public void A1kHzToneStaysAt1kHzAndTheDurationIsKept(int rate, double seconds)
    {
        var clip = DecodeSine(1000, rate, seconds);

        int inputSamples = (int)Math.Round(seconds * rate);
        double expected = inputSamples * 16_000.0 / rate;
        Assert.Equal(16_000, clip.SampleRate);
        Assert.Equal(rate, clip.OriginalSampleRate);
        Assert.InRange(clip.Samples.Length, expected * 0.99, expected * 1.01);
        Assert.InRange(clip.Samples.Length, expected - 1, expected + 1); // in fact within one sample

        // 1000 Hz = bin 64 of a 1024-point FFT at 16 kHz.
        var spectrogram = LogStftReference.Compute(clip.Samples, LogStftSettings.Paper, out int frames);
        for (int t = 4; t < frames - 4; t++)
            Assert.Equal(64, PeakBin(spectrogram, frames, t));
    }

    [Theory]
    [InlineData(44_100)]
    [InlineData(8_000)]
    public void TheToneKeepsItsAmplitudeAndPhase(int rate)
    {
        var clip = DecodeSine(1000, rate, 1.0);

        // The resampler is delay-compensated: sample n is the tone at time n / 16000 (away from the edges).
        for (int n = 400; n < clip.Samples.Length - 400; n++)
            Assert.Equal(0.5 * Math.Sin(2 * Math.PI * 1000 * n / 16_000), clip.Samples[n], 2e-3);
    }

    [Fact]
    public void TheUpperBandIsKeptAndAliasesAreSuppressed()
    {
        // Flat up to 7 kHz (NAudio's default WdlResamplingSampleProvider loses 8 dB at 6 kHz).
        foreach (double f in new[] { 3000.0, 6000, 7000 })
            Assert.InRange(AmplitudeDb(DecodeSine(f, 44_100, 1.0).Samples, f), -0.2, 0.2);

        // 10 kHz is above the new Nyquist frequency; its alias would land at 6 kHz.
        var aliased = DecodeSine(10_000, 44_100, 1.0).Samples;
        Assert.True(AmplitudeDb(aliased, 6000) < -60, $"alias at {AmplitudeDb(aliased, 6000):F1} dB");

        // Upsampling 8 kHz: a 3 kHz tone must not leave an image at 5 kHz.
        var upsampled = DecodeSine(3000, 8_000, 1.0).Samples;
        Assert.True(AmplitudeDb(upsampled, 5000) < -60, $"image at {AmplitudeDb(upsampled, 5000):F1} dB");
    }

    [Fact]
    public void StereoAt44kIsDownmixedThenResampled()
    {
        var clip = DecodeSine(1000, 44_100, 0.5, channels: 2);

        Assert.Equal(2, clip.OriginalChannels);
        Assert.InRange(clip.Samples.Length, 7999, 8001);
        Assert.InRange(AmplitudeDb(clip.Samples, 1000), -0.1, 0.1);
    }

    [Fact]
    public void Pcm16At44kIsResampledToo()
    {
        var pcm = WavBytes.ToPcm16(WavBytes.Sine(1000, 44_100, 0.5));
        var clip = WavDecoder.Read(dir.Write("pcm16-44k.wav", WavBytes.Pcm16(pcm, rate: 44_100)));

        Assert.InRange(clip.Samples.Length, 7999, 8001);
        Assert.InRange(AmplitudeDb(clip.Samples, 1000), -0.1, 0.1);
    }

    [Fact]
    public void AnotherTargetRateCanBeAsked()
    {
        var tone = WavBytes.Sine(1000, 16_000, 0.5);
        var clip = WavDecoder.Read(dir.Write("to32k.wav", WavBytes.Float32(tone)), new AudioLoadOptions { TargetSampleRate = 32_000 });

        Assert.Equal(32_000, clip.SampleRate);
        Assert.InRange(clip.Samples.Length, 15_999, 16_001);
    }

    private static int PeakBin(float[] spectrogram, int frames, int t)
    {
        int best = 0;
        for (int k = 1; k < spectrogram.Length / frames; k++)
            if (spectrogram[k * frames + t] > spectrogram[best * frames + t])
                best = k;
        return best;
    }

    /// <summary>Amplitude of the tone at <paramref name="frequency"/> over the middle half, in dB relative to 0.5.</summary>
    private static double AmplitudeDb(float[] y, double frequency)
    {
        int a = y.Length / 4, b = 3 * y.Length / 4;
        double re = 0, im = 0, windowSum = 0;
        for (int i = a; i < b; i++)
        {
            double w = 0.5 - 0.5 * Math.Cos(2 * Math.PI * (i - a) / (b - a));
            re += w * y[i] * Math.Cos(2 * Math.PI * frequency * i / 16_000);
            im += w * y[i] * Math.Sin(2 * Math.PI * frequency * i / 16_000);
            windowSum += w;
        }
        double amplitude = 2 * Math.Sqrt(re * re + im * im) / windowSum;
        return 20 * Math.Log10(Math.Max(amplitude, 1e-12) / 0.5);
    }
}
