namespace AsdOrleans.Audio;

/// <summary>
/// A decoded clip: mono samples at <paramref name="SampleRate"/> on the [-1, 1] scale (full-scale PCM maps
/// to ±1; IEEE float files keep their values, which may exceed ±1).
/// </summary>
/// <param name="Samples">Mono samples; after <see cref="WavDecoder"/> at the target rate (16 kHz by default).</param>
/// <param name="SampleRate">Rate of <paramref name="Samples"/> in Hz.</param>
/// <param name="Source">Where the clip came from (file path or a caller-given name), for messages.</param>
/// <param name="OriginalSampleRate">The file's own sample rate, before any resampling.</param>
/// <param name="OriginalChannels">The file's channel count, before the downmix to mono.</param>
public sealed record AudioClip(float[] Samples, int SampleRate, string Source, int OriginalSampleRate, int OriginalChannels)
{
    public float[] Samples { get; init; } = Samples ?? throw new ArgumentNullException(nameof(Samples));

    public int SampleRate { get; init; } = SampleRate > 0
        ? SampleRate
        : throw new ArgumentOutOfRangeException(nameof(SampleRate), SampleRate, "sample rate must be positive");

    /// <summary>Length of the mono signal: samples / sample rate.</summary>
    public TimeSpan Duration => TimeSpan.FromSeconds((double)Samples.Length / SampleRate);
}
