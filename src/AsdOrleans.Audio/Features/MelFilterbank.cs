namespace AsdOrleans.Audio.Features;

/// <summary>
/// Slaney's mel scale (Auditory Toolbox; librosa's default, <c>htk=False</c>): linear below 1 kHz
/// (mel = 3·f/200), logarithmic above (mel = 15 + 27·ln(f/1000)/ln 6.4).
/// </summary>
public static class SlaneyMelScale
{
    private const double LinearHzPerMel = 200.0 / 3;
    private const double BreakHz = 1000;
    private const double BreakMel = BreakHz / LinearHzPerMel; // 15
    private static readonly double LogStep = Math.Log(6.4) / 27;

    public static double HzToMel(double hz) => hz >= BreakHz ? BreakMel + Math.Log(hz / BreakHz) / LogStep : hz / LinearHzPerMel;

    public static double MelToHz(double mel) => mel >= BreakMel ? BreakHz * Math.Exp(LogStep * (mel - BreakMel)) : LinearHzPerMel * mel;
}

/// <summary>
/// A mel filterbank over the one-sided power spectrum of an FFT, built as <c>librosa.filters.mel(sr, n_fft, n_mels,
/// fmin, fmax, htk=False, norm="slaney")</c>: band edges equally spaced on <see cref="SlaneyMelScale"/> from fmin to
/// fmax (n_mels + 2 points), triangular weights over the FFT bin frequencies k·sr/n_fft, each triangle scaled by
/// 2 / (upper edge − lower edge) in Hz (Slaney's equal-area normalisation).
/// </summary>
public sealed class MelFilterbank
{
    private readonly double[] _weights; // [band × bin]
    private readonly int[] _first, _last; // non-zero bin range per band, inclusive

    public MelFilterbank(int sampleRate, int fftSize, int bands, double minHz = 0, double? maxHz = null)
    {
        if (sampleRate <= 0) throw new ArgumentOutOfRangeException(nameof(sampleRate), "sample rate must be positive");
        if (fftSize < 2) throw new ArgumentOutOfRangeException(nameof(fftSize), "FFT size must be at least 2");
        if (bands < 1) throw new ArgumentOutOfRangeException(nameof(bands), "at least one mel band");
        double top = maxHz ?? sampleRate / 2.0;
        if (!(minHz >= 0 && minHz < top && top <= sampleRate / 2.0))
            throw new ArgumentOutOfRangeException(nameof(maxHz), $"need 0 ≤ fmin < fmax ≤ sr/2, got {minHz}, {top}");
        SampleRate = sampleRate;
        FftSize = fftSize;
        Bands = bands;
        Bins = fftSize / 2 + 1;

        double lowMel = SlaneyMelScale.HzToMel(minHz), highMel = SlaneyMelScale.HzToMel(top);
        var edges = new double[bands + 2];
        for (int i = 0; i < edges.Length; i++)
            edges[i] = SlaneyMelScale.MelToHz(lowMel + (highMel - lowMel) * i / (bands + 1));
        Edges = edges;

        _weights = new double[bands * Bins];
        _first = new int[bands];
        _last = new int[bands];
        for (int m = 0; m < bands; m++)
        {
            double lower = edges[m], centre = edges[m + 1], upper = edges[m + 2];
            double norm = 2.0 / (upper - lower);
            _first[m] = Bins;
            _last[m] = -1;
            for (int k = 0; k < Bins; k++)
            {
                double f = (double)k * sampleRate / fftSize;
                double rising = (f - lower) / (centre - lower), falling = (upper - f) / (upper - centre);
                double w = Math.Max(0, Math.Min(rising, falling));
                if (w <= 0) continue;
                _weights[m * Bins + k] = w * norm;
                _first[m] = Math.Min(_first[m], k);
                _last[m] = k;
            }
        }
    }

    public int SampleRate { get; }
    public int FftSize { get; }
    public int Bands { get; }
    /// <summary>FFT bins of the one-sided spectrum, FftSize / 2 + 1.</summary>
    public int Bins { get; }
    /// <summary>The bands + 2 edge frequencies in Hz: band m rises from Edges[m], peaks at Edges[m + 1], falls to Edges[m + 2].</summary>
    public IReadOnlyList<double> Edges { get; }

    /// <summary>Weight of FFT bin <paramref name="bin"/> in band <paramref name="band"/>.</summary>
    public double Weight(int band, int bin) => _weights[band * Bins + bin];

    /// <summary>mel[m] = Σ_k W[m, k]·power[k].</summary>
    public void Apply(ReadOnlySpan<double> power, Span<double> mel)
    {
        if (power.Length != Bins) throw new ArgumentException($"expected {Bins} power bins, got {power.Length}", nameof(power));
        if (mel.Length != Bands) throw new ArgumentException($"expected {Bands} mel bands, got {mel.Length}", nameof(mel));
        for (int m = 0; m < Bands; m++)
        {
            double sum = 0;
            int row = m * Bins;
            for (int k = _first[m]; k <= _last[m]; k++)
                sum += _weights[row + k] * power[k];
            mel[m] = sum;
        }
    }
}
