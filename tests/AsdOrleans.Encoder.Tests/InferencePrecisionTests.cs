using AsdOrleans.Encoder.Inference;
using static TorchSharp.torch;

namespace AsdOrleans.Encoder.Tests;

public class InferencePrecisionTests
{
    [Fact]
    public void Folded_and_bf16_inference_follow_fp32_and_leave_the_trained_weights_alone()
    {
        using var model = TestAudio.UntrainedModel();
        var clips = new[] { TestAudio.Noise(16_000, 21), TestAudio.Noise(12_345, 22), TestAudio.Noise(16_000, 23) };
        GiveBatchNormsTrainedStatistics(model, clips);
        var weightsBefore = SavedBytes(model);
        var reference = model.Embed(clips);

        model.SetPrecision(InferencePrecision.Fp32Folded);
        var folded = model.Embed(clips);
        model.SetPrecision(InferencePrecision.Bf16);
        var bf16 = model.Embed(clips);
        var bf16Alone = model.Embed([clips[1]])[0];
        model.SetPrecision(InferencePrecision.Fp32);
        var again = model.Embed(clips);

        for (int i = 0; i < clips.Length; i++)
        {
            Assert.True(Cosine(folded[i], reference[i]) > 0.999999, $"clip {i}: folded cosine {Cosine(folded[i], reference[i])}");
            // Untrained weights on noise amplify bf16's rounding more than a trained encoder does: 0.9955–0.9977 on one of
            // these CPUs (AVX512_BF16) run alone, and once 0.978 in a full suite run beside five other test processes, where
            // the demo's trained model gives 1.000000 over 64 clips (`asd bench encoder --fidelity-data`, the issue-13 goal
            // of 0.999). This checks that the bf16 path computes the same function to within rounding; the trained
            // model's fidelity is the benchmark's.
            Assert.True(Cosine(bf16[i], reference[i]) >= 0.95, $"clip {i}: bf16 cosine {Cosine(bf16[i], reference[i])}");
            Assert.Equal(reference[i], again[i]);
        }
        Assert.True(TestAudio.MaxAbsDifference(bf16Alone, bf16[1]) < 1e-2, "bf16: a clip embeds the same alone and in a padded batch");
        Assert.Equal(weightsBefore, SavedBytes(model));
        Assert.Equal(InferencePrecision.Fp32, model.Precision);
    }

    [Theory]
    [InlineData("fp32", InferencePrecision.Fp32)]
    [InlineData("BF16", InferencePrecision.Bf16)]
    [InlineData("fp32-folded", InferencePrecision.Fp32Folded)]
    public void Precision_names_parse_and_print_back(string text, InferencePrecision expected)
    {
        Assert.Equal(expected, InferencePrecisions.Parse(text));
        Assert.Equal(text.ToLowerInvariant(), expected.Name());
    }

    [Fact]
    public void An_unknown_precision_is_refused_by_name()
    {
        var error = Assert.Throws<ArgumentException>(() => InferencePrecisions.Parse("fp8"));
        Assert.Contains("fp8", error.Message);
    }

    /// <summary>A few training-mode forward passes move the running means and variances off their initial 0 and 1.</summary>
    private static void GiveBatchNormsTrainedStatistics(EncoderModel model, float[][] clips)
    {
        model.Encoder.train();
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var (spectrogram, lengths) = model.Features(clips);
            for (int pass = 0; pass < 3; pass++)
                model.Encoder.forward(spectrogram, lengths);
        }
        model.Encoder.eval();
    }

    private static byte[] SavedBytes(EncoderModel model)
    {
        string path = Path.Combine(Path.GetTempPath(), $"asd-precision-{Guid.NewGuid():N}.asdm");
        try
        {
            model.Save(path);
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return dot / Math.Sqrt(na * nb);
    }
}
