using System.Text.Json;
using AsdOrleans.Audio.Features;
using AsdOrleans.Encoder.Frontend;
using AsdOrleans.Encoder.Model;
using AsdOrleans.Encoder.Training;
using static TorchSharp.torch;

namespace AsdOrleans.Encoder.Tests;

/// <summary>Issue 11's encoder recipe: the spectrum branch, two branches, block statistics and named recipes.</summary>
[Collection(TrainingAlone.Name)]
public class SpectrumBranchTests
{
    private static readonly EncoderArchitecture Spectrum = TestAudio.Tiny with { Branches = EncoderBranches.Spectrum };
    private static readonly EncoderArchitecture Both = TestAudio.Tiny with { Branches = EncoderBranches.Both };

    [Fact]
    public void Issue_3_architectures_serialise_as_before_so_their_version_ids_do_not_change()
    {
        string json = JsonSerializer.Serialize(TestAudio.Tiny);
        Assert.DoesNotContain("Branches", json);
        Assert.Contains("\"Branches\":\"Spectrum\"", JsonSerializer.Serialize(Spectrum));
        Assert.Equal(EncoderBranches.Both, JsonSerializer.Deserialize<EncoderArchitecture>(JsonSerializer.Serialize(Both))!.Branches);
        Assert.Equal(EncoderBranches.Spectrogram, JsonSerializer.Deserialize<EncoderArchitecture>(json)!.Branches);
    }

    [Fact]
    public void Each_kind_embeds_to_the_embedding_dimension_and_both_splits_it()
    {
        Assert.Equal((16, 0), (TestAudio.Tiny.SpectrogramDimension, TestAudio.Tiny.SpectrumDimension));
        Assert.Equal((0, 16), (Spectrum.SpectrogramDimension, Spectrum.SpectrumDimension));
        Assert.Equal((8, 8), (Both.SpectrogramDimension, Both.SpectrumDimension));
        var clips = new[] { TestAudio.Tone(440, 0.5, 1), TestAudio.Tone(880, 0.7, 2) };
        foreach (var architecture in new[] { Spectrum, Both })
        {
            using var model = TestAudio.UntrainedModel(architecture);
            var embeddings = model.Embed(clips);
            Assert.All(embeddings, e => Assert.Equal(16, e.Length));
            // A clip's embedding does not depend on the batch it travels in (padding is masked in both branches).
            model.MaxForwardBatch = 2;
            var batched = model.Embed(clips);
            for (int i = 0; i < clips.Length; i++)
                Assert.True(TestAudio.MaxAbsDifference(embeddings[i], batched[i]) < 1e-4, $"clip {i}: batch changes the embedding");
        }
        Assert.True(EncoderFlops.Forward(Spectrum, 1000) < EncoderFlops.Forward(TestAudio.Tiny, 1000));
    }

    [Fact]
    public void Block_statistics_give_the_mean_and_std_the_branch_computes_from_frames()
    {
        var samples = TestAudio.Tone(300, 2.0, 5, noise: 0.2);
        using var frontend = new TorchLogStft(LogStftSettings.Paper, CPU);
        var statistics = BlockStatistics.Compute([new TrainingClip(samples, 0)], frontend, CPU);
        int bins = statistics.Bins, blocks = statistics.Blocks(0);
        Assert.Equal(4, blocks); // 251 frames in blocks of 64
        var mean = new float[bins];
        var std = new float[bins];
        statistics.Crop(0, 0, blocks, 1e-7, mean, std);
        using var frames = frontend.Compute(tensor(samples, [1, samples.Length]))[0].to_type(float64);
        var expectedMean = frames.mean([1]).data<double>().ToArray();
        var expectedStd = frames.std(1, unbiased: true).data<double>().ToArray();
        for (int f = 0; f < bins; f++)
        {
            Assert.True(Math.Abs(mean[f] - expectedMean[f]) < 1e-4, $"bin {f}: mean {mean[f]} vs {expectedMean[f]}");
            Assert.True(Math.Abs(std[f] - expectedStd[f]) < 1e-3, $"bin {f}: std {std[f]} vs {expectedStd[f]}");
        }
    }

    [Fact]
    public void A_spectrum_encoder_trains_from_block_statistics_and_learns_the_classes()
    {
        string[] classes = ["low", "mid", "high"];
        double[] frequencies = [220, 660, 1800];
        List<TrainingClip> Clips(int perClass, ulong seed) => Enumerable.Range(0, perClass * 3)
            .Select(i => new TrainingClip(TestAudio.Tone(frequencies[i % 3] * (1 + 0.02 * (i / 3 % 5)), 1.5, seed + (ulong)i), i % 3)).ToList();
        var options = new TrainingOptions { Epochs = 6, BatchSize = 8, CropSeconds = 1.0, LearningRate = 3e-3, Schedule = "cosine", MixupProbability = 0.5, Seed = 3, Device = "cpu" };
        var reports = new List<EpochReport>();
        int threads = get_num_threads();
        using var model = EncoderTrainer.Train(Spectrum, LogStftSettings.Paper, classes, Clips(8, 100), options, "tones", reports.Add,
            cancellation: TestContext.Current.CancellationToken);
        Assert.Equal(threads, get_num_threads()); // the one-thread limit of spectrum training is undone
        Assert.True(reports[^1].Loss < reports[0].Loss, $"loss {reports[0].Loss} → {reports[^1].Loss}");
        var train = Clips(4, 100);
        var test = Clips(3, 900);
        var trainEmbeddings = model.Embed(train.Select(c => c.Samples).ToList());
        var testEmbeddings = model.Embed(test.Select(c => c.Samples).ToList());
        int correct = testEmbeddings.Select((e, i) =>
            Enumerable.Range(0, train.Count).MaxBy(j => Cosine(e, trainEmbeddings[j])) is var j && train[j].ClassIndex == test[i].ClassIndex ? 1 : 0).Sum();
        Assert.True(correct >= 8, $"{correct}/9 held-out clips nearest to a training clip of their class");
        Assert.Equal(EncoderBranches.Spectrum, model.Info.Architecture.Branches);
    }

    [Fact]
    public void Learning_rate_schedules_and_recipes()
    {
        var constant = new TrainingOptions { LearningRate = 0.01 };
        Assert.Equal(0.01, constant.LearningRateAt(50, 100));
        var cosine = constant with { Schedule = "cosine", WarmupFraction = 0.1 };
        Assert.True(cosine.LearningRateAt(0, 100) < 0.002);
        Assert.Equal(0.01, cosine.LearningRateAt(9, 100), 9);
        Assert.Equal(0.005, cosine.LearningRateAt(55, 100), 9);
        Assert.True(cosine.LearningRateAt(99, 100) < 1e-4);
        Assert.Throws<ArgumentException>(() => (constant with { Schedule = "step" }).Validate());
        Assert.Throws<ArgumentException>(() => (constant with { MixupProbability = 1.5 }).Validate());
        Assert.Equal("spectrum", TrainingRecipe.Default.Name);
        Assert.Equal(EncoderBranches.Spectrogram, TrainingRecipe.Named("resnet-issue3").Branches);
        Assert.Throws<ArgumentException>(() => TrainingRecipe.Named("nope"));
    }

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
        return dot / Math.Sqrt(na * nb);
    }
}
