using AsdOrleans.Audio;
using AsdOrleans.Audio.Features;
using AsdOrleans.Encoder.Frontend;
using static TorchSharp.torch;

namespace AsdOrleans.Encoder.Tests;

/// <summary>The device front end (torch.stft) and Core's MathNet reference compute the same log-STFT.</summary>
public class StftParityTests
{
    private static string MiniClip(string machine)
        => Directory.EnumerateFiles(Path.Combine(SharedData.Dcase2023Mini, "dev_data", "raw", machine, "train"), "*.wav").Order().First();

    public static TheoryData<string> Signals => ["fan", "ToyCar", "bearing", "noise", "silence-then-tone"];

    [Theory]
    [MemberData(nameof(Signals))]
    public void Torch_and_MathNet_agree_to_1e_4(string signal)
    {
        float[] samples = signal switch
        {
            "noise" => TestAudio.Noise(9_000, 4),
            "silence-then-tone" => new float[4_000].Concat(TestAudio.Tone(440, 0.3, 2, noise: 0)).ToArray(),
            _ => WavDecoder.Read(MiniClip(signal)).Samples[..32_000], // 2 s of a real clip
        };
        var settings = LogStftSettings.Paper;
        var reference = LogStftReference.Compute(samples, settings, out int frames);
        using var frontEnd = new TorchLogStft(settings, CPU);
        using var scope = NewDisposeScope();
        var computed = frontEnd.Compute(tensor(samples, [1, samples.Length]));
        Assert.Equal(new long[] { 1, settings.Bins, frames }, computed.shape);
        var values = computed.contiguous().data<float>().ToArray();
        double worst = 0;
        for (int i = 0; i < values.Length; i++)
            worst = Math.Max(worst, Math.Abs(values[i] - reference[i]));
        Assert.True(worst < 1e-4, $"max |torch − MathNet| = {worst:E2}");
    }
}
