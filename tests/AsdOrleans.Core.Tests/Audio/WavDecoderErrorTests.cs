using System.Text;
using AsdOrleans.Audio;

namespace AsdOrleans.Core.Tests.Audio;

/// <summary>Bad content is an AudioFormatException whose message names the file and the problem.</summary>
public sealed class WavDecoderErrorTests : IDisposable
{
    private const int N = 1600;
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private AudioFormatException Refused(string name, byte[] bytes, string problem, AudioLoadOptions? options = null)
    {
        string path = dir.Write(name, bytes);
        var e = Assert.Throws<AudioFormatException>(() => WavDecoder.Read(path, options));
        Assert.StartsWith(path + ": ", e.Message, StringComparison.Ordinal);
        Assert.Equal(path, e.SourceName);
        Assert.Contains(problem, e.Problem, StringComparison.Ordinal);
        return e;
    }

    private static byte[] ValidPcm16(int samples = N, int channels = 1, int rate = 16_000) =>
        WavBytes.Pcm16(Enumerable.Range(0, samples * channels).Select(i => (short)(i * 37 % 20_000 - 10_000)).ToArray(), channels, rate);

    [Fact]
    public void ATextFileNamedWavIsNotAWavFile()
    {
        var e = Refused("notes.wav", Encoding.UTF8.GetBytes("machine,section\nfan,00\n"), "not a WAV file");
        Assert.Contains("looks like text", e.Message, StringComparison.Ordinal);
        Refused("utf8.wav", Encoding.UTF8.GetBytes("Prüfstand Lüfter 3\n"), "looks like text");
        // Bytes from 0x80 that are no UTF-8 are data, not text (random bytes were called text a quarter of the time).
        Refused("random.wav", [0x39, 0x9A, 0xB7, 0x35, 0x52, 0xC4, 0x77, 0x78, 0x2C, 0xE1, 0x41, 0xFE, 0x90, 0x88, 0x21, 0x60], "it starts with bytes 399AB7");
    }

