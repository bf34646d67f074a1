namespace AsdOrleans.Datasets.Synthesis;

/// <summary>Small helpers over sample buffers (levels in RMS; decibels as amplitude ratios).</summary>
internal static class Signal
{
    public static double Rms(ReadOnlySpan<double> x)
    {
        double sum = 0;
        foreach (double v in x) sum += v * v;
        return x.Length == 0 ? 0 : Math.Sqrt(sum / x.Length);
    }

    public static double Peak(ReadOnlySpan<double> x)
    {
        double peak = 0;
        foreach (double v in x) peak = Math.Max(peak, Math.Abs(v));
        return peak;
    }

    public static void Scale(Span<double> x, double gain)
    {
        for (int i = 0; i < x.Length; i++) x[i] *= gain;
    }

    /// <summary>Scales to unit RMS (a silent buffer stays silent).</summary>
    public static void NormaliseRms(Span<double> x)
    {
        double rms = Rms(x);
        if (rms > 0) Scale(x, 1 / rms);
    }

    /// <summary>output += gain × input.</summary>
    public static void Mix(Span<double> output, ReadOnlySpan<double> input, double gain)
    {
        for (int i = 0; i < output.Length; i++) output[i] += gain * input[i];
    }

    public static double FromDb(double db) => Math.Pow(10, db / 20);

    /// <summary>Uniform draw in [lo, hi).</summary>
    public static double Uniform(ref AsdOrleans.Method.Randomness.RandomState random, double lo, double hi) => lo + (hi - lo) * random.NextDouble();

    /// <summary>Fractional part, in [0, 1].</summary>
    public static double Wrap(double cycles) => cycles - Math.Floor(cycles);
}
