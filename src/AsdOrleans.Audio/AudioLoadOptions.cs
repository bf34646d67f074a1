using AsdOrleans.Audio.Features;

namespace AsdOrleans.Audio;

/// <summary>
/// Limits and target format for <see cref="WavDecoder"/>. The defaults suit DCASE clips (6–18 s at 16 kHz)
/// arriving at an ingest endpoint.
/// </summary>
public sealed record AudioLoadOptions
{
    /// <summary>Rate of the decoded mono signal; other rates are resampled (the paper's front end is 16 kHz).</summary>
    public int TargetSampleRate { get; init; } = 16_000;

    /// <summary>Longest accepted clip, judged from the header before any sample is decoded.</summary>
    public double MaxSeconds { get; init; } = 60;

    /// <summary>
    /// Shortest accepted clip. 0.05 s is 800 samples at 16 kHz, above the 513 that the paper's STFT needs
    /// (<see cref="LogStftSettings.MinimumSamples"/>: reflect padding of FFT/2 needs more than FFT/2 samples)
    /// and long enough for a few frames.
    /// </summary>
    public double MinSeconds { get; init; } = DefaultMinSeconds;

    /// <summary>The default <see cref="MinSeconds"/>; `asd synth` refuses to write shorter clips, which reading would refuse.</summary>
    public const double DefaultMinSeconds = 0.05;

    /// <summary>Most channels accepted; they are averaged to mono.</summary>
    public int MaxChannels { get; init; } = 32;

    /// <summary>
    /// Largest accepted input in bytes (256 MiB). A stream that cannot seek is buffered in memory, up to this size,
    /// before its header is read.
    /// </summary>
    public long MaxBytes { get; init; } = 256L * 1024 * 1024;

    public static AudioLoadOptions Default { get; } = new();

    public AudioLoadOptions Validate()
    {
        if (TargetSampleRate < WavDecoder.MinSampleRate || TargetSampleRate > WavDecoder.MaxSampleRate)
            throw new ArgumentException($"target sample rate must be in [{WavDecoder.MinSampleRate}, {WavDecoder.MaxSampleRate}] Hz, got {TargetSampleRate}");
        if (!(MinSeconds >= 0) || double.IsInfinity(MinSeconds))
            throw new ArgumentException($"minimum duration must be a finite number of seconds >= 0, got {MinSeconds}");
        if (!(MaxSeconds > MinSeconds) || double.IsInfinity(MaxSeconds))
            throw new ArgumentException($"maximum duration must be finite and above the minimum ({MinSeconds} s), got {MaxSeconds}");
        if (MaxChannels < 1)
            throw new ArgumentException($"maximum channel count must be at least 1, got {MaxChannels}");
        if (MaxBytes < 44)
            throw new ArgumentException($"maximum size must be at least 44 bytes (a WAV header), got {MaxBytes}");
        return this;
    }
}
