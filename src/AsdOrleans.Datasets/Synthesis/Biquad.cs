namespace AsdOrleans.Datasets.Synthesis;

/// <summary>
/// A second-order IIR section (transposed direct form II) with the usual audio designs from
/// R. Bristow-Johnson's "Audio EQ Cookbook": band-pass (0 dB peak), low/high-pass, peaking and
/// high-shelf. The generator uses it for structural resonances, noise bands and microphone colouring.
/// </summary>
internal struct Biquad
{
    private double _b0, _b1, _b2, _a1, _a2;
    private double _z1, _z2;

    private Biquad(double b0, double b1, double b2, double a0, double a1, double a2)
    {
        _b0 = b0 / a0; _b1 = b1 / a0; _b2 = b2 / a0; _a1 = a1 / a0; _a2 = a2 / a0;
        _z1 = 0; _z2 = 0;
    }

    /// <summary>Band-pass with 0 dB gain at <paramref name="hz"/>; bandwidth ≈ hz / q.</summary>
    public static Biquad BandPass(double sampleRate, double hz, double q)
    {
        var (cos, alpha) = Prewarp(sampleRate, hz, q);
        return new Biquad(alpha, 0, -alpha, 1 + alpha, -2 * cos, 1 - alpha);
    }

    public static Biquad LowPass(double sampleRate, double hz, double q = 0.7071067811865476)
    {
        var (cos, alpha) = Prewarp(sampleRate, hz, q);
        return new Biquad((1 - cos) / 2, 1 - cos, (1 - cos) / 2, 1 + alpha, -2 * cos, 1 - alpha);
    }

    public static Biquad HighPass(double sampleRate, double hz, double q = 0.7071067811865476)
    {
        var (cos, alpha) = Prewarp(sampleRate, hz, q);
        return new Biquad((1 + cos) / 2, -(1 + cos), (1 + cos) / 2, 1 + alpha, -2 * cos, 1 - alpha);
    }

    /// <summary>Peaking equaliser: <paramref name="gainDb"/> at <paramref name="hz"/>, 0 dB far from it.</summary>
    public static Biquad Peaking(double sampleRate, double hz, double q, double gainDb)
    {
        var (cos, alpha) = Prewarp(sampleRate, hz, q);
        double a = Math.Pow(10, gainDb / 40);
        return new Biquad(1 + alpha * a, -2 * cos, 1 - alpha * a, 1 + alpha / a, -2 * cos, 1 - alpha / a);
    }

    /// <summary>High shelf (slope 1): 0 dB well below <paramref name="hz"/>, <paramref name="gainDb"/> well above.</summary>
    public static Biquad HighShelf(double sampleRate, double hz, double gainDb)
    {
        double a = Math.Pow(10, gainDb / 40);
        var (cos, alpha) = Prewarp(sampleRate, hz, Math.Sqrt(0.5));
        double s = 2 * Math.Sqrt(a) * alpha;
        return new Biquad(
            a * ((a + 1) + (a - 1) * cos + s),
            -2 * a * ((a - 1) + (a + 1) * cos),
            a * ((a + 1) + (a - 1) * cos - s),
            (a + 1) - (a - 1) * cos + s,
            2 * ((a - 1) - (a + 1) * cos),
            (a + 1) - (a - 1) * cos - s);
    }

    public double Process(double x)
    {
        double y = _b0 * x + _z1;
        _z1 = _b1 * x - _a1 * y + _z2;
        _z2 = _b2 * x - _a2 * y;
        return y;
    }

    /// <summary>Filters <paramref name="signal"/> in place.</summary>
    public void Run(Span<double> signal)
    {
        for (int i = 0; i < signal.Length; i++)
            signal[i] = Process(signal[i]);
    }

    /// <summary>Adds <paramref name="gain"/> × filter(<paramref name="input"/>) to <paramref name="output"/>.</summary>
    public void Accumulate(ReadOnlySpan<double> input, Span<double> output, double gain)
    {
        for (int i = 0; i < input.Length; i++)
            output[i] += gain * Process(input[i]);
    }

    private static (double Cos, double Alpha) Prewarp(double sampleRate, double hz, double q)
    {
        double f = Math.Clamp(hz, 1.0, 0.45 * sampleRate);
        double w0 = 2 * Math.PI * f / sampleRate;
        return (Math.Cos(w0), Math.Sin(w0) / (2 * q));
    }
}
