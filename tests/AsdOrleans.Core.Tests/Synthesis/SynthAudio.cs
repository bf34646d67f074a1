using System.Numerics;
using MathNet.Numerics.IntegralTransforms;
using NAudio.Wave;

namespace AsdOrleans.Core.Tests.Synthesis;

/// <summary>Measurements on generated audio for the synthesis tests (MathNet FFTs, NAudio reading).</summary>
internal static class SynthAudio
{
    public const int SampleRate = 16_000;

    /// <summary>Magnitude spectrum of the whole clip (Hann window), bins 0 … N/2 − 1, SampleRate/N Hz apart.</summary>
    public static double[] Spectrum(ReadOnlySpan<float> x)
    {
        var buffer = new Complex[x.Length];
        for (int i = 0; i < x.Length; i++)
            buffer[i] = x[i] * (0.5 - 0.5 * Math.Cos(2 * Math.PI * i / (x.Length - 1)));
        Fourier.Forward(buffer, FourierOptions.Matlab);
        return buffer.Take(x.Length / 2).Select(c => c.Magnitude).ToArray();
    }

    public static double HzPerBin(double[] spectrum) => SampleRate / 2.0 / spectrum.Length;

    /// <summary>
    /// Rotation frequency estimated from the audio alone: the f in [0.8, 1.2]·<paramref name="nominal"/>
    /// whose harmonics <paramref name="orders"/> have the largest summed log magnitude (a harmonic comb).
    /// </summary>
    public static double EstimateRotationHz(double[] spectrum, double nominal, IReadOnlyList<int> orders)
    {
        double hzPerBin = HzPerBin(spectrum), best = double.NegativeInfinity, bestHz = 0;
        for (double f = 0.8 * nominal; f <= 1.2 * nominal; f += 0.0005 * nominal)
        {
            double sum = 0;
            foreach (int k in orders)
            {
                int bin = (int)Math.Round(k * f / hzPerBin);
                sum += Math.Log(Math.Max(spectrum[bin], Math.Max(spectrum[bin - 1], spectrum[bin + 1])) + 1e-12);
            }
            if (sum > best) { best = sum; bestHz = f; }
        }
        return bestHz;
    }

    /// <summary>The strongest harmonic orders of a type at this rotation frequency, between 100 Hz and 90% of its highest harmonic.</summary>
    public static List<int> StrongOrders(AsdOrleans.Datasets.Synthesis.MachineProfile machine, double rotationHz, int count)
        => Enumerable.Range(1, 1000).Where(k => k * rotationHz >= 100 && k * rotationHz <= 0.9 * machine.MaxHarmonicHz)
            .OrderByDescending(machine.HarmonicWeight).Take(count).ToList();

    /// <summary>Share of the energy within ±6% of each harmonic k·f that lies within ±0.5% (or ±2 bins): near 1 for steady tones.</summary>
    public static double HarmonicSharpness(double[] spectrum, double rotationHz, IReadOnlyList<int> orders)
    {
        double hzPerBin = HzPerBin(spectrum), inside = 0, all = 0;
        foreach (int k in orders)
        {
            double centre = k * rotationHz;
            for (int b = (int)(centre * 0.94 / hzPerBin); b <= (int)(centre * 1.06 / hzPerBin); b++)
            {
                double e = spectrum[b] * spectrum[b];
                all += e;
                if (Math.Abs(b * hzPerBin - centre) <= Math.Max(0.005 * centre, 2 * hzPerBin)) inside += e;
            }
        }
        return inside / all;
    }

    /// <summary>Ideal high-pass by zeroing FFT bins below <paramref name="hz"/>.</summary>
    public static double[] HighPass(ReadOnlySpan<float> x, double hz)
    {
        var buffer = new Complex[x.Length];
        for (int i = 0; i < x.Length; i++) buffer[i] = x[i];
        Fourier.Forward(buffer, FourierOptions.Matlab);
        int cut = (int)(hz * x.Length / SampleRate);
        for (int b = 0; b < x.Length; b++)
            if (Math.Min(b, x.Length - b) < cut) buffer[b] = 0;
        Fourier.Inverse(buffer, FourierOptions.Matlab);
        return buffer.Select(c => c.Real).ToArray();
    }

