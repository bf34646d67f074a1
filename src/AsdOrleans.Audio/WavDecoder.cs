using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using NAudio.Wave;
using NAudio.Wave.SampleProviders;

namespace AsdOrleans.Audio;

/// <summary>
/// Reads a WAV file into a mono clip at the target rate through a chain of NAudio sample providers:
/// <c>WaveFileReader → PCM/float converter → <see cref="FiniteSampleGuard"/> → <see cref="DownmixSampleProvider"/>
/// → <see cref="SincResamplingSampleProvider"/></c>; the last two only where needed. The output is checked to be
/// finite as well, since huge float samples can overflow in the downmix or the resampler.
/// <para>
/// Read: PCM 8 (unsigned), 16, 24 and 32 bit and IEEE float 32 and 64 bit, plain or WAVE_FORMAT_EXTENSIBLE,
/// RIFF or RF64 (also as written to a pipe, with sizes left at 0 or 0xFFFFFFFF: <see cref="StreamedWavHeader"/>),
/// 1 to <see cref="AudioLoadOptions.MaxChannels"/> channels, <see cref="MinSampleRate"/> to
/// <see cref="MaxSampleRate"/> Hz. PCM becomes value / 2^(bits−1) (8 bit: (byte − 128) / 128); float is kept.
/// At the target rate there is no resampling, so a mono file's samples are exactly those values.
/// </para>
/// <para>
/// Everything wrong with the content is an <see cref="AudioFormatException"/> naming the source and the problem;
/// no NAudio exception escapes. Duration and size limits are checked from the header before decoding.
/// A missing or unreadable file is the usual <see cref="FileNotFoundException"/> / <see cref="IOException"/> /
/// <see cref="UnauthorizedAccessException"/>.
/// </para>
/// </summary>
public static class WavDecoder
{
    public const int MinSampleRate = 1_000;
    public const int MaxSampleRate = 768_000;

    private const int RiffHeaderBytes = 12;

    /// <summary>Reads the WAV file at <paramref name="path"/>; messages name the path.</summary>
    public static AudioClip Read(string path, AudioLoadOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return Read(stream, path, options);
    }

    /// <summary>
    /// Reads a WAV file from <paramref name="stream"/> (from its current position to its end; a stream that cannot
    /// seek is first buffered in memory, up to <see cref="AudioLoadOptions.MaxBytes"/>). The stream is not disposed.
    /// </summary>
    /// <param name="sourceName">Names the audio in messages and in <see cref="AudioClip.Source"/>.</param>
    public static AudioClip Read(Stream stream, string sourceName, AudioLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(sourceName);
        options = (options ?? AudioLoadOptions.Default).Validate();

        Stream input = stream.CanSeek && stream.Position == 0 ? stream : Buffer(stream, sourceName, options.MaxBytes);
        try
        {
            return Decode(input, sourceName, options);
        }
        finally
        {
            if (!ReferenceEquals(input, stream))
                input.Dispose();
        }
    }

