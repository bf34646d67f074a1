using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Audio.Features;
using AsdOrleans.Method.Enrollment;

namespace AsdOrleans.Core.Tests.Features;

public class SpectralStatisticsEmbedderTests
{
    [Fact]
    public void Each_training_free_settings_id_names_its_embedder_for_the_enrollment_check()
    {
        // A machine refuses raw features enrolled without their transform by this prefix (EmbedderNames.TrainingFreeOf).
        Assert.Equal(AsdOrleans.Method.Machines.EmbedderKind.Spectral, AsdOrleans.Method.Machines.EmbedderNames.TrainingFreeOf(SpectralStatisticsSettings.Spectral.Id));
        Assert.Equal(AsdOrleans.Method.Machines.EmbedderKind.Spectral, AsdOrleans.Method.Machines.EmbedderNames.TrainingFreeOf(SpectralStatisticsSettings.SpectralWithoutModulation.Id));
        Assert.Equal(AsdOrleans.Method.Machines.EmbedderKind.Baseline, AsdOrleans.Method.Machines.EmbedderNames.TrainingFreeOf(SpectralStatisticsSettings.Default.Id));
        Assert.Null(AsdOrleans.Method.Machines.EmbedderNames.TrainingFreeOf("3f9a0c1e"));
    }

    [Fact]
    public void SlaneyMelScaleIsLinearBelow1kHzAndLogarithmicAbove()
    {
        // librosa.hz_to_mel(htk=False): 500 Hz → 7.5, 1000 Hz → 15, 6400 Hz → 15 + 27 = 42.
        Assert.Equal(7.5, SlaneyMelScale.HzToMel(500), 12);
        Assert.Equal(15, SlaneyMelScale.HzToMel(1000), 12);
        Assert.Equal(42, SlaneyMelScale.HzToMel(6400), 12);
        foreach (double hz in new[] { 0.0, 123.4, 999.9, 1000, 4321, 8000 })
            Assert.Equal(hz, SlaneyMelScale.MelToHz(SlaneyMelScale.HzToMel(hz)), 9);
    }

    [Fact]
    public void FilterbankHasLibrosasShapeAndSlaneyNormalisation()
    {
        var bank = new MelFilterbank(16_000, 1024, 128);
        Assert.Equal(513, bank.Bins);
        Assert.Equal(130, bank.Edges.Count);
        Assert.Equal(0, bank.Edges[0], 12);
        Assert.Equal(8000, bank.Edges[^1], 9);
        for (int m = 0; m < bank.Bands; m++)
        {
            // Every band has weight on some bin, and no weight outside its edges.
            Assert.Contains(Enumerable.Range(0, bank.Bins), k => bank.Weight(m, k) > 0);
            double peak = 2.0 / (bank.Edges[m + 2] - bank.Edges[m]);
            for (int k = 0; k < bank.Bins; k++)
            {
                double f = k * 16_000.0 / 1024;
                if (f <= bank.Edges[m] || f >= bank.Edges[m + 2]) Assert.Equal(0, bank.Weight(m, k));
                Assert.InRange(bank.Weight(m, k), 0, peak * (1 + 1e-12));
            }
        }
        // A bin on a band's centre frequency would get the full peak; check the triangle at one bin by hand.
        int band = 100, bin = 300; // 4687.5 Hz
        double lower = bank.Edges[band], centre = bank.Edges[band + 1], upper = bank.Edges[band + 2], hz = bin * 16_000.0 / 1024;
        double expected = Math.Max(0, Math.Min((hz - lower) / (centre - lower), (upper - hz) / (upper - centre))) * 2 / (upper - lower);
        Assert.Equal(expected, bank.Weight(band, bin), 15);
    }

    [Theory]
    [InlineData(300.0)]
    [InlineData(1000.0)]
    [InlineData(2500.0)]
    [InlineData(6000.0)]
    public void APureToneLandsInTheBandAroundItsFrequency(double hz)
    {
        var embedder = new SpectralStatisticsEmbedder();
        var x = Tone(hz, 0.5, 16_000);
        var logMel = embedder.LogMel(x, out int frames);
        Assert.Equal(1 + 16_000 / 512, frames);
        int t = frames / 2;
        int loudest = Enumerable.Range(0, 128).MaxBy(m => logMel[m * frames + t]);
        var edges = embedder.Filterbank.Edges;
        // The loudest band's triangle covers the tone, and the tone is nearer its centre than its neighbours' centres.
        Assert.InRange(hz, edges[loudest], edges[loudest + 2]);
        Assert.InRange(Math.Abs(edges[loudest + 1] - hz), 0, Math.Max(Math.Abs(edges[loudest] - hz), Math.Abs(edges[loudest + 2] - hz)));
    }

