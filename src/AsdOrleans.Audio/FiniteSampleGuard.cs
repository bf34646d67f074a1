using NAudio.Wave;

namespace AsdOrleans.Audio;

/// <summary>
/// Passes samples through and refuses NaN or infinite ones with an <see cref="AudioFormatException"/> that
/// names the source, the sample frame, the channel and the time. Placed right after the decoder, before the
/// downmix and the resampler would smear one bad value over its neighbours. Finite samples can still overflow in
/// those stages (two ±3e38 channels sum past float's range); <see cref="WavDecoder"/> checks the chain's output too.
/// </summary>
public sealed class FiniteSampleGuard : ISampleProvider
{
    private readonly ISampleProvider source;
    private readonly string sourceName;
    private long samplesRead;

    public FiniteSampleGuard(ISampleProvider source, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(source);
        this.source = source;
        this.sourceName = sourceName;
    }

    public WaveFormat WaveFormat => source.WaveFormat;

    /// <summary>The largest magnitude among the samples passed so far (to say why a later stage overflowed).</summary>
    public float MaxMagnitude { get; private set; }

    public int Read(float[] buffer, int offset, int count)
    {
        int read = source.Read(buffer, offset, count);
        for (int i = 0; i < read; i++)
        {
            float value = buffer[offset + i];
            if (float.IsFinite(value))
            {
                MaxMagnitude = Math.Max(MaxMagnitude, Math.Abs(value));
                continue;
            }
            int channels = WaveFormat.Channels;
            long index = samplesRead + i;
            long frame = index / channels;
            string what = float.IsNaN(value) ? "NaN" : value > 0 ? "+infinity" : "-infinity";
            string channel = channels > 1 ? $", channel {index % channels}" : "";
            throw new AudioFormatException(sourceName,
                $"sample {frame}{channel} (at {(double)frame / WaveFormat.SampleRate:F3} s) is {what}; audio samples must be finite numbers");
        }
        samplesRead += read;
        return read;
    }
}
