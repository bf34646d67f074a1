using System.Numerics;
using MathNet.Numerics.IntegralTransforms;

namespace AsdOrleans.Audio.Features;

/// <summary>
/// The front end's log-magnitude STFT (docs/design.md §1), computed the plain way: one double-precision MathNet FFT per
/// frame. It is the reference that faster implementations are tested against, not the fast path.
/// <para>
/// torch.stft semantics: center=True (the signal is reflect-padded by FFT/2 at both ends, without repeating the
/// edge sample), a periodic Hann window of <see cref="LogStftSettings.WindowLength"/> zero-padded symmetrically to
/// <see cref="LogStftSettings.FftSize"/> (left pad (FFT − window)/2), frame t starting at t·hop in the padded
/// signal, onesided, no normalisation; the value is log(|X| + ε).
/// </para>
/// </summary>
public static class LogStftReference
{
    /// <summary>
    /// Log-magnitude spectrogram of <paramref name="samples"/>, row-major [bins × frames]: bin k of frame t is at
    /// <c>k * frames + t</c>.
    /// </summary>
    /// <param name="frames">1 + samples / hop.</param>
    /// <exception cref="ArgumentException">Fewer than <see cref="LogStftSettings.MinimumSamples"/> samples, or invalid settings.</exception>
    public static float[] Compute(ReadOnlySpan<float> samples, LogStftSettings settings, out int frames)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        if (samples.Length < settings.MinimumSamples)
            throw new ArgumentException(
                $"the STFT needs at least {settings.MinimumSamples} samples (more than FFT size / 2, for reflect padding), got {samples.Length}",
                nameof(samples));

        int fftSize = settings.FftSize, hop = settings.Hop, bins = settings.Bins, pad = fftSize / 2;
        frames = settings.FrameCount(samples.Length);
        double[] window = PaddedWindow(settings);
        var spectrum = new Complex[fftSize];
        var output = new float[bins * frames];

        for (int t = 0; t < frames; t++)
        {
            int start = t * hop - pad; // index into the unpadded signal of the frame's first sample
            for (int j = 0; j < fftSize; j++)
                spectrum[j] = window[j] == 0 ? Complex.Zero : new Complex(window[j] * Reflected(samples, start + j), 0);
            Fourier.Forward(spectrum, FourierOptions.NoScaling); // X_k = Σ x_n e^(−2πikn/N), as numpy and torch
            for (int k = 0; k < bins; k++)
                output[k * frames + t] = (float)Math.Log(spectrum[k].Magnitude + settings.LogEpsilon);
        }
        return output;
    }

    /// <summary>
    /// The periodic Hann window, w[n] = 0.5 − 0.5·cos(2πn / WindowLength) for n in [0, WindowLength), zero-padded
    /// to FftSize with (FftSize − WindowLength) / 2 zeros on the left, as torch.stft pads a shorter window.
    /// </summary>
    public static double[] PaddedWindow(LogStftSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        var window = new double[settings.FftSize];
        int left = (settings.FftSize - settings.WindowLength) / 2;
        Windows.PeriodicHann(settings.WindowLength).CopyTo(window, left);
        return window;
    }

    /// <summary>x[i] with reflection at both ends (numpy/torch "reflect": x[−1] = x[1], x[n] = x[n−2]).</summary>
    private static float Reflected(ReadOnlySpan<float> x, int i)
    {
        if (i < 0) return x[-i];
        if (i >= x.Length) return x[2 * (x.Length - 1) - i];
        return x[i];
    }
}
