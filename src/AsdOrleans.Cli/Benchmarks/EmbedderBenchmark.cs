using System.Diagnostics;
using AsdOrleans.Audio.Features;
using MathNet.Numerics.IntegralTransforms;
using MathNet.Numerics.Statistics;

namespace AsdOrleans.Cli.Benchmarks;

/// <summary>
/// The training-free embedders' cost per clip on one thread: the baseline, the spectral embedder without and with the
/// envelope-modulation peaks. Measured in alternating rounds on the same noise clip, so drift hits all three alike. Then
/// the power spectra inside them, two frames per complex FFT (<see cref="PairedPowerSpectra"/>) against one real FFT per
/// frame, for the log-mel's and the envelopes' STFTs.
/// </summary>
public static class EmbedderBenchmark
{
    public static void Run(TextWriter output, double clipSeconds, int rounds)
    {
        var random = new Random(11);
        var clip = new float[(int)(clipSeconds * 16_000)];
        for (int n = 0; n < clip.Length; n++) clip[n] = (float)(0.1 * (random.NextDouble() - 0.5));
        var cases = new (string Name, SpectralStatisticsEmbedder Embedder)[]
        {
            ("baseline (mean, std)", new SpectralStatisticsEmbedder(SpectralStatisticsSettings.Default)),
            ("spectral without modulation (512)", new SpectralStatisticsEmbedder(SpectralStatisticsSettings.SpectralWithoutModulation)),
            ("spectral (528)", new SpectralStatisticsEmbedder(SpectralStatisticsSettings.Spectral)),
        };
        foreach (var c in cases) c.Embedder.Embed(clip); // warm up
        var times = cases.Select(_ => new List<double>()).ToArray();
        for (int r = 0; r < rounds; r++)
            for (int i = 0; i < cases.Length; i++)
            {
                var watch = Stopwatch.StartNew();
                cases[i].Embedder.Embed(clip);
                times[i].Add(watch.Elapsed.TotalMilliseconds);
            }
        output.WriteLine($"training-free embedders: one {clipSeconds:0.##} s clip at 16 kHz, one thread, {rounds} alternating rounds, median ms per clip");
        double reference = times[1].Median();
        output.WriteLine($"{"embedder",-36} {"ms/clip",9} {"clips/s",9} {"× spectral without modulation",30}");
        for (int i = 0; i < cases.Length; i++)
        {
            double ms = times[i].Median();
            output.WriteLine($"{cases[i].Name,-36} {ms,9:0.00} {1000 / ms,9:0.0} {ms / reference,30:0.00}");
        }
        output.WriteLine();
        output.WriteLine($"their power spectra: {rounds} alternating rounds, median ms per clip");
        output.WriteLine($"{"STFT",-36} {"frames",7} {"one real FFT per frame",23} {"two frames per FFT",19} {"× one real FFT",15}");
        var settings = SpectralStatisticsSettings.Spectral;
        foreach (var (name, size, hop, frames) in new[]
        {
            ($"log-mel ({settings.FftSize} points, hop {settings.Hop})", settings.FftSize, settings.Hop, settings.FrameCount(clip.Length)),
            ($"envelopes ({EnvelopeModulation.FftSize} points, hop {EnvelopeModulation.Hop})", EnvelopeModulation.FftSize, EnvelopeModulation.Hop, EnvelopeModulation.FrameCount(clip.Length)),
        })
        {
            var one = new List<double>();
            var paired = new List<double>();
            for (int r = 0; r <= rounds; r++) // round 0 warms up
            {
                var watch = Stopwatch.StartNew();
                double oneTotal = OneRealFftPerFrame(clip, size, hop, frames);
                if (r > 0) one.Add(watch.Elapsed.TotalMilliseconds);
                watch.Restart();
                double pairedTotal = TwoFramesPerFft(clip, size, hop, frames);
                if (r > 0) paired.Add(watch.Elapsed.TotalMilliseconds);
                if (Math.Abs(pairedTotal - oneTotal) > 1e-9 * Math.Abs(oneTotal))
                    throw new InvalidOperationException($"{name}: the two transforms disagree ({pairedTotal} against {oneTotal})");
            }
            double oneMs = one.Median(), pairedMs = paired.Median();
            output.WriteLine($"{name,-36} {frames,7} {oneMs,23:0.00} {pairedMs,19:0.00} {pairedMs / oneMs,15:0.00}");
        }
    }

    /// <summary>The spectra as the embedders took them before the paired transform: MathNet's real FFT, frame by frame
    /// (Hann-windowed frames at the STFT's hop, zero past the clip's end, as the paired run below).</summary>
    private static double OneRealFftPerFrame(float[] clip, int size, int hop, int frames)
    {
        var window = AsdOrleans.Audio.Features.Windows.PeriodicHann(size);
        var buffer = new double[size + 2];
        double total = 0;
        for (int t = 0; t < frames; t++)
        {
            int start = t * hop;
            for (int j = 0; j < size; j++) buffer[j] = start + j < clip.Length ? window[j] * clip[start + j] : 0;
            buffer[size] = buffer[size + 1] = 0;
            Fourier.ForwardReal(buffer, size, FourierOptions.NoScaling);
            for (int k = 0; k <= size / 2; k++) total += buffer[2 * k] * buffer[2 * k] + buffer[2 * k + 1] * buffer[2 * k + 1];
        }
        return total;
    }

    private static double TwoFramesPerFft(float[] clip, int size, int hop, int frames)
    {
        double total = 0;
        new PairedPowerSpectra(size).ForEachFrame(clip, AsdOrleans.Audio.Features.Windows.PeriodicHann(size), hop, firstSample: 0, frames, (_, power) =>
        {
            foreach (double p in power) total += p;
        });
        return total;
    }
}