    private static AudioClip Decode(Stream input, string source, AudioLoadOptions options)
    {
        long fileBytes = input.Length;
        if (fileBytes == 0)
            throw new AudioFormatException(source, "the file is empty (0 bytes), not a WAV file");
        if (fileBytes > options.MaxBytes)
            throw new AudioFormatException(source, $"the file is {fileBytes} bytes, more than the {options.MaxBytes}-byte limit");
        CheckRiffSignature(input, source);
        using var completed = StreamedWavHeader.Completed(input, fileBytes); // a WAV written to a pipe: sizes 0 or 0xFFFFFFFF
        if (completed is not null)
            (input, fileBytes) = (completed, completed.Length);

        using var reader = OpenReader(input, source);
        long dataStart = input.Position; // WaveFileReader leaves the stream at the start of the data chunk
        var layout = SampleLayout.Of(reader.WaveFormat, source, options);

        long declared = reader.Length;
        long present = Math.Max(0, fileBytes - dataStart);
        if (declared > present)
            throw new AudioFormatException(source,
                $"truncated: the data chunk header promises {declared} bytes of audio but only {present} are present " +
                $"({Seconds(present / layout.BlockAlign, layout.SampleRate)} of {Seconds(declared / layout.BlockAlign, layout.SampleRate)})");
        if (declared % layout.BlockAlign != 0)
            throw new AudioFormatException(source,
                $"the data chunk holds {declared} bytes, not a whole number of {layout.BlockAlign}-byte sample frames ({layout})");

        long frames = declared / layout.BlockAlign;
        if (frames == 0)
            throw new AudioFormatException(source, $"contains no audio samples (the data chunk is empty; {layout})");
        double seconds = (double)frames / layout.SampleRate;
        if (seconds > options.MaxSeconds)
            throw new AudioFormatException(source,
                $"too long: {Seconds(frames, layout.SampleRate)} ({frames} samples at {layout.SampleRate} Hz), more than the {Number(options.MaxSeconds)} s allowed");
        if (seconds < options.MinSeconds)
            throw new AudioFormatException(source,
                $"too short: {Seconds(frames, layout.SampleRate)} ({frames} samples at {layout.SampleRate} Hz), less than the {Number(options.MinSeconds)} s needed");

        ISampleProvider chain = Converter(reader, layout);
        FiniteSampleGuard? guard = null;
        if (layout.IsFloat)
            chain = guard = new FiniteSampleGuard(chain, source);
        if (layout.Channels > 1)
            chain = new DownmixSampleProvider(chain);
        if (layout.SampleRate != options.TargetSampleRate)
            chain = new SincResamplingSampleProvider(chain, options.TargetSampleRate);

        long expected = (long)Math.Round(frames * (double)options.TargetSampleRate / layout.SampleRate);
        float[] samples;
        try
        {
            samples = ReadAll(chain, expected);
        }
        catch (Exception e) when (e is not (AudioFormatException or IOException or UnauthorizedAccessException or OutOfMemoryException))
        {
            throw new AudioFormatException(source, $"cannot decode the samples ({layout}): {e.Message}", e);
        }
        if (layout.SampleRate == options.TargetSampleRate && samples.Length != frames)
            throw new AudioFormatException(source, $"truncated: read {samples.Length} of the {frames} samples the header promises");
        if (samples.Length == 0)
            throw new AudioFormatException(source, "contains no audio samples");
        CheckFiniteAfterChain(samples, source, layout, options, guard);
        return new AudioClip(samples, options.TargetSampleRate, source, layout.SampleRate, layout.Channels);
    }

    // ------------------------------------------------------------------ header

    /// <summary>Says what the file is when it is not RIFF/WAVE, before NAudio's terse "no RIFF header".</summary>
    private static void CheckRiffSignature(Stream input, string source)
    {
        Span<byte> head = stackalloc byte[RiffHeaderBytes];
        int read = input.ReadAtLeast(head, RiffHeaderBytes, throwOnEndOfStream: false);
        input.Position = 0;
        head = head[..read];
        bool riff = read >= 4 && (head[..4].SequenceEqual("RIFF"u8) || head[..4].SequenceEqual("RF64"u8));
        if (!riff)
            throw new AudioFormatException(source, $"not a WAV file: {DescribeForeignContent(head)} instead of a RIFF/WAVE header");
        if (read < RiffHeaderBytes)
            throw new AudioFormatException(source, $"truncated: only {read} bytes, too few for a RIFF/WAVE header");
        if (!head[8..12].SequenceEqual("WAVE"u8))
            throw new AudioFormatException(source, $"not a WAV file: a RIFF file of type '{Printable(head[8..12])}', not 'WAVE'");
    }

    private static bool IsUtf8(ReadOnlySpan<byte> bytes) => System.Text.Unicode.Utf8.IsValid(bytes);

