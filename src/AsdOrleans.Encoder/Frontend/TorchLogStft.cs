using AsdOrleans.Audio.Features;
using TorchSharp;
using static TorchSharp.torch;

namespace AsdOrleans.Encoder.Frontend;

/// <summary>
/// The log-magnitude STFT of <see cref="LogStftSettings"/> on the device, in batches (torch.stft). The FFT runs
/// in double precision: in float32, bins near the ε floor came out up to 9e-3 off in the log domain, and the
/// transform costs milliseconds against the encoder's seconds. Frames are returned as float32.
/// </summary>
public sealed class TorchLogStft : IDisposable
{
    private readonly Tensor window;

    public TorchLogStft(LogStftSettings settings, Device device)
    {
        Settings = settings.Validate();
        window = hann_window(settings.WindowLength, periodic: true, dtype: float64, device: device);
    }

    public LogStftSettings Settings { get; }

    /// <summary>(B, N) waveforms of equal length → (B, bins, 1 + N/hop) log-magnitude frames.</summary>
    public Tensor Compute(Tensor waveforms)
    {
        if (waveforms.shape[^1] < Settings.MinimumSamples)
            throw new ArgumentException($"clips must have at least {Settings.MinimumSamples} samples, got {waveforms.shape[^1]}");
        using var precise = waveforms.to_type(float64);
        using var spectrum = stft(precise, Settings.FftSize, hop_length: Settings.Hop, win_length: Settings.WindowLength,
            window: window, center: true, pad_mode: PaddingModes.Reflect, normalized: false, onesided: true, return_complex: true);
        using var epsilon = Settings.LogEpsilon.ToScalar(); // explicit and alive until the call returns (docs/decisions.md, TorchSharp Scalars)
        // add_(Scalar) would pass an implicit alpha = 1 Scalar that the GC may finalize during the native call.
        using var one = 1.ToScalar();
        using var logMagnitude = spectrum.abs().add_(epsilon, one).log_();
        return logMagnitude.to_type(float32);
    }

    public void Dispose() => window.Dispose();
}
