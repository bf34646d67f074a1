namespace AsdOrleans.Audio.Features;

public static class Windows
{
    /// <summary>The periodic Hann window (scipy's and torch's default for spectra): w[n] = 0.5 − 0.5·cos(2πn / length).</summary>
    public static double[] PeriodicHann(int length)
    {
        var window = new double[length];
        for (int n = 0; n < length; n++) window[n] = 0.5 - 0.5 * Math.Cos(2 * Math.PI * n / length);
        return window;
    }
}