    private static string DescribeForeignContent(ReadOnlySpan<byte> head)
    {
        if (head.StartsWith("ID3"u8) || (head.Length >= 2 && head[0] == 0xFF && (head[1] & 0xE0) == 0xE0))
            return "it looks like an MP3 file";
        if (head.StartsWith("fLaC"u8))
            return "it looks like a FLAC file";
        if (head.StartsWith("OggS"u8))
            return "it looks like an Ogg file";
        if (head.StartsWith("FORM"u8))
            return "it looks like an AIFF file";
        bool text = true;
        foreach (byte b in head)
            text &= b is (>= 0x20 and < 0x7F) or (byte)'\t' or (byte)'\r' or (byte)'\n' or >= 0x80;
        // Bytes from 0x80 are text only as UTF-8 (the head may cut its last character): else most random data would read as text.
        text &= IsUtf8(head) || (head.Length > 1 && IsUtf8(head[..^1])) || (head.Length > 2 && IsUtf8(head[..^2])) || (head.Length > 3 && IsUtf8(head[..^3]));
        return text ? $"it looks like text (starts with \"{Printable(head)}\")" : $"it starts with bytes {Convert.ToHexString(head)}";
    }

    private static WaveFileReader OpenReader(Stream input, string source)
    {
        try
        {
            return new WaveFileReader(input);
        }
        catch (EndOfStreamException e)
        {
            throw new AudioFormatException(source, "truncated: the file ends inside its WAV header", e);
        }
        catch (DivideByZeroException e)
        {
            // WaveFileReader's constructor rounds its position down to a whole block: a zero block align divides by zero.
            throw new AudioFormatException(source, "not a valid WAV file: the fmt chunk declares a block align of 0 bytes", e);
        }
        catch (ArgumentOutOfRangeException e)
        {
            // NAudio skips a chunk by moving the stream position by its length; a huge length overflows it.
            throw new AudioFormatException(source, "not a valid WAV file: a chunk's length points far past the end of the file", e);
        }
        catch (Exception e) when (e is not (IOException or UnauthorizedAccessException or OutOfMemoryException))
        {
            // NAudio parses the header in memory; whatever else it throws (FormatException, InvalidDataException,
            // ArgumentException, DivideByZeroException for a zero block align, …) is about the content.
            throw new AudioFormatException(source, $"not a valid WAV file: {e.Message}", e);
        }
    }

    private static ISampleProvider Converter(WaveFileReader reader, SampleLayout layout)
    {
        IWaveProvider wave = reader.WaveFormat.Encoding == WaveFormatEncoding.Extensible
            ? new WaveFormatOverride(reader, layout.PlainFormat())
            : reader;
        return (layout.IsFloat, layout.BitsPerSample) switch
        {
            (false, 8) => new Pcm8BitToSampleProvider(wave),
            (false, 16) => new Pcm16BitToSampleProvider(wave),
            (false, 24) => new Pcm24BitToSampleProvider(wave),
            (false, 32) => new Pcm32BitToSampleProvider(wave),
            (true, 32) => new WaveToSampleProvider(wave),
            (true, 64) => new WaveToSampleProvider64(wave),
            _ => throw new InvalidOperationException($"no converter for {layout}"), // SampleLayout.Of refuses these
        };
    }

    /// <summary>
    /// The guard sees the file's own samples; finite but huge float samples (near ±3.4e38) can still overflow when
    /// channels are summed or the resampler's filter adds them up. Such a clip would reach the features as NaN/∞ and
    /// be blamed on the model or the learning rate, so it is refused here, naming the file.
    /// </summary>
    private static void CheckFiniteAfterChain(float[] samples, string source, SampleLayout layout, AudioLoadOptions options, FiniteSampleGuard? guard)
    {
        int bad = Array.FindIndex(samples, v => !float.IsFinite(v));
        if (bad < 0)
            return;
        var stages = new List<string>(2);
        if (layout.Channels > 1) stages.Add($"mixed down from {layout.Channels} channels to mono");
        if (layout.SampleRate != options.TargetSampleRate) stages.Add($"resampled from {layout.SampleRate} to {options.TargetSampleRate} Hz");
        string largest = guard is null ? "" : $" (the largest is {guard.MaxMagnitude.ToString("G3", CultureInfo.InvariantCulture)})";
        throw new AudioFormatException(source,
            $"its float samples are too large{largest}: they overflow to ±infinity when {(stages.Count == 0 ? "decoded" : string.Join(" and ", stages))} " +
            $"(output sample {bad}, at {Number((double)bad / options.TargetSampleRate)} s); float WAV samples normally lie within ±1");
    }

