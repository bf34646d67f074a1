using AsdOrleans.Audio;
using NAudio.Wave;

namespace AsdOrleans.Core.Tests.Audio;

public sealed class WavEncoderTests : IDisposable
{
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void Mono16RoundsClipsAndReadsBack()
    {
        float[] samples = [.. Enumerable.Repeat(0f, 1000), 0.5f, -0.25f, 2f, -2f, 1f, -1f, 1.5e-5f, -1.6e-5f, 0.1f];
        string path = dir.File("out/mono16.wav");

        WavEncoder.WriteMono16(path, samples, 16_000);
        var clip = WavDecoder.Read(path);

        Assert.Equal(44 + 2 * samples.Length, new FileInfo(path).Length);
        float[] expected = [.. Enumerable.Repeat(0f, 1000), 0.5f, -0.25f, 32767 / 32768f, -1f, 32767 / 32768f, -1f, 0f, -1 / 32768f, 3277 / 32768f];
        Assert.Equal(expected, clip.Samples);
    }

    [Fact]
    public void EveryDecoded16BitValueWritesBackExactly()
    {
        var all = Enumerable.Range(short.MinValue, 65_536).Select(v => v / 32768f).ToArray();
        string path = dir.File("all.wav");

        WavEncoder.WriteMono16(path, all, 16_000);

        Assert.Equal(all, WavDecoder.Read(path).Samples);
    }

    [Fact]
    public void Float32KeepsValuesAndIsReadableByNAudio()
    {
        var samples = WavBytes.Sine(1234, 8_000, 0.2).Select(s => s * 3).ToArray(); // beyond ±1 on purpose
        string path = dir.File("float.wav");

        WavEncoder.WriteFloat32(path, samples, 8_000);

        using (var reader = new WaveFileReader(path))
        {
            Assert.Equal(WaveFormatEncoding.IeeeFloat, reader.WaveFormat.Encoding);
            Assert.Equal((8_000, 1, 32), (reader.WaveFormat.SampleRate, reader.WaveFormat.Channels, reader.WaveFormat.BitsPerSample));
            Assert.Equal(samples.Length, reader.SampleCount);
        }
        var decoded = WavDecoder.Read(path, new AudioLoadOptions { TargetSampleRate = 8_000 });
        Assert.Equal(samples, decoded.Samples);
    }

    [Fact]
    public void Mono16HeaderIsCanonicalPcm()
    {
        byte[] bytes = WavEncoder.EncodeMono16(new float[10], 22_050);
        using var reader = new WaveFileReader(new MemoryStream(bytes));
        Assert.Equal(new WaveFormat(22_050, 16, 1), reader.WaveFormat);
        Assert.Equal(20, reader.Length);
    }

    [Fact]
    public void WritesReplaceAtomicallyAndLeaveNoTemporaryFiles()
    {
        string path = dir.File("clip.wav");
        WavEncoder.WriteMono16(path, new float[2000], 16_000);
        WavEncoder.WriteMono16(path, WavBytes.Sine(440, 16_000, 0.1), 16_000);

        Assert.Equal(["clip.wav"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
        Assert.Equal(1600, WavDecoder.Read(path).Samples.Length);
    }

    [Fact]
    public void NonFiniteSamplesAndBadRatesAreArgumentErrors()
    {
        var e = Assert.Throws<ArgumentException>(() => WavEncoder.WriteFloat32(dir.File("nan.wav"), [0f, float.NaN], 16_000));
        Assert.Contains("sample 1", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => WavEncoder.EncodeMono16([float.PositiveInfinity], 16_000));
        Assert.Throws<ArgumentOutOfRangeException>(() => WavEncoder.EncodeMono16([0f], 0));
        Assert.False(File.Exists(dir.File("nan.wav")));
    }
}
