namespace AsdOrleans.Audio.Features;

/// <summary>
/// The paper's front end (docs/design.md §1): 16 kHz mono, log-magnitude STFT with a 512-sample periodic Hann
/// window centred in a 1024-point FFT, hop 128, 513 bins (0–8000 Hz), frames centred on t·hop with the
/// signal reflect-padded by FFT/2 at both ends (torch.stft's center=True), value log(|X| + ε).
/// ε = 1e-6: below the magnitude of 16-bit quantisation noise (≈ 1.5e-5 per bin for a 512-sample
/// window), so it only matters for digital silence, which it keeps finite.
/// </summary>
public sealed record LogStftSettings
{
    public int SampleRate { get; init; } = 16_000;
    public int WindowLength { get; init; } = 512;
    public int Hop { get; init; } = 128;
    public int FftSize { get; init; } = 1024;
    public double LogEpsilon { get; init; } = 1e-6;

    public int Bins => FftSize / 2 + 1;

    /// <summary>Frames for a clip of <paramref name="samples"/> samples: 1 + samples / hop (center=True).</summary>
    public int FrameCount(int samples) => 1 + samples / Hop;

    /// <summary>Reflect padding needs more than FFT/2 samples.</summary>
    public int MinimumSamples => FftSize / 2 + 1;

    public LogStftSettings Validate()
    {
        if (SampleRate <= 0) throw new ArgumentException($"sample rate must be positive, got {SampleRate}");
        if (WindowLength <= 1 || WindowLength > FftSize) throw new ArgumentException($"window length must be in (1, FFT size], got {WindowLength}");
        if (Hop <= 0) throw new ArgumentException($"hop must be positive, got {Hop}");
        if (FftSize < 2 || (FftSize & (FftSize - 1)) != 0) throw new ArgumentException($"FFT size must be a power of two, got {FftSize}");
        if (!(LogEpsilon > 0)) throw new ArgumentException($"log epsilon must be positive, got {LogEpsilon}");
        return this;
    }

    public static LogStftSettings Paper { get; } = new();
}
