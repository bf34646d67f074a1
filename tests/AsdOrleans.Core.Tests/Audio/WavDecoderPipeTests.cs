using System.Buffers.Binary;
using AsdOrleans.Audio;

namespace AsdOrleans.Core.Tests.Audio;

/// <summary>WAVs written to a pipe (ffmpeg, sox, …): the writer cannot go back to fill in the RIFF and data sizes, so
/// they are 0 or 0xFFFFFFFF. The audio runs to the end of the body, in whole sample frames; a real size that points
/// past the end is still a truncated file.</summary>
public sealed class WavDecoderPipeTests : IDisposable
{
    private const int N = 1600;
    private const int RiffSizeAt = 4, DataSizeAt = 40; // WavBytes.Build: fmt (16 bytes) at 12, data header at 36
    private readonly TempDirectory dir = new();

    public void Dispose() => dir.Dispose();

    private static readonly short[] Pcm = Enumerable.Range(0, N).Select(i => (short)(i * 37 % 20_000 - 10_000)).ToArray();
    private static float[] Expected(short[] pcm) => pcm.Select(v => v / 32768f).ToArray();

    private static byte[] WithSizes(byte[] wav, uint riff, uint? data = null, int at = DataSizeAt)
    {
        var copy = (byte[])wav.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(RiffSizeAt), riff);
        if (data is { } d) BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(at), d);
        return copy;
    }

    /// <summary>Decoded from a file and from memory (the silo's HTTP ingest), which NAudio reads differently.</summary>
    private AudioClip[] Both(string name, byte[] bytes)
    {
        var fromFile = WavDecoder.Read(dir.Write(name, bytes));
        using var memory = new MemoryStream(bytes, writable: false);
        return [fromFile, WavDecoder.Read(memory, name)];
    }

    private void Refused(string name, byte[] bytes, string problem)
    {
        var fromFile = Assert.Throws<AudioFormatException>(() => WavDecoder.Read(dir.Write(name, bytes)));
        Assert.Contains(problem, fromFile.Problem, StringComparison.Ordinal);
        using var memory = new MemoryStream(bytes, writable: false);
        var fromMemory = Assert.Throws<AudioFormatException>(() => WavDecoder.Read(memory, name));
        Assert.Contains(problem, fromMemory.Problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0xFFFFFFFFu, 0xFFFFFFFFu)] // ffmpeg to a pipe
    [InlineData(0u, 0u)]                   // a header written before any audio, never filled in
    [InlineData(36u, 0u)]                  // the same with the RIFF size of the empty file (Python's wave)
    [InlineData(0u, 0xFFFFFFFFu)]
    [InlineData(0xFFFFFFFFu, 3200u)]       // an open RIFF size with a real data size
    [InlineData(0u, 3200u)]                // was "No fmt chunk found"
    public void A_wav_written_to_a_pipe_is_read_to_the_end_of_its_body(uint riff, uint data)
    {
        foreach (var clip in Both($"pipe-{riff:x}-{data:x}.wav", WithSizes(WavBytes.Pcm16(Pcm), riff, data)))
            Assert.Equal(Expected(Pcm), clip.Samples);
    }

    [Fact]
    public void A_writer_stopped_mid_frame_gives_its_whole_frames()
    {
        byte[] stereo = WavBytes.Pcm16([.. Pcm, .. Pcm], channels: 2);
        foreach (var clip in Both("mid-frame.wav", WithSizes([.. stereo, 0x11, 0x22, 0x33], 0xFFFFFFFF, 0xFFFFFFFF)))
            Assert.Equal(N, clip.Samples.Length);
        foreach (var clip in Both("mid-sample.wav", WithSizes([.. WavBytes.Pcm16(Pcm), 0x7F], 0, 0)))
            Assert.Equal(Expected(Pcm), clip.Samples);
    }

    [Fact]
    public void Chunks_before_the_open_data_chunk_are_walked_as_usual()
    {
        byte[] wav = WavBytes.Pcm16(Pcm);
        byte[] list = [.. "LIST"u8, 5, 0, 0, 0, .. "INFOx"u8, 0]; // an odd size, padded
        byte[] withList = [.. wav[..36], .. list, .. wav[36..]];
        foreach (var clip in Both("list.wav", WithSizes(withList, 0xFFFFFFFF, 0xFFFFFFFF, at: DataSizeAt + list.Length)))
            Assert.Equal(Expected(Pcm), clip.Samples);
    }

    [Fact]
    public void A_real_data_size_past_the_end_is_still_truncated()
    {
        byte[] cut = WavBytes.Pcm16(Pcm)[..^1000];
        Refused("cut-open-riff.wav", WithSizes(cut, 0xFFFFFFFF), "promises 3200 bytes of audio but only 2200 are present");
        Refused("cut-zero-riff.wav", WithSizes(cut, 0), "promises 3200 bytes of audio but only 2200 are present");
    }

    [Fact]
    public void An_open_header_without_audio_has_no_samples()
        => Refused("open-empty.wav", WithSizes(WavBytes.Pcm16([]), 0xFFFFFFFF, 0xFFFFFFFF), "contains no audio samples");

    [Fact]
    public void An_empty_data_chunk_followed_by_other_chunks_is_still_empty()
    {
        byte[] empty = WavBytes.Pcm16([]);
        byte[] list = [.. "LIST"u8, 4, 0, 0, 0, .. "INFO"u8];
        byte[] file = [.. empty, .. list];
        Refused("empty-then-list.wav", WithSizes(file, (uint)(file.Length - 8)), "contains no audio samples");
    }
}