    [Fact]
    public void AnMp3IsNotAWavFile()
    {
        Refused("song.wav", [.. "ID3"u8, 4, 0, 0, 0, 0, 0, 0, 0xFF, 0xFB, 0x90, 0x64], "looks like an MP3 file");
        Refused("bare-frame.wav", [0xFF, 0xFB, 0x90, 0x64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "looks like an MP3 file");
    }

    [Fact]
    public void ARiffFileOfAnotherTypeIsNotAWavFile() =>
        Refused("movie.wav", [.. "RIFF"u8, 100, 0, 0, 0, .. "AVI "u8, .. new byte[100]], "RIFF file of type 'AVI '");

    [Fact]
    public void AZeroByteFileIsEmpty() => Refused("zero.wav", [], "empty (0 bytes)");

    [Fact]
    public void AHeaderWithoutSamplesIsEmpty() => Refused("header-only.wav", WavBytes.Pcm16([]), "contains no audio samples");

    [Fact]
    public void ATruncatedFileIsRefusedNotSilentlyShortened()
    {
        byte[] whole = ValidPcm16(16_000);
        var e = Refused("cut.wav", whole[..^1000], "truncated");
        Assert.Contains("promises 32000 bytes", e.Message, StringComparison.Ordinal);
        Assert.Contains("only 31000", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFileCutInsideItsHeaderIsTruncated()
    {
        byte[] whole = ValidPcm16();
        Refused("cut-header.wav", whole[..10], "truncated");
        Refused("cut-fmt.wav", whole[..30], "truncated");
    }

    [Fact]
    public void AHeaderWithoutFormatChunkIsNotValid() =>
        Refused("no-fmt.wav", [.. "RIFF"u8, 28, 0, 0, 0, .. "WAVE"u8, .. "data"u8, 16, 0, 0, 0, .. new byte[16]], "not a valid WAV file");

    [Fact]
    public void NaNInAFloatFileIsRefusedWithItsPosition()
    {
        var samples = new float[N];
        samples[1234] = float.NaN;
        var e = Refused("nan.wav", WavBytes.Float32(samples), "sample 1234 (at 0.077 s) is NaN");
        Assert.Contains("finite", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InfinityInAStereoFloat64FileIsRefusedWithItsChannel()
    {
        var samples = new double[N * 2];
        samples[2 * 100 + 1] = double.NegativeInfinity;
        Refused("inf.wav", WavBytes.Float64(samples, channels: 2), "sample 100, channel 1 (at 0.006 s) is -infinity");
    }

    /// <summary>A 32-bit IEEE float WAV written by NAudio's own writer: the file a float-audio tool would produce.</summary>
    private string FloatWav(string name, int rate, int channels, Func<int, float> sample, int frames)
    {
        string path = dir.File(name);
        using (var writer = new NAudio.Wave.WaveFileWriter(path, NAudio.Wave.WaveFormat.CreateIeeeFloatWaveFormat(rate, channels)))
            for (int i = 0; i < frames * channels; i++)
                writer.WriteSample(sample(i));
        return path;
    }

    private static void AssertRefusedAsOverflow(string path, string stage)
    {
        var e = Assert.Throws<AudioFormatException>(() => WavDecoder.Read(path));
        Assert.StartsWith(path + ": ", e.Message, StringComparison.Ordinal);
        Assert.Contains("too large", e.Problem, StringComparison.Ordinal);
        Assert.Contains(stage, e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void HugeStereoFloatSamplesThatOverflowInTheDownmixAreRefused() =>
        // Each sample is finite; the two channels' sum (6e38) is not.
        AssertRefusedAsOverflow(FloatWav("stereo-huge.wav", 16_000, 2, i => (i / 2) % 2 == 0 ? 3e38f : -3e38f, 16_000), "mixed down from 2 channels");

    [Fact]
    public void HugeFloatSamplesThatOverflowInTheResamplerAreRefused() =>
        AssertRefusedAsOverflow(FloatWav("huge-8k.wav", 8_000, 1, _ => 3e38f, 8_000), "resampled from 8000 to 16000 Hz");

    [Fact]
    public void HugeFloatSamplesThatNeedNoMixingOrResamplingStillDecode()
    {
        // At the target rate in mono nothing adds samples up, so they come through exactly (features take them from there).
        var clip = WavDecoder.Read(FloatWav("huge-16k.wav", 16_000, 1, i => i % 2 == 0 ? 3e38f : -3e38f, 16_000));
        Assert.All(clip.Samples, v => Assert.Equal(3e38f, Math.Abs(v)));
    }

    [Fact]
    public void ATooLongFileIsRefused()
    {
        var options = new AudioLoadOptions { MaxSeconds = 0.5 };
        Refused("long.wav", ValidPcm16(16_000), "too long: 1 s (16000 samples at 16000 Hz), more than the 0.5 s allowed", options);
    }

    [Fact]
    public void TheLengthLimitIsJudgedFromTheHeaderWithoutDecoding()
    {
        byte[] bytes = ValidPcm16(61 * 16_000); // 61 s, 1.95 MB
        using var stream = new CountingStream(bytes);

        var e = Assert.Throws<AudioFormatException>(() => WavDecoder.Read(stream, "long upload"));

        Assert.Equal("long upload: too long: 61 s (976000 samples at 16000 Hz), more than the 60 s allowed", e.Message);
        Assert.True(stream.BytesRead < 1024, $"read {stream.BytesRead} bytes");
    }

    private sealed class CountingStream(byte[] bytes) : MemoryStream(bytes)
    {
        public long BytesRead { get; private set; }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int read = base.Read(buffer, offset, count);
            BytesRead += read;
            return read;
        }

        public override int Read(Span<byte> buffer)
        {
            int read = base.Read(buffer);
            BytesRead += read;
            return read;
        }

        public override int ReadByte()
        {
            int b = base.ReadByte();
            if (b >= 0) BytesRead++;
            return b;
        }
    }

    [Fact]
    public void ATooShortFileIsRefused() => Refused("short.wav", ValidPcm16(400), "too short: 0.025 s (400 samples at 16000 Hz)");

    [Fact]
    public void TheDefaultMinimumCoversTheStft()
    {
        var options = AudioLoadOptions.Default;
        Assert.True(options.MinSeconds * options.TargetSampleRate >= AsdOrleans.Audio.Features.LogStftSettings.Paper.MinimumSamples);
        var clip = WavDecoder.Read(dir.Write("just-long-enough.wav", ValidPcm16(800)));
        Assert.Equal(800, clip.Samples.Length);
    }

    [Theory]
    [InlineData(WavBytes.Adpcm, 4, "Microsoft ADPCM (format tag 0x0002)")]
    [InlineData(WavBytes.ALaw, 8, "A-law (format tag 0x0006)")]
    [InlineData(WavBytes.MuLaw, 8, "mu-law (format tag 0x0007)")]
    [InlineData((ushort)0x0055, 0, "MPEG layer 3 (MP3) (format tag 0x0055)")]
    [InlineData((ushort)0x1234, 16, "unknown (format tag 0x1234)")]
    public void CompressedEncodingsAreRefusedByName(ushort tag, int bits, string expected)
    {
        var e = Refused($"tag-{tag}.wav", WavBytes.Build(tag, 1, 16_000, bits, new byte[N], blockAlign: 1), "unsupported encoding " + expected);
        Assert.Contains("only PCM (8/16/24/32-bit) and IEEE float (32/64-bit)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnExtensibleALawFileIsRefusedByName() =>
        Refused("ext-alaw.wav", WavBytes.Build(WavBytes.Extensible, 1, 16_000, 8, new byte[N], subFormat: WavBytes.ALawSubFormat),
            "unsupported encoding A-law (WAVE_FORMAT_EXTENSIBLE sub-format 00000006-0000-0010-8000-00aa00389b71)");

    [Fact]
    public void OddBitDepthsAreRefused()
    {
        Refused("pcm12.wav", WavBytes.Build(WavBytes.Pcm, 1, 16_000, 12, new byte[2 * N], blockAlign: 2), "unsupported PCM bit depth 12");
        Refused("float16.wav", WavBytes.Build(WavBytes.IeeeFloat, 1, 16_000, 16, new byte[2 * N]), "unsupported IEEE float sample size 16 bits");
    }

    [Fact]
    public void TooManyChannelsAreRefused()
    {
        Refused("33ch.wav", WavBytes.Build(WavBytes.Pcm, 33, 16_000, 16, new byte[33 * 2 * N]), "33 channels; at most 32 are supported");
        Refused("0ch.wav", WavBytes.Build(WavBytes.Pcm, 0, 16_000, 16, new byte[2 * N], blockAlign: 2), "declares 0 channels");
    }

    [Fact]
    public void ImpossibleSampleRatesAreRefused()
    {
        Refused("0hz.wav", WavBytes.Build(WavBytes.Pcm, 1, 0, 16, new byte[2 * N]), "unsupported sample rate 0 Hz");
        Refused("8hz.wav", WavBytes.Build(WavBytes.Pcm, 1, 8, 16, new byte[2 * N]), "unsupported sample rate 8 Hz");
        // The header's fields are unsigned: said as written, not as negative numbers.
        Refused("4ghz.wav", WavBytes.Build(WavBytes.Pcm, 1, unchecked((int)4_000_000_000u), 16, new byte[2 * N]), "unsupported sample rate 4000000000 Hz");
        Refused("65535ch.wav", WavBytes.Build(WavBytes.Pcm, 65_535, 16_000, 16, new byte[2 * N], blockAlign: 2), "65535 channels; at most 32 are supported");
    }

    [Fact]
    public void AnInconsistentBlockAlignIsRefused() =>
        Refused("align.wav", WavBytes.Build(WavBytes.Pcm, 2, 16_000, 16, new byte[4 * N], blockAlign: 2), "block align 2 bytes, but 2 channel(s) of 16-bit samples take 4");

    [Fact]
    public void AZeroBlockAlignIsRefused() =>
        Refused("align0.wav", WavBytes.Build(WavBytes.Pcm, 1, 16_000, 16, new byte[2 * N], blockAlign: 0), "block align of 0 bytes");

    [Fact]
    public void ADataChunkOfPartialFramesIsRefused() =>
        Refused("partial.wav", WavBytes.Build(WavBytes.Pcm, 2, 16_000, 16, new byte[4 * N + 2]), "not a whole number of 4-byte sample frames");

    [Fact]
    public void AnOversizedFileIsRefusedBeforeReading() =>
        Refused("big.wav", ValidPcm16(), "more than the 1000-byte limit", new AudioLoadOptions { MaxBytes = 1000 });

    [Fact]
    public void StreamErrorsNameTheGivenSource()
    {
        using var stream = new MemoryStream(Encoding.ASCII.GetBytes("hello world, not audio"));
        var e = Assert.Throws<AudioFormatException>(() => WavDecoder.Read(stream, "upload 42 from plant-a.line-3"));
        Assert.StartsWith("upload 42 from plant-a.line-3: not a WAV file", e.Message, StringComparison.Ordinal);

        using var big = new WavDecoderFormatTests.ForwardOnlyStream(ValidPcm16());
        var tooBig = Assert.Throws<AudioFormatException>(() => WavDecoder.Read(big, "device-7", new AudioLoadOptions { MaxBytes = 2000 }));
        Assert.Equal("device-7: the input is more than 2000 bytes, the size limit", tooBig.Message);
    }

    [Fact]
    public void AMissingFileIsAFileNotFoundException()
    {
        string path = dir.File("absent.wav");
        var e = Assert.Throws<FileNotFoundException>(() => WavDecoder.Read(path));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BadOptionsAreArgumentErrors()
    {
        Assert.Throws<ArgumentException>(() => new AudioLoadOptions { MaxSeconds = 0 }.Validate());
        Assert.Throws<ArgumentException>(() => new AudioLoadOptions { MinSeconds = double.NaN }.Validate());
        Assert.Throws<ArgumentException>(() => new AudioLoadOptions { TargetSampleRate = 0 }.Validate());
        Assert.Throws<ArgumentException>(() => new AudioLoadOptions { MaxChannels = 0 }.Validate());
    }

    /// <summary>
    /// Damaged files (random bytes overwritten in the header, random cuts, random garbage) are decoded or refused
    /// with an AudioFormatException; nothing else escapes.
    /// </summary>
    [Fact]
    public void DamagedFilesNeverThrowAnythingElse()
    {
        var random = new Random(20230501);
        byte[][] originals =
        [
            ValidPcm16(N, channels: 2),
            WavBytes.Float32(WavBytes.Sine(500, 22_050, 0.1), rate: 22_050),
            WavBytes.Pcm24(Enumerable.Range(0, N).ToArray(), subFormat: WavBytes.PcmSubFormat),
        ];
        int decoded = 0, refused = 0;
        for (int trial = 0; trial < 6000; trial++)
        {
            byte[] bytes = (byte[])originals[trial % originals.Length].Clone();
            switch (trial % 3)
            {
                case 0:
                    for (int k = random.Next(1, 4); k > 0; k--)
                        bytes[random.Next(Math.Min(bytes.Length, 64))] = (byte)random.Next(256);
                    break;
                case 1:
                    bytes = bytes[..random.Next(bytes.Length)];
                    break;
                default:
                    random.NextBytes(bytes.AsSpan(random.Next(12, 60)));
                    break;
            }
            using var stream = new MemoryStream(bytes);
            try
            {
                var clip = WavDecoder.Read(stream, $"trial {trial}");
                Assert.True(clip.Samples.Length > 0);
                decoded++;
            }
            catch (AudioFormatException e)
            {
                Assert.StartsWith($"trial {trial}: ", e.Message, StringComparison.Ordinal);
                refused++;
            }
        }
        Assert.True(decoded > 100 && refused > 100, $"decoded {decoded}, refused {refused}");
    }
}
