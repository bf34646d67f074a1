using System.Buffers.Binary;
using AsdOrleans.Audio;
using AsdOrleans.Audio.Features;

namespace AsdOrleans.Core.Tests.Audio;

/// <summary>The 28 real DCASE 2023 clips in ../shared/data/dcase2023-mini.</summary>
public class RealClipDecodingTests
{
    public static TheoryData<string> MiniClips()
    {
        var data = new TheoryData<string>();
        foreach (var path in SharedData.Dcase2023MiniWavFiles())
            data.Add(Path.GetRelativePath(SharedData.Dcase2023Mini, path));
        return data;
    }

    [Fact]
    public void TheMiniSetHas28Clips() => Assert.Equal(28, SharedData.Dcase2023MiniWavFiles().Count);

    [Theory]
    [MemberData(nameof(MiniClips))]
    public void EveryMiniClipDecodesTo16kHzMono(string relativePath)
    {
        string path = Path.Combine(SharedData.Dcase2023Mini, relativePath);
        var clip = WavDecoder.Read(path);

        bool toy = relativePath.Contains("ToyCar", StringComparison.Ordinal) || relativePath.Contains("ToyTrain", StringComparison.Ordinal);
        int seconds = toy ? 12 : 10;
        Assert.Equal(16_000, clip.SampleRate);
        Assert.Equal(16_000, clip.OriginalSampleRate);
        Assert.Equal(1, clip.OriginalChannels);
        Assert.Equal(seconds * 16_000, clip.Samples.Length);
        Assert.Equal(TimeSpan.FromSeconds(seconds), clip.Duration);
        Assert.Equal(path, clip.Source);
        Assert.All(clip.Samples, s => Assert.True(float.IsFinite(s) && s >= -1f && s < 1f));
        Assert.Contains(clip.Samples, s => s != 0f);
    }

    [Fact]
    public void A16BitClipIsBitExactWithItsPcmValuesOver32768()
    {
        string path = SharedData.Dcase2023MiniWavFiles().First(p => p.Contains("fan", StringComparison.Ordinal));
        byte[] bytes = File.ReadAllBytes(path);
        Assert.True(bytes.AsSpan(36, 4).SequenceEqual("data"u8), "the mini clips have canonical 44-byte headers");

        var clip = WavDecoder.Read(path);

        int count = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(40)) / 2;
        Assert.Equal(count, clip.Samples.Length);
        for (int i = 0; i < count; i++)
            Assert.Equal(BinaryPrimitives.ReadInt16LittleEndian(bytes.AsSpan(44 + 2 * i)) / 32768f, clip.Samples[i]);
    }

    [Fact]
    public void ARealClipGivesThePaperSpectrogramShape()
    {
        string path = SharedData.Dcase2023MiniWavFiles().First(p => p.Contains("valve", StringComparison.Ordinal));
        var clip = WavDecoder.Read(path);

        var spectrogram = LogStftReference.Compute(clip.Samples, LogStftSettings.Paper, out int frames);

        Assert.Equal(1 + 160_000 / 128, frames);
        Assert.Equal(513 * frames, spectrogram.Length);
        Assert.All(spectrogram, v => Assert.True(float.IsFinite(v)));
    }
}
