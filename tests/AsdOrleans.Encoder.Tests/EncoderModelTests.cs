using AsdOrleans.Encoder.Model;

namespace AsdOrleans.Encoder.Tests;

public class EncoderModelTests
{
    [Fact]
    public void A_clip_embeds_the_same_alone_and_in_a_padded_batch_with_other_lengths()
    {
        using var model = TestAudio.UntrainedModel();
        var clips = new[] { TestAudio.Noise(8_000, 1), TestAudio.Noise(16_000, 2), TestAudio.Noise(11_111, 3), TestAudio.Noise(16_000, 4) };
        var together = model.Embed(clips);
        for (int i = 0; i < clips.Length; i++)
        {
            var alone = model.Embed([clips[i]])[0];
            double norm = Math.Sqrt(alone.Sum(v => (double)v * v));
            Assert.True(TestAudio.MaxAbsDifference(alone, together[i]) < 1e-5, $"clip {i}: {TestAudio.MaxAbsDifference(alone, together[i])} norm {norm}");
        }
        Assert.True(TestAudio.MaxAbsDifference(together[1], together[3]) > 1e-3, "different clips must give different embeddings");
    }

    [Theory]
    [InlineData(16, 20)]
    [InlineData(17, 20)]
    [InlineData(10, 63)]
    [InlineData(63, 64)]
    public void Even_and_odd_lengths_keep_their_frames_through_every_stride(int shortFrames, int longFrames)
    {
        using var model = TestAudio.UntrainedModel();
        var hop = model.Info.FrontEnd.Hop;
        var a = TestAudio.Noise((shortFrames - 1) * hop, 11);
        var b = TestAudio.Noise((longFrames - 1) * hop, 12);
        var alone = model.Embed([a])[0];
        var batched = model.Embed([a, b])[0];
        Assert.True(TestAudio.MaxAbsDifference(alone, batched) < 1e-5, $"{TestAudio.MaxAbsDifference(alone, batched)}");
    }

    [Fact]
    public void Lengths_after_a_stride_are_integer_ceilings()
    {
        var lengths = TorchSharp.torch.tensor(new long[] { 16, 17, 1 });
        Assert.Equal(new long[] { 8, 9, 1 }, LengthMasks.AfterStride(lengths, 2).data<long>().ToArray());
    }

    [Fact]
    public void Output_shape_and_paper_size_parameter_count()
    {
        using var model = TestAudio.UntrainedModel();
        var e = model.Embed([TestAudio.Noise(4_000, 5)]);
        Assert.Single(e);
        Assert.Equal(16, e[0].Length);

        var paper = new EncoderArchitecture();
        Assert.Equal(65, paper.FinalFrequencyBins);
        Assert.Equal(2 * 256 * 65, paper.PooledFeatures);
        using var encoder = new AsdEncoder(paper);
        Assert.Equal(ExpectedParameters(paper), encoder.ParameterCount);
    }

    /// <summary>Counted by hand from the architecture: convs (no bias), BN (γ, β), 1×1 shortcuts, the final linear layer.</summary>
    private static long ExpectedParameters(EncoderArchitecture a)
    {
        long total = 1L * a.Width * 9 + 2 * a.Width;
        int inC = a.Width;
        for (int stage = 0; stage < a.BlocksPerStage.Length; stage++)
        {
            int outC = a.StageChannels(stage);
            for (int b = 0; b < a.BlocksPerStage[stage]; b++)
            {
                int stride = b == 0 ? a.StageStrides[stage] : 1;
                total += (long)inC * outC * 9 + 2 * outC + (long)outC * outC * 9 + 2 * outC;
                if (stride != 1 || inC != outC) total += (long)inC * outC + 2 * outC;
                inC = outC;
            }
        }
        return total + (long)a.PooledFeatures * a.EmbeddingDimension + a.EmbeddingDimension;
    }

    [Fact]
    public void Save_and_load_give_identical_embeddings_and_the_same_version()
    {
        using var model = TestAudio.UntrainedModel();
        string path = Path.Combine(Path.GetTempPath(), $"asd-model-{Guid.NewGuid():N}.asdm");
        try
        {
            model.Save(path);
            using var loaded = EncoderModel.Load(path, "cpu");
            Assert.Equal(model.VersionId, loaded.VersionId);
            Assert.StartsWith("enc-", loaded.VersionId);
            var clip = TestAudio.Noise(12_000, 9);
            Assert.Equal(model.Embed([clip])[0], loaded.Embed([clip])[0]);
            Assert.Equal(model.Info.ParameterCount, EncoderModel.ReadInfo(path).ParameterCount);

            var bytes = File.ReadAllBytes(path);
            bytes[^10] ^= 0x55; // damage a weight
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<InvalidDataException>(() => EncoderModel.Load(path, "cpu"));
            Assert.Contains(path, e.Message);

            File.WriteAllText(path, "not a model");
            Assert.Contains("not an AsdOrleans encoder model", Assert.Throws<InvalidDataException>(() => EncoderModel.ReadInfo(path)).Message);
            File.WriteAllBytes(path, bytes.AsSpan(0, 40).ToArray());
            Assert.Throws<InvalidDataException>(() => EncoderModel.ReadInfo(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Different_weights_give_a_different_version()
    {
        using var a = TestAudio.UntrainedModel(seed: 1);
        using var b = TestAudio.UntrainedModel(seed: 2);
        using var c = TestAudio.UntrainedModel(seed: 1);
        Assert.NotEqual(a.VersionId, b.VersionId);
        Assert.Equal(a.VersionId, c.VersionId);
    }

    [Fact]
    public void Too_short_clips_and_unknown_devices_are_refused()
    {
        using var model = TestAudio.UntrainedModel();
        Assert.Contains("too short", Assert.Throws<ArgumentException>(() => model.Embed([new float[100]])).Message);
        Assert.Contains("unknown device", Assert.Throws<ArgumentException>(() => TorchRuntime.SelectDevice("tpu")).Message);
        if (!TorchSharp.torch.cuda.is_available())
            Assert.Contains("CUDA is not available", Assert.Throws<ArgumentException>(() => TorchRuntime.SelectDevice("cuda")).Message);
    }
}