    [Fact]
    public void EmbeddingIsTheMeanAndPopulationStdOverTimeOfEachBand()
    {
        var embedder = new SpectralStatisticsEmbedder();
        var random = new Random(3);
        var x = new float[40_000];
        for (int n = 0; n < x.Length; n++)
            x[n] = (float)(0.1 * (random.NextDouble() - 0.5) * (n < 20_000 ? 1 : 4)); // louder second half: std > 0
        var e = embedder.Embed(x);
        Assert.Equal(256, e.Length);
        var logMel = embedder.LogMel(x, out int frames);
        foreach (int m in new[] { 0, 17, 64, 127 })
        {
            var row = Enumerable.Range(0, frames).Select(t => logMel[m * frames + t]).ToArray();
            double mean = row.Average();
            double std = Math.Sqrt(row.Sum(v => (v - mean) * (v - mean)) / frames);
            Assert.Equal(mean, e[m], 4);
            Assert.Equal(std, e[128 + m], 4);
            Assert.True(e[128 + m] > 0.1);
        }
    }

    [Fact]
    public void TheSpectralEmbedderAddsEachBandsMaximumAndSmoothedMaximumAfterTheBaselinesValues()
    {
        var baseline = new SpectralStatisticsEmbedder();
        var spectral = new SpectralStatisticsEmbedder(SpectralStatisticsSettings.SpectralWithoutModulation);
        var random = new Random(5);
        var x = new float[40_000];
        for (int n = 0; n < x.Length; n++)
            x[n] = (float)(0.05 * (random.NextDouble() - 0.5) + (n is > 30_000 and < 30_040 ? 0.8 : 0)); // one click
        var b = baseline.Embed(x);
        var e = spectral.Embed(x);
        Assert.Equal(512, e.Length);
        Assert.Equal(b, e[..256]);
        var logMel = spectral.LogMel(x, out int frames);
        for (int m = 0; m < 128; m++)
        {
            double max = Enumerable.Range(0, frames).Max(t => logMel[m * frames + t]);
            double smoothed = Enumerable.Range(0, frames - 4).Max(t => Enumerable.Range(t, 5).Average(u => logMel[m * frames + u]));
            Assert.Equal(max, e[256 + m], 4);
            Assert.Equal(smoothed, e[384 + m], 4);
            Assert.True(e[256 + m] >= e[384 + m] && e[384 + m] >= e[m]);
        }
        // The click lasts two frames of five: it raises the plain maximum above the smoothed one.
        Assert.Contains(Enumerable.Range(0, 128), m => e[256 + m] - e[384 + m] > 0.25);
        Assert.EndsWith("-max-smax5", SpectralStatisticsSettings.SpectralWithoutModulation.Id);
    }

    [Fact]
    public void AStationaryToneHasSmallStdAndGainShiftsOnlyTheMeans()
    {
        var embedder = new SpectralStatisticsEmbedder();
        var quiet = embedder.Embed(Tone(1000, 0.1, 32_000));
        var loud = embedder.Embed(Tone(1000, 0.4, 32_000));
        int band = Enumerable.Range(0, 128).MaxBy(m => quiet[m]);
        // ×4 amplitude = ×16 power: every band's log-mel rises by ln 16 in the frames away from the zero-padded edges;
        // the loudest band's mean moves by about that, its std barely.
        Assert.Equal(Math.Log(16), loud[band] - quiet[band], 1);
        Assert.InRange(quiet[128 + band], 0, 1.5); // only the two edge frames (half zeros) differ
    }

