using System.Buffers.Binary;

namespace AsdOrleans.Audio;

/// <summary>
/// A WAV written to a pipe cannot go back to fill in its sizes: ffmpeg leaves the RIFF and data sizes at 0xFFFFFFFF,
/// other writers leave them at 0 (or a RIFF size that ends at the data chunk's header). NAudio reads such a header as
/// a chunk pointing far past the end of the file, or as one without a fmt chunk. This gives the file its real sizes:
/// the RIFF chunk runs to the end of the body, and an open data chunk (size 0xFFFFFFFF, or 0 as the last chunk) holds
/// the rest of the body in whole sample frames. A data size that is a real number is kept, so a truncated file is
/// still refused as truncated.
/// </summary>
internal static class StreamedWavHeader
{
    private const uint Unknown = 0xFFFFFFFF;

    /// <summary>The file with its sizes filled in, or null when its header needs nothing (every finished file).
    /// <paramref name="input"/> is a seekable RIFF/WAVE stream of <paramref name="fileBytes"/> bytes; its position is
    /// left at 0.</summary>
    public static MemoryStream? Completed(Stream input, long fileBytes)
    {
        if (fileBytes > uint.MaxValue || fileBytes > Array.MaxLength)
            return null;
        Span<byte> header = stackalloc byte[16];
        try
        {
            if (!TryRead(input, 0, header[..12]) || !header[..4].SequenceEqual("RIFF"u8))
                return null; // RF64 keeps its sizes in its ds64 chunk
            uint riffSize = BinaryPrimitives.ReadUInt32LittleEndian(header[4..8]);
            bool riffOpen = riffSize is 0 or Unknown;
            long riffEnd = riffOpen ? fileBytes : Math.Min(fileBytes, 8L + riffSize);
            int blockAlign = 0;
            long position = 12;
            while (position + 8 <= fileBytes)
            {
                if (!TryRead(input, position, header[..8]))
                    break;
                uint length = BinaryPrimitives.ReadUInt32LittleEndian(header[4..8]);
                long body = position + 8;
                if (header[..4].SequenceEqual("fmt "u8) && length >= 16 && TryRead(input, body, header[..14]))
                    blockAlign = BinaryPrimitives.ReadUInt16LittleEndian(header[12..14]); // after tag, channels, rate, bytes/s
                else if (header[..4].SequenceEqual("data"u8))
                {
                    // 0 is an open size only for the last chunk the RIFF size covers: else it is an empty data chunk.
                    bool dataOpen = length == Unknown || (length == 0 && fileBytes > body && (riffOpen || riffEnd <= body));
                    if (!dataOpen)
                        return riffOpen ? WithSizes(input, fileBytes, dataSizeAt: -1, dataSize: 0) : null;
                    long audio = fileBytes - body;
                    if (blockAlign > 0)
                        audio -= audio % blockAlign; // a writer stopped mid-frame: whole frames only
                    return WithSizes(input, body + audio, dataSizeAt: position + 4, dataSize: audio);
                }
                position = body + length + (length & 1);
            }
            return riffOpen ? WithSizes(input, fileBytes, dataSizeAt: -1, dataSize: 0) : null;
        }
        finally
        {
            input.Position = 0;
        }
    }

    /// <summary>The first <paramref name="length"/> bytes of the file, with the RIFF size saying so and, where
    /// <paramref name="dataSizeAt"/> is not −1, the data chunk's size set to <paramref name="dataSize"/>.</summary>
    private static MemoryStream WithSizes(Stream input, long length, long dataSizeAt, long dataSize)
    {
        var bytes = new byte[length];
        input.Position = 0;
        input.ReadExactly(bytes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4, 4), (uint)(length - 8));
        if (dataSizeAt >= 0)
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan((int)dataSizeAt, 4), (uint)dataSize);
        return new MemoryStream(bytes, writable: false);
    }

    private static bool TryRead(Stream input, long position, Span<byte> buffer)
    {
        input.Position = position;
        return input.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false) == buffer.Length;
    }
}
