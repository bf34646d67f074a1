using AsdOrleans.Audio;
using NAudio.Wave;

namespace AsdOrleans.Core.Tests.Audio;

/// <summary>Every accepted sample format, at 16 kHz (no resampling): exact values and exact downmixes.</summary>
public sealed class WavDecoderFormatTests : IDisposable
{
    private const int N = 1600; // 0.1 s at 16 kHz, above the 0.05 s minimum
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private AudioClip Decode(string name, byte[] bytes) => WavDecoder.Read(dir.Write(name, bytes));

    private static T[] Pattern<T>(T[] values, int count) => Enumerable.Range(0, count).Select(i => values[i % values.Length]).ToArray();

    [Fact]
    public void Pcm16MonoIsExactlyValueOver32768()
    {
        var pcm = Pattern(new short[] { short.MinValue, -12345, -1, 0, 1, 2, 12345, short.MaxValue }, N);
        var clip = Decode("pcm16.wav", WavBytes.Pcm16(pcm));

        Assert.Equal(pcm.Select(v => v / 32768f), clip.Samples);
        Assert.Equal(-1f, clip.Samples.Min());
        Assert.Equal((16_000, 16_000, 1), (clip.SampleRate, clip.OriginalSampleRate, clip.OriginalChannels));
    }

    [Fact]
    public void Pcm8IsUnsignedAroundMidpoint128()
    {
        var pcm = Pattern(new byte[] { 0, 1, 64, 127, 128, 129, 192, 255 }, N);
        var clip = Decode("pcm8.wav", WavBytes.Pcm8(pcm));

        Assert.Equal(pcm.Select(b => (b - 128) / 128f), clip.Samples);
        Assert.Equal(-1f, clip.Samples[0]);
        Assert.Equal(0f, clip.Samples[4]);
    }

    [Fact]
    public void Pcm24IsExactlyValueOver2To23()
    {
        var pcm = Pattern(new[] { -8_388_608, -4_194_304, -1, 0, 1, 1_234_567, 8_388_607 }, N);
        var clip = Decode("pcm24.wav", WavBytes.Pcm24(pcm));

        Assert.Equal(pcm.Select(v => v / 8_388_608f), clip.Samples);
        Assert.Equal(-0.5f, clip.Samples[1]);
    }

    [Fact]
    public void Pcm32IsValueOver2To31()
    {
        var pcm = Pattern(new[] { int.MinValue, -1_073_741_824, -1, 0, 65_536, 1_073_741_824, int.MaxValue }, N);
        var clip = Decode("pcm32.wav", WavBytes.Pcm32(pcm));

        Assert.Equal(pcm.Select(v => (float)v / 2_147_483_648f), clip.Samples);
        Assert.Equal(0.5f, clip.Samples[5]);
    }

    [Fact]
    public void Float32IsKeptAsIsEvenBeyondFullScale()
    {
        var values = Pattern(new[] { -1.5f, -1f, -0.25f, 0f, 1e-30f, 0.333f, 1f, 2.5f }, N);
        var clip = Decode("float32.wav", WavBytes.Float32(values));

        Assert.Equal(values, clip.Samples);
    }

    [Fact]
    public void Float64IsRoundedToSingle()
    {
        var values = Pattern(new[] { -1.0, -0.1, 0.0, 1.0 / 3, 0.7, 1.0 }, N);
        var clip = Decode("float64.wav", WavBytes.Float64(values));

        Assert.Equal(values.Select(v => (float)v), clip.Samples);
    }

    [Fact]
    public void StereoIsTheAverageOfBothChannels()
    {
        var left = Pattern(new short[] { 16_384, -32_768, 1000, 7, 32_767 }, N);
        var right = Pattern(new short[] { 8_192, 32_767, -1000, 8, 32_767 }, N);
        var interleaved = left.Zip(right).SelectMany(p => new[] { p.First, p.Second }).ToArray();

        var clip = Decode("stereo.wav", WavBytes.Pcm16(interleaved, channels: 2));

        Assert.Equal(2, clip.OriginalChannels);
        Assert.Equal(N, clip.Samples.Length);
        Assert.Equal(0.375f, clip.Samples[0]); // (0.5 + 0.25) / 2
        Assert.Equal(0f, clip.Samples[2]);
        Assert.Equal(left.Zip(right).Select(p => (p.First / 32768f + p.Second / 32768f) / 2), clip.Samples);
    }