    [Fact]
    public void SettingsIdNamesTheComputation()
    {
        Assert.Equal("baseline-logmel-stats-v1-sr16000-n1024-h512-m128-slaney-floor1E-10", SpectralStatisticsSettings.Default.Id);
        Assert.NotEqual(SpectralStatisticsSettings.Default.Id, (SpectralStatisticsSettings.Default with { MelBands = 64 }).Id);
    }

    [Fact]
    public void StandardizerFitsPopulationMeanAndStdAndCentresConstantDimensions()
    {
        var rows = new List<float[]> { new[] { 1f, 5f, 2f }, new[] { 3f, 5f, 4f }, new[] { 5f, 5f, 9f } };
        var s = FeatureStandardizer.Fit(rows);
        Assert.Equal(new[] { 3.0, 5.0, 5.0 }, s.Mean);
        Assert.Equal(Math.Sqrt(8.0 / 3), s.Scale[0], 12);
        Assert.Equal(1.0, s.Scale[1]); // no spread: centred only
        Assert.Equal(Math.Sqrt(26.0 / 3), s.Scale[2], 12);
        var z = rows.Select(r => s.Transform(r)).ToList();
        for (int j = 0; j < 3; j++)
        {
            Assert.Equal(0, z.Average(r => r[j]), 5);
            Assert.Equal(j == 1 ? 0 : 1, Math.Sqrt(z.Average(r => r[j] * r[j])), 5);
        }
        Assert.Throws<ArgumentException>(() => s.Transform(new float[2]));
        Assert.Throws<ArgumentException>(() => FeatureStandardizer.Fit([]));
        Assert.Throws<ArgumentException>(() => new FeatureStandardizer([0.0], [0.0]));
    }

    [Fact]
    public void StandardizerRoundTripsBitExactlyAndRefusesDamagedBytes()
    {
        var random = new Random(5);
        var rows = Enumerable.Range(0, 20).Select(_ => Enumerable.Range(0, 256).Select(_ => (float)random.NextDouble()).ToArray()).ToList();
        var s = FeatureStandardizer.Fit(rows);
        var bytes = s.ToBytes();
        Assert.Equal(12 + 16 * 256, bytes.Length);
        var back = FeatureStandardizer.FromBytes(bytes);
        Assert.Equal(s.Mean, back.Mean);
        Assert.Equal(s.Scale, back.Scale);
        Assert.Equal(bytes, back.ToBytes());
        Assert.Throws<InvalidDataException>(() => FeatureStandardizer.FromBytes(bytes.AsSpan(0, bytes.Length - 1)));
        var badScale = (byte[])bytes.Clone();
        BitConverter.TryWriteBytes(badScale.AsSpan(12 + 8 * 256), 0.0);
        Assert.Throws<InvalidDataException>(() => FeatureStandardizer.FromBytes(badScale));
        Assert.Throws<InvalidDataException>(() => FeatureStandardizer.FromBytes("XSTD"u8));
    }

    [Fact]
    public void TablesAreStandardisedPerMachineOnTrainingClipsOnly()
    {
        var records = new List<EmbeddingRecord>
        {
            new("a", false, false, false, "a1", [1f, 10f]),
            new("a", false, true, false, "a2", [3f, 30f]),
            new("a", true, false, true, "a3", [100f, 100f]), // a test clip: transformed, never fitted on
            new("b", false, false, false, "b1", [-1f, 0f]),
            new("b", false, false, false, "b2", [1f, 2f]),
            new("b", true, false, false, "b3", [0f, 1f]),
        };
        var z = EmbeddingStandardization.PerMachine(new EmbeddingTable(records, 2));
        Assert.Equal(new[] { -1f, -1f }, z.Records[0].Embedding);
        Assert.Equal(new[] { 1f, 1f }, z.Records[1].Embedding);
        Assert.Equal(new[] { 98f, 8f }, z.Records[2].Embedding);
        Assert.Equal(new[] { 0f, 0f }, z.Records[5].Embedding);
        Assert.Equal(records.Select(r => (r.Machine, r.IsTest, r.File)), z.Records.Select(r => (r.Machine, r.IsTest, r.File)));
    }

    private static float[] Tone(double hz, double amplitude, int samples)
    {
        var x = new float[samples];
        for (int n = 0; n < samples; n++)
            x[n] = (float)(amplitude * Math.Sin(2 * Math.PI * hz * n / 16_000));
        return x;
    }
}
