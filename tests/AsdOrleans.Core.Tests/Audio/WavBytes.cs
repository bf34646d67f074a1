using System.Buffers.Binary;

namespace AsdOrleans.Core.Tests.Audio;

/// <summary>Builds WAV files byte by byte, so tests control every header field (including wrong ones).</summary>
internal static class WavBytes
{
    public const ushort Pcm = 1, Adpcm = 2, IeeeFloat = 3, ALaw = 6, MuLaw = 7, Extensible = 0xFFFE;

    public static readonly Guid PcmSubFormat = new("00000001-0000-0010-8000-00aa00389b71");
    public static readonly Guid FloatSubFormat = new("00000003-0000-0010-8000-00aa00389b71");
    public static readonly Guid ALawSubFormat = new("00000006-0000-0010-8000-00aa00389b71");

    /// <summary>RIFF/WAVE with a fmt chunk and a data chunk; optional overrides produce broken files.</summary>
    public static byte[] Build(ushort formatTag, int channels, int sampleRate, int bitsPerSample, byte[] data,
        int? blockAlign = null, long? declaredDataBytes = null, Guid? subFormat = null, int? validBits = null)
    {
        int align = blockAlign ?? channels * bitsPerSample / 8;
        var fmt = new List<byte>();
        fmt.AddRange(U16(formatTag));
        fmt.AddRange(U16((ushort)channels));
        fmt.AddRange(I32(sampleRate));
        fmt.AddRange(I32(sampleRate * align));
        fmt.AddRange(U16((ushort)align));
        fmt.AddRange(U16((ushort)bitsPerSample));
        if (subFormat is { } guid)
        {
            fmt.AddRange(U16(22));
            fmt.AddRange(U16((ushort)(validBits ?? bitsPerSample)));
            fmt.AddRange(I32(channels == 2 ? 3 : 0)); // channel mask
            fmt.AddRange(guid.ToByteArray());
        }
        var body = new List<byte>();
        body.AddRange("WAVE"u8.ToArray());
        body.AddRange(Chunk("fmt ", fmt.ToArray()));
        body.AddRange("data"u8.ToArray());
        body.AddRange(U32((uint)(declaredDataBytes ?? data.Length)));
        body.AddRange(data);
        if (data.Length % 2 == 1 && declaredDataBytes is null)
            body.Add(0);
        var file = new List<byte>();
        file.AddRange("RIFF"u8.ToArray());
        file.AddRange(I32(body.Count + (int)Math.Max(0, (declaredDataBytes ?? data.Length) - data.Length)));
        file.AddRange(body);
        return file.ToArray();
    }

    public static byte[] Pcm8(byte[] samples, int channels = 1, int rate = 16_000) => Build(Pcm, channels, rate, 8, samples);

    public static byte[] Pcm16(short[] samples, int channels = 1, int rate = 16_000) =>
        Build(Pcm, channels, rate, 16, Encode(samples, 2, (s, v) => BinaryPrimitives.WriteInt16LittleEndian(s, v)));

    public static byte[] Pcm24(int[] samples, int channels = 1, int rate = 16_000, Guid? subFormat = null) =>
        Build(subFormat is null ? Pcm : Extensible, channels, rate, 24, Encode(samples, 3, (s, v) =>
        {
            s[0] = (byte)v;
            s[1] = (byte)(v >> 8);
            s[2] = (byte)(v >> 16);
        }), subFormat: subFormat);

    public static byte[] Pcm32(int[] samples, int channels = 1, int rate = 16_000) =>
        Build(Pcm, channels, rate, 32, Encode(samples, 4, (s, v) => BinaryPrimitives.WriteInt32LittleEndian(s, v)));

    public static byte[] Float32(float[] samples, int channels = 1, int rate = 16_000, Guid? subFormat = null) =>
        Build(subFormat is null ? IeeeFloat : Extensible, channels, rate, 32,
            Encode(samples, 4, (s, v) => BinaryPrimitives.WriteSingleLittleEndian(s, v)), subFormat: subFormat);

    public static byte[] Float64(double[] samples, int channels = 1, int rate = 16_000) =>
        Build(IeeeFloat, channels, rate, 64, Encode(samples, 8, (s, v) => BinaryPrimitives.WriteDoubleLittleEndian(s, v)));

    public static float[] Sine(double frequency, int sampleRate, double seconds, double amplitude = 0.5)
    {
        var x = new float[(int)Math.Round(seconds * sampleRate)];
        for (int i = 0; i < x.Length; i++)
            x[i] = (float)(amplitude * Math.Sin(2 * Math.PI * frequency * i / sampleRate));
        return x;
    }

    public static short[] ToPcm16(float[] x) => x.Select(v => (short)Math.Round(Math.Clamp(v * 32768.0, -32768, 32767))).ToArray();

    private delegate void Writer<T>(Span<byte> target, T value);

    private static byte[] Encode<T>(T[] samples, int width, Writer<T> write)
    {
        var bytes = new byte[samples.Length * width];
        for (int i = 0; i < samples.Length; i++)
            write(bytes.AsSpan(i * width, width), samples[i]);
        return bytes;
    }

    private static byte[] Chunk(string id, byte[] body)
    {
        var chunk = new List<byte>();
        chunk.AddRange(System.Text.Encoding.ASCII.GetBytes(id));
        chunk.AddRange(I32(body.Length));
        chunk.AddRange(body);
        return chunk.ToArray();
    }

    private static byte[] U16(ushort v) { var b = new byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); return b; }
    private static byte[] I32(int v) { var b = new byte[4]; BinaryPrimitives.WriteInt32LittleEndian(b, v); return b; }
    private static byte[] U32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); return b; }
}