    // ------------------------------------------------------------------ reading

    private static float[] ReadAll(ISampleProvider chain, long expected)
    {
        var samples = new float[checked((int)Math.Min(expected + 64, Array.MaxLength))];
        int count = 0;
        while (true)
        {
            if (count == samples.Length)
                Array.Resize(ref samples, (int)Math.Min((long)samples.Length * 2, Array.MaxLength));
            int read = chain.Read(samples, count, Math.Min(samples.Length - count, 1 << 16));
            if (read <= 0)
                break;
            count += read;
        }
        return count == samples.Length ? samples : samples[..count];
    }

    private static MemoryStream Buffer(Stream stream, string source, long maxBytes)
    {
        var memory = new MemoryStream();
        var chunk = new byte[1 << 16];
        int read;
        while ((read = stream.Read(chunk, 0, chunk.Length)) > 0)
        {
            if (memory.Length + read > maxBytes)
                throw new AudioFormatException(source, $"the input is more than {maxBytes} bytes, the size limit");
            memory.Write(chunk, 0, read);
        }
        memory.Position = 0;
        return memory;
    }

    private static string Seconds(long frames, int sampleRate) => $"{Number((double)frames / sampleRate)} s";

    private static string Number(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);

    private static string Printable(ReadOnlySpan<byte> bytes)
    {
        var text = new StringBuilder(bytes.Length);
        foreach (byte b in bytes)
            text.Append(b is >= 0x20 and < 0x7F ? (char)b : '.');
        return text.ToString();
    }

    // ------------------------------------------------------------------ format

