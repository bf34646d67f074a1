using System.Numerics;
using MathNet.Numerics.IntegralTransforms;

namespace AsdOrleans.Audio.Features;

/// <summary>
/// Power spectra |X_k|² (k = 0 … n/2, unscaled as numpy's) of up to two real frames from one complex FFT: frame 0 is the
/// real part of the input and frame 1 the imaginary part, parted again by X₀[k] = (Z[k] + conj Z[n − k]) / 2 and
/// X₁[k] = (Z[k] − conj Z[n − k]) / 2i. MathNet's complex FFT costs what its real FFT costs, so a spectrogram taken two
/// frames at a time needs half the transforms. One instance per thread: it holds the buffers.
/// </summary>
public sealed class PairedPowerSpectra
{
    private readonly int _size;
    private readonly double[][] _frames, _powers;
    private readonly Complex[] _packed;

    public PairedPowerSpectra(int fftSize)
    {
        if (fftSize < 2 || fftSize % 2 != 0) throw new ArgumentException("the FFT size must be even and at least 2", nameof(fftSize));
        _size = fftSize;
        _frames = [new double[fftSize], new double[fftSize]];
        _powers = [new double[fftSize / 2 + 1], new double[fftSize / 2 + 1]];
        _packed = new Complex[fftSize];
    }

    /// <summary>Receives frame <paramref name="frame"/>'s power spectrum, valid during the call.</summary>
    public delegate void PowerSpectrumUser(int frame, ReadOnlySpan<double> power);

    /// <summary>
    /// The power spectrum of each frame of a short-time transform, in order: frame t is the <paramref name="window"/>
    /// (n values) times the samples from <paramref name="firstSample"/> + t·<paramref name="hop"/> on, zero outside the
    /// clip (a negative first sample centres the frames as librosa and torch do).
    /// </summary>
    public void ForEachFrame(ReadOnlySpan<float> samples, ReadOnlySpan<double> window, int hop, int firstSample, int frames, PowerSpectrumUser use)
    {
        if (window.Length != _size) throw new ArgumentException($"expected a window of {_size} values", nameof(window));
        for (int t = 0; t < frames; t += 2)
        {
            int count = Math.Min(2, frames - t);
            for (int f = 0; f < count; f++)
            {
                var frame = Frame(f);
                int start = firstSample + (t + f) * hop;
                for (int j = 0; j < _size; j++)
                {
                    int i = start + j;
                    frame[j] = i >= 0 && i < samples.Length ? window[j] * samples[i] : 0;
                }
            }
            Transform(count);
            for (int f = 0; f < count; f++) use(t + f, Power(f));
        }
    }

    /// <summary>Where frame 0 or 1 is written before <see cref="Transform"/>.</summary>
    public Span<double> Frame(int which) => _frames[which];

    /// <summary>Frame 0's or 1's power spectrum after <see cref="Transform"/>.</summary>
    public ReadOnlySpan<double> Power(int which) => _powers[which];

    /// <summary>Transforms frame 0, and frame 1 when <paramref name="frames"/> is 2 (else frame 1 counts as zeros).</summary>
    public void Transform(int frames)
    {
        if (frames is not (1 or 2)) throw new ArgumentOutOfRangeException(nameof(frames), "one or two frames");
        int n = _size;
        double[] first = _frames[0], second = _frames[1];
        for (int j = 0; j < n; j++) _packed[j] = new Complex(first[j], frames == 2 ? second[j] : 0);
        Fourier.Forward(_packed, FourierOptions.NoScaling);
        double[] firstPower = _powers[0], secondPower = _powers[1];
        for (int k = 0; k <= n / 2; k++)
        {
            Complex z = _packed[k], mirror = _packed[(n - k) % n];
            double sumRe = z.Real + mirror.Real, sumIm = z.Imaginary - mirror.Imaginary; // Z[k] + conj Z[n − k]
            double diffRe = z.Real - mirror.Real, diffIm = z.Imaginary + mirror.Imaginary; // Z[k] − conj Z[n − k]
            firstPower[k] = (sumRe * sumRe + sumIm * sumIm) / 4;
            secondPower[k] = (diffRe * diffRe + diffIm * diffIm) / 4;
        }
    }
}
