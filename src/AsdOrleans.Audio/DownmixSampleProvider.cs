using NAudio.Wave;

namespace AsdOrleans.Audio;

/// <summary>
/// Averages the interleaved channels of any channel count into one: out = (c₀ + c₁ + … + cₙ₋₁) / n, summed in
/// channel order in single precision. (NAudio's StereoToMonoSampleProvider handles two channels only.)
/// </summary>
public sealed class DownmixSampleProvider : ISampleProvider
{
    private readonly ISampleProvider source;
    private readonly int channels;
    private float[] sourceBuffer = [];

    public DownmixSampleProvider(ISampleProvider source)
    {
        ArgumentNullException.ThrowIfNull(source);
        channels = source.WaveFormat.Channels;
        if (channels < 1)
            throw new ArgumentException($"source must have at least one channel, has {channels}", nameof(source));
        this.source = source;
        WaveFormat = WaveFormat.CreateIeeeFloatWaveFormat(source.WaveFormat.SampleRate, 1);
    }

    public WaveFormat WaveFormat { get; }

    public int Read(float[] buffer, int offset, int count)
    {
        int wanted = count * channels;
        if (sourceBuffer.Length < wanted)
            sourceBuffer = new float[wanted];
        int read = source.Read(sourceBuffer, 0, wanted);
        int frames = read / channels;
        for (int f = 0, i = 0; f < frames; f++)
        {
            float sum = 0;
            for (int c = 0; c < channels; c++, i++)
                sum += sourceBuffer[i];
            buffer[offset + f] = sum / channels;
        }
        return frames;
    }
}
