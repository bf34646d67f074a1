using System.Buffers;
using NAudio.Wave;

namespace AsdOrleans.Datasets.Synthesis;

/// <summary>Writes 16-bit PCM mono WAV files with NAudio, atomically (a temporary name in the same folder, then a rename).</summary>
public static class PcmWavWriter
{
    public static void Write(string path, ReadOnlySpan<float> samples, int sampleRate)
    {
        var pcm = ArrayPool<short>.Shared.Rent(samples.Length);
        for (int i = 0; i < samples.Length; i++)
            pcm[i] = (short)Math.Clamp(Math.Round(samples[i] * 32767.0), short.MinValue + 1, short.MaxValue);
        string temp = path + ".partial";
        try
        {
            using (var writer = new WaveFileWriter(temp, new WaveFormat(sampleRate, 16, 1)))
                writer.WriteSamples(pcm, 0, samples.Length);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            ArrayPool<short>.Shared.Return(pcm);
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