    /// <summary>The decodable description of a fmt chunk; <see cref="Of"/> refuses everything else.</summary>
    private readonly record struct SampleLayout(bool IsFloat, int BitsPerSample, int Channels, int SampleRate, int BlockAlign)
    {
        private static readonly Guid PcmSubFormat = new("00000001-0000-0010-8000-00aa00389b71");
        private static readonly Guid FloatSubFormat = new("00000003-0000-0010-8000-00aa00389b71");

        public static SampleLayout Of(WaveFormat format, string source, AudioLoadOptions options)
        {
            var encoding = format.Encoding;
            string extensible = "";
            if (encoding == WaveFormatEncoding.Extensible)
            {
                encoding = SubFormat(format, source);
                extensible = " (WAVE_FORMAT_EXTENSIBLE)";
            }
            // The header's fields are unsigned (NAudio reads them signed): 0xFFFF channels is 65535, not -1.
            int channels = (ushort)format.Channels, bits = (ushort)format.BitsPerSample;
            long rate = (uint)format.SampleRate;
            bool isFloat;
            if (encoding == WaveFormatEncoding.Pcm)
            {
                if (bits is not (8 or 16 or 24 or 32))
                    throw new AudioFormatException(source, $"unsupported PCM bit depth {bits}{extensible}; 8, 16, 24 and 32-bit PCM are read");
                isFloat = false;
            }
            else if (encoding == WaveFormatEncoding.IeeeFloat)
            {
                if (bits is not (32 or 64))
                    throw new AudioFormatException(source, $"unsupported IEEE float sample size {bits} bits{extensible}; 32 and 64-bit float are read");
                isFloat = true;
            }
            else
            {
                throw new AudioFormatException(source,
                    $"unsupported encoding {EncodingName(encoding)} (format tag 0x{(int)encoding:X4}){extensible}; " +
                    "only PCM (8/16/24/32-bit) and IEEE float (32/64-bit) WAV files are read");
            }
            if (channels < 1)
                throw new AudioFormatException(source, $"the header declares {channels} channels");
            if (channels > options.MaxChannels)
                throw new AudioFormatException(source, options.MaxChannels == 1 ? $"{channels} channels; only mono is accepted here" : $"{channels} channels; at most {options.MaxChannels} are supported");
            if (rate < MinSampleRate || rate > MaxSampleRate)
                throw new AudioFormatException(source, $"unsupported sample rate {rate} Hz; {MinSampleRate} to {MaxSampleRate} Hz are read");
            int blockAlign = channels * (bits / 8);
            if ((ushort)format.BlockAlign != blockAlign)
                throw new AudioFormatException(source,
                    $"inconsistent header: block align {(ushort)format.BlockAlign} bytes, but {channels} channel(s) of {bits}-bit samples take {blockAlign}");
            return new SampleLayout(isFloat, bits, channels, (int)rate, blockAlign);
        }

        /// <summary>The same samples described without the EXTENSIBLE wrapper, as NAudio's converters expect.</summary>
        public WaveFormat PlainFormat() => IsFloat
            ? WaveFormat.CreateCustomFormat(WaveFormatEncoding.IeeeFloat, SampleRate, Channels, SampleRate * BlockAlign, BlockAlign, BitsPerSample)
            : new WaveFormat(SampleRate, BitsPerSample, Channels);

        public override string ToString() =>
            $"{BitsPerSample}-bit {(IsFloat ? "float" : "PCM")}, {Channels} channel(s), {SampleRate} Hz";

        private static WaveFormatEncoding SubFormat(WaveFormat format, string source)
        {
            // cbSize 22: valid bits (2), channel mask (4), sub-format GUID (16).
            if (format is not WaveFormatExtraData extra || extra.ExtraSize < 22 || extra.ExtraData.Length < 22)
                throw new AudioFormatException(source, "WAVE_FORMAT_EXTENSIBLE header without its 22-byte extension (no sub-format)");
            var guid = new Guid(extra.ExtraData.AsSpan(6, 16));
            if (guid == PcmSubFormat) return WaveFormatEncoding.Pcm;
            if (guid == FloatSubFormat) return WaveFormatEncoding.IeeeFloat;
            // Other KSDATAFORMAT sub-types carry a classic format tag in their first two bytes.
            ushort tag = BinaryPrimitives.ReadUInt16LittleEndian(extra.ExtraData.AsSpan(6, 2));
            throw new AudioFormatException(source,
                $"unsupported encoding {EncodingName((WaveFormatEncoding)tag)} (WAVE_FORMAT_EXTENSIBLE sub-format {guid}); " +
                "only PCM (8/16/24/32-bit) and IEEE float (32/64-bit) WAV files are read");
        }

        private static string EncodingName(WaveFormatEncoding encoding) => encoding switch
        {
            WaveFormatEncoding.Adpcm => "Microsoft ADPCM",
            WaveFormatEncoding.DviAdpcm => "IMA ADPCM",
            WaveFormatEncoding.ALaw => "A-law",
            WaveFormatEncoding.MuLaw => "mu-law",
            WaveFormatEncoding.MpegLayer3 => "MPEG layer 3 (MP3)",
            WaveFormatEncoding.Mpeg => "MPEG",
            WaveFormatEncoding.Gsm610 => "GSM 6.10",
            WaveFormatEncoding.Unknown => "unknown (tag 0)",
            _ when Enum.IsDefined(encoding) => encoding.ToString(),
            _ => "unknown",
        };
    }

    /// <summary>Presents a reader's bytes under another (equivalent) format.</summary>
    private sealed class WaveFormatOverride(IWaveProvider source, WaveFormat format) : IWaveProvider
    {
        public WaveFormat WaveFormat { get; } = format;

        public int Read(byte[] buffer, int offset, int count) => source.Read(buffer, offset, count);
    }
}
