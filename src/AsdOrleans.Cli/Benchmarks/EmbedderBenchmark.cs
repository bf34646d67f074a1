using System.Diagnostics;
using AsdOrleans.Audio.Features;

namespace AsdOrleans.Cli.Benchmarks;

/// <summary>
/// The training-free embedders' cost per clip on one thread: the baseline, the spectral embedder without and with the
/// envelope-modulation peaks. Measured in alternating rounds on the same noise clip, so drift hits all three alike.
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
        double reference = Median(times[1]);
        output.WriteLine($"{"embedder",-36} {"ms/clip",9} {"clips/s",9} {"× spectral without modulation",30}");
        for (int i = 0; i < cases.Length; i++)
        {
            double ms = Median(times[i]);
            output.WriteLine($"{cases[i].Name,-36} {ms,9:0.00} {1000 / ms,9:0.0} {ms / reference,30:0.00}");
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : 0.5 * (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]);
    }
}
