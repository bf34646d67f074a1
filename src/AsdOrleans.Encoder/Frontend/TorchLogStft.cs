using AsdOrleans.Core.Features;
using TorchSharp;
using static TorchSharp.torch;

namespace AsdOrleans.Encoder.Frontend;

/// <summary>The log-magnitude STFT of <see cref="LogStftSettings"/> on the device, in batches (torch.stft).</summary>
public sealed class TorchLogStft : IDisposable
{
    private readonly Tensor window;

    public TorchLogStft(LogStftSettings settings, Device device)
    {
        Settings = settings.Validate();
        window = hann_window(settings.WindowLength, periodic: true, device: device);
    }

    public LogStftSettings Settings { get; }

    /// <summary>(B, N) waveforms of equal length → (B, bins, 1 + N/hop) log-magnitude frames.</summary>
    public Tensor Compute(Tensor waveforms)
    {
        if (waveforms.shape[^1] < Settings.MinimumSamples)
            throw new ArgumentException($"clips must have at least {Settings.MinimumSamples} samples, got {waveforms.shape[^1]}");
        using var spectrum = stft(waveforms, Settings.FftSize, hop_length: Settings.Hop, win_length: Settings.WindowLength,
            window: window, center: true, pad_mode: PaddingModes.Reflect, normalized: false, onesided: true, return_complex: true);
        return spectrum.abs().add_(Settings.LogEpsilon).log_();
    }

    public void Dispose() => window.Dispose();
}
