using System.Buffers.Binary;

namespace AsdOrleans.Audio;

/// <summary>
/// Writes mono WAV files: 16-bit PCM or 32-bit IEEE float. Files are written atomically (a temporary file in the
/// same folder, then a rename), so a reader sees the old file or the whole new one, never a part.
/// <para>
/// 16-bit: sample × 32768, rounded to nearest and clipped to [−32768, 32767], so values beyond [−1, 1] clip and
/// every value <see cref="WavDecoder"/> produces from a 16-bit file (v / 32768) writes back as v exactly.
/// Float: the samples as they are. Non-finite samples are refused (<see cref="ArgumentException"/>).
/// </para>
/// </summary>
public static class WavEncoder
{
    private const ushort PcmTag = 1;
    private const ushort FloatTag = 3;

    public static void WriteMono16(string path, ReadOnlySpan<float> samples, int sampleRate) =>
        WriteAtomically(path, EncodeMono16(samples, sampleRate));

    public static void WriteFloat32(string path, ReadOnlySpan<float> samples, int sampleRate) =>
        WriteAtomically(path, EncodeFloat32(samples, sampleRate));

    /// <summary>The bytes of a mono 16-bit PCM WAV file (canonical 44-byte header).</summary>
    public static byte[] EncodeMono16(ReadOnlySpan<float> samples, int sampleRate)
    {
        CheckArguments(samples, sampleRate);
        int dataBytes = checked(samples.Length * 2);
        var bytes = new byte[44 + dataBytes];
        var span = bytes.AsSpan();
        WriteRiffAndFormat(span, totalBytes: bytes.Length, PcmTag, sampleRate, bitsPerSample: 16, formatChunkBytes: 16);
        int data = WriteChunkHeader(span, 36, "data"u8, dataBytes);
        for (int i = 0; i < samples.Length; i++)
        {
            double scaled = Math.Round(samples[i] * 32768.0, MidpointRounding.ToEven);
            short value = (short)Math.Clamp(scaled, short.MinValue, short.MaxValue);
            BinaryPrimitives.WriteInt16LittleEndian(span[(data + 2 * i)..], value);
        }
        return bytes;
    }

    /// <summary>The bytes of a mono 32-bit IEEE float WAV file (fmt with cbSize 0, a fact chunk, then data).</summary>
    public static byte[] EncodeFloat32(ReadOnlySpan<float> samples, int sampleRate)
    {
        CheckArguments(samples, sampleRate);
        int dataBytes = checked(samples.Length * 4);
        const int headerBytes = 12 + (8 + 18) + (8 + 4) + 8;
        var bytes = new byte[headerBytes + dataBytes];
        var span = bytes.AsSpan();
        WriteRiffAndFormat(span, totalBytes: bytes.Length, FloatTag, sampleRate, bitsPerSample: 32, formatChunkBytes: 18);
        int fact = WriteChunkHeader(span, 12 + 8 + 18, "fact"u8, 4);
        BinaryPrimitives.WriteInt32LittleEndian(span[fact..], samples.Length); // sample frames, required for non-PCM
        int data = WriteChunkHeader(span, fact + 4, "data"u8, dataBytes);
        for (int i = 0; i < samples.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(span[(data + 4 * i)..], samples[i]);
        return bytes;
    }

    private static void CheckArguments(ReadOnlySpan<float> samples, int sampleRate)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sampleRate);
        for (int i = 0; i < samples.Length; i++)
        {
            if (!float.IsFinite(samples[i]))
                throw new ArgumentException($"sample {i} is {samples[i]}; only finite samples can be written", nameof(samples));
        }
    }

    private static void WriteRiffAndFormat(Span<byte> span, int totalBytes, ushort formatTag, int sampleRate, int bitsPerSample, int formatChunkBytes)
    {
        "RIFF"u8.CopyTo(span);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], totalBytes - 8);
        "WAVE"u8.CopyTo(span[8..]);
        int fmt = WriteChunkHeader(span, 12, "fmt "u8, formatChunkBytes);
        int blockAlign = bitsPerSample / 8; // mono
        BinaryPrimitives.WriteUInt16LittleEndian(span[fmt..], formatTag);
        BinaryPrimitives.WriteUInt16LittleEndian(span[(fmt + 2)..], 1);
        BinaryPrimitives.WriteInt32LittleEndian(span[(fmt + 4)..], sampleRate);
        BinaryPrimitives.WriteInt32LittleEndian(span[(fmt + 8)..], checked(sampleRate * blockAlign));
        BinaryPrimitives.WriteUInt16LittleEndian(span[(fmt + 12)..], (ushort)blockAlign);
        BinaryPrimitives.WriteUInt16LittleEndian(span[(fmt + 14)..], (ushort)bitsPerSample);
        if (formatChunkBytes >= 18)
            BinaryPrimitives.WriteUInt16LittleEndian(span[(fmt + 16)..], 0); // cbSize: no extension
    }

    /// <returns>The offset of the chunk's body.</returns>
    private static int WriteChunkHeader(Span<byte> span, int offset, ReadOnlySpan<byte> id, int length)
    {
        id.CopyTo(span[offset..]);
        BinaryPrimitives.WriteInt32LittleEndian(span[(offset + 4)..], length);
        return offset + 8;
    }

    private static void WriteAtomically(string path, byte[] bytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        string? directory = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(directory))
            Directory.CreateDirectory(directory);
        string temp = $"{full}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            File.WriteAllBytes(temp, bytes);
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
                File.Delete(temp);
        }
    }
}