    /// <summary>
    /// Amplitude modulation at <paramref name="hz"/>: the envelope spectrum (of the squared signal above 1 kHz)
    /// at hz ±3%, over the median envelope spectrum between 0.5·hz and 1.5·hz.
    /// </summary>
    public static double EnvelopeLineRatio(ReadOnlySpan<float> x, double hz)
    {
        var power = HighPass(x, 1000).Select(v => v * v).ToArray();
        double mean = power.Average();
        var buffer = power.Select(v => new Complex(v - mean, 0)).ToArray();
        Fourier.Forward(buffer, FourierOptions.Matlab);
        double hzPerBin = (double)SampleRate / x.Length;
        var magnitude = buffer.Take(x.Length / 2).Select(c => c.Magnitude).ToArray();
        int lo = (int)(hz * 0.97 / hzPerBin), hi = (int)Math.Ceiling(hz * 1.03 / hzPerBin);
        double line = Enumerable.Range(lo, hi - lo + 1).Max(b => magnitude[b]);
        var around = Enumerable.Range((int)(hz * 0.5 / hzPerBin), (int)(hz / hzPerBin)).Select(b => magnitude[b]).Order().ToList();
        return line / around[around.Count / 2];
    }

    public static double Kurtosis(IReadOnlyCollection<double> x)
    {
        double mean = x.Average();
        double variance = x.Average(v => (v - mean) * (v - mean));
        return x.Average(v => Math.Pow(v - mean, 4)) / (variance * variance);
    }

    public static double CrestFactor(ReadOnlySpan<float> x)
    {
        double sum = 0, peak = 0;
        foreach (float v in x) { sum += (double)v * v; peak = Math.Max(peak, Math.Abs(v)); }
        return peak / Math.Sqrt(sum / x.Length);
    }

    /// <summary>Short-time energy in [0.7, 1.4]·<paramref name="centreHz"/> (32 ms frames): loudest frame over the median frame, in dB.</summary>
    public static double BandBurstDb(ReadOnlySpan<float> x, double centreHz)
    {
        const int frame = 512;
        double hzPerBin = (double)SampleRate / frame;
        var energies = new List<double>();
        var buffer = new Complex[frame];
        for (int start = 0; start + frame <= x.Length; start += frame)
        {
            for (int i = 0; i < frame; i++) buffer[i] = x[start + i] * (0.5 - 0.5 * Math.Cos(2 * Math.PI * i / frame));
            Fourier.Forward(buffer, FourierOptions.Matlab);
            double sum = 0;
            for (int k = (int)(centreHz * 0.7 / hzPerBin); k <= (int)(centreHz * 1.4 / hzPerBin); k++) sum += buffer[k].Magnitude * buffer[k].Magnitude;
            energies.Add(sum);
        }
        energies.Sort();
        return 10 * Math.Log10(energies[^1] / energies[energies.Count / 2]);
    }

    /// <summary>Long-term spectrum in 24 log-spaced bands (50 Hz – 7.6 kHz), in dB relative to its own mean.</summary>
    public static double[] BandProfile(double[] spectrum)
    {
        const int bands = 24;
        double hzPerBin = HzPerBin(spectrum);
        var profile = new double[bands];
        for (int b = 0; b < bands; b++)
        {
            double lo = 50 * Math.Pow(7600 / 50.0, (double)b / bands), hi = 50 * Math.Pow(7600 / 50.0, (double)(b + 1) / bands);
            double e = 0;
            for (int k = (int)(lo / hzPerBin); k < (int)(hi / hzPerBin); k++) e += spectrum[k] * spectrum[k];
            profile[b] = 10 * Math.Log10(e + 1e-12);
        }
        double mean = profile.Average();
        return profile.Select(v => v - mean).ToArray();
    }

    public static double RmsDistance(double[] a, double[] b) => Math.Sqrt(a.Zip(b, (p, q) => (p - q) * (p - q)).Average());

    /// <summary>A WAV file's format and samples (as read by NAudio).</summary>
    public static (WaveFormat Format, short[] Samples) ReadWav(string path)
    {
        using var reader = new WaveFileReader(path);
        var bytes = new byte[reader.Length];
        int read = reader.Read(bytes, 0, bytes.Length);
        Assert.Equal(bytes.Length, read);
        var samples = new short[read / 2];
        Buffer.BlockCopy(bytes, 0, samples, 0, read);
        return (reader.WaveFormat, samples);
    }
}
