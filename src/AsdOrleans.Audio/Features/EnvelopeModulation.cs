using MathNet.Numerics.IntegralTransforms;

namespace AsdOrleans.Audio.Features;

/// <summary>
/// Envelope analysis, the rotating-machinery diagnostician's tool for faults that modulate a machine's sound (a rotor
/// imbalance beats at the shaft rate, a bearing defect strikes at its defect rate): per band, the peak of the envelope's
/// modulation spectrum, wherever it lies between 2 and 110 Hz, so a shift of the operating speed moves the peak but not
/// its height.
/// <list type="number">
/// <item>Band envelopes: a 256-point STFT (periodic Hann, hop 64, no padding: 250 frames/s at 16 kHz) summed into
/// 16 Slaney mel bands (<see cref="MelFilterbank"/>); each band divided by its mean over the clip, minus 1.</item>
/// <item>Welch's power spectral density of each envelope (scipy.signal.welch's defaults: 256-frame periodic-Hann segments,
/// half overlap, each segment's mean removed, one-sided density, averaged); a clip under 256 frames is one segment of
/// its whole length.</item>
/// <item>Value: ln(max over 2 ≤ f &lt; 110 Hz of the density + 1e-12).</item>
/// </list>
/// </summary>
public sealed class EnvelopeModulation
{
    public const int FftSize = 256, Hop = 64, Bands = 16, SegmentFrames = 256;
    public const double LowestHz = 2, HighestHz = 110, Floor = 1e-12;

    private readonly int _sampleRate;
    private readonly double[] _window = Windows.PeriodicHann(FftSize);

    public EnvelopeModulation(int sampleRate)
    {
        _sampleRate = sampleRate;
        Filterbank = new MelFilterbank(sampleRate, FftSize, Bands);
    }

    public MelFilterbank Filterbank { get; }

    /// <summary>Envelope frames of a clip: 1 + (samples − 256) / 64; a clip under 256 samples is one zero-padded frame.</summary>
    public static int FrameCount(int samples) => samples < FftSize ? 1 : 1 + (samples - FftSize) / Hop;

    /// <summary>Writes the <see cref="Bands"/> peak values of one clip into <paramref name="output"/>.</summary>
    public void Peaks(ReadOnlySpan<float> samples, Span<float> output)
    {
        if (output.Length != Bands) throw new ArgumentException($"expected room for {Bands} values", nameof(output));
        var envelopes = Envelopes(samples, out int frames);
        for (int m = 0; m < Bands; m++)
            output[m] = (float)Math.Log(PeakDensity(envelopes.AsSpan(m * frames, frames), (double)_sampleRate / Hop) + Floor);
    }

    /// <summary>Each band's envelope, divided by its mean, minus 1; row-major [band × frame].</summary>
    public double[] Envelopes(ReadOnlySpan<float> samples, out int frames)
    {
        frames = FrameCount(samples.Length);
        var envelopes = new double[Bands * frames];
        var band = new double[Bands];
        int frameCount = frames; // an out parameter cannot be captured
        new PairedPowerSpectra(FftSize).ForEachFrame(samples, _window, Hop, firstSample: 0, frames, (t, power) =>
        {
            Filterbank.Apply(power, band);
            for (int m = 0; m < Bands; m++) envelopes[m * frameCount + t] = band[m];
        });
        for (int m = 0; m < Bands; m++)
        {
            var row = envelopes.AsSpan(m * frames, frames);
            double mean = 0;
            foreach (double v in row) mean += v;
            mean /= frames;
            for (int t = 0; t < frames; t++) row[t] = row[t] / (mean + Floor) - 1;
        }
        return envelopes;
    }

    /// <summary>The largest one-sided Welch density of <paramref name="envelope"/> (sampled at <paramref name="rate"/> Hz)
    /// over <see cref="LowestHz"/> ≤ f &lt; <see cref="HighestHz"/>; 0 when no frequency of the segment's grid lies there.</summary>
    public static double PeakDensity(ReadOnlySpan<double> envelope, double rate)
    {
        int length = Math.Min(SegmentFrames, envelope.Length), step = length / 2;
        if (step == 0) return 0;
        var window = Windows.PeriodicHann(length);
        double windowPower = 0;
        foreach (double w in window) windowPower += w * w;
        int segments = (envelope.Length - length) / step + 1, bins = length / 2 + 1;
        var density = new double[bins];
        var buffer = new double[length + 2];
        for (int s = 0; s < segments; s++)
        {
            var segment = envelope.Slice(s * step, length);
            double mean = 0;
            foreach (double v in segment) mean += v;
            mean /= length;
            for (int j = 0; j < length; j++) buffer[j] = (segment[j] - mean) * window[j];
            buffer[length] = buffer[length + 1] = 0;
            Fourier.ForwardReal(buffer, length, FourierOptions.NoScaling);
            for (int k = 0; k < bins; k++)
                density[k] += buffer[2 * k] * buffer[2 * k] + buffer[2 * k + 1] * buffer[2 * k + 1];
        }
        double peak = 0;
        for (int k = 0; k < bins; k++)
        {
            double hz = k * rate / length;
            if (hz < LowestHz || hz >= HighestHz) continue;
            bool edge = k == 0 || (length % 2 == 0 && k == bins - 1); // one-sided: every other bin counts twice
            peak = Math.Max(peak, density[k] / segments * (edge ? 1 : 2) / (rate * windowPower));
        }
        return peak;
    }
}