    [Fact]
    public void SixChannelFloatExtensibleIsTheAverageOfAllChannels()
    {
        const int channels = 6;
        var interleaved = new float[N * channels];
        for (int f = 0; f < N; f++)
            for (int c = 0; c < channels; c++)
                interleaved[f * channels + c] = (c + 1) * 0.125f * (f % 2 == 0 ? 1 : -1); // 0.125 … 0.75, mean 0.4375

        var clip = Decode("surround.wav", WavBytes.Float32(interleaved, channels, subFormat: WavBytes.FloatSubFormat));

        Assert.Equal(channels, clip.OriginalChannels);
        Assert.Equal(N, clip.Samples.Length);
        Assert.Equal(0.4375f, clip.Samples[0]);
        Assert.Equal(-0.4375f, clip.Samples[1]);
    }

    [Fact]
    public void ThreeChannelAverageDividesBySumInChannelOrder()
    {
        var interleaved = Pattern(new float[] { 0.1f, 0.2f, 0.4f, -0.3f, 0.9f, 0.05f }, N * 3);
        var clip = Decode("three.wav", WavBytes.Float32(interleaved, channels: 3));

        Assert.Equal((0.1f + 0.2f + 0.4f) / 3, clip.Samples[0]);
        Assert.Equal((-0.3f + 0.9f + 0.05f) / 3, clip.Samples[1]);
    }

    [Fact]
    public void Pcm24ExtensibleStereoIsRead()
    {
        var interleaved = Pattern(new[] { 4_194_304, -4_194_304, 2_097_152, 0 }, N * 2);
        var clip = Decode("ext24.wav", WavBytes.Pcm24(interleaved, channels: 2, subFormat: WavBytes.PcmSubFormat));

        Assert.Equal(0f, clip.Samples[0]);
        Assert.Equal(0.125f, clip.Samples[1]);
    }

    [Fact]
    public void FilesWrittenByNAudiosWaveFileWriterAreRead()
    {
        string path = dir.File("naudio.wav");
        var tone = WavBytes.Sine(440, 16_000, 0.25);
        using (var writer = new WaveFileWriter(path, WaveFormat.CreateIeeeFloatWaveFormat(16_000, 2)))
        {
            foreach (var s in tone)
            {
                writer.WriteSample(s);
                writer.WriteSample(-s);
            }
        }

        var clip = WavDecoder.Read(path);

        Assert.Equal(tone.Length, clip.Samples.Length);
        Assert.All(clip.Samples, s => Assert.Equal(0f, s)); // left and right cancel exactly
    }

    [Fact]
    public void ExtraChunksBeforeAndAfterTheDataAreSkipped()
    {
        var pcm = Pattern(new short[] { 100, -200, 300 }, N);
        byte[] plain = WavBytes.Pcm16(pcm);
        // RIFF header, then a LIST chunk, then fmt+data, then a trailing chunk; RIFF size updated.
        byte[] list = [.. "LIST"u8, 5, 0, 0, 0, .. "INFOx"u8, 0];
        byte[] tail = [.. "junk"u8, 4, 0, 0, 0, 1, 2, 3, 4];
        byte[] file = [.. plain[..12], .. list, .. plain[12..], .. tail];
        BitConverter.TryWriteBytes(file.AsSpan(4), file.Length - 8);

        var clip = Decode("chunks.wav", file);

        Assert.Equal(pcm.Select(v => v / 32768f), clip.Samples);
    }

    [Fact]
    public void StreamsAreReadFromTheirPositionAndNonSeekableStreamsAreBuffered()
    {
        var pcm = Pattern(new short[] { 1, 2, 3, -4 }, N);
        byte[] bytes = WavBytes.Pcm16(pcm);
        var expected = pcm.Select(v => v / 32768f).ToArray();

        using var plain = new MemoryStream(bytes);
        Assert.Equal(expected, WavDecoder.Read(plain, "upload-1").Samples);

        using var prefixed = new MemoryStream([0xAA, 0xBB, .. bytes]);
        prefixed.Position = 2;
        Assert.Equal(expected, WavDecoder.Read(prefixed, "upload-2").Samples);

        using var forwardOnly = new ForwardOnlyStream(bytes);
        var clip = WavDecoder.Read(forwardOnly, "upload-3");
        Assert.Equal(expected, clip.Samples);
        Assert.Equal("upload-3", clip.Source);
    }

    [Fact]
    public void TheStreamIsLeftOpen()
    {
        using var stream = new MemoryStream(WavBytes.Pcm16(new short[N]));
        WavDecoder.Read(stream, "open");
        Assert.True(stream.CanRead);
    }

    /// <summary>A stream that can only be read forwards, like a network body.</summary>
    internal sealed class ForwardOnlyStream(byte[] bytes) : Stream
    {
        private readonly MemoryStream inner = new(bytes);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, 1000));
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
