namespace AsdOrleans.Datasets.Synthesis;

/// <summary>Slowly varying parameters (speed wander, drift, level wander) evaluated at 1 kHz and interpolated per sample.</summary>
internal static class ControlCurve
{
    private const int Step = 16; // 16 samples = 1 ms at 16 kHz

    public static double[] Sample(double[] output, int sampleRate, Func<double, double> valueAtSeconds)
    {
        int samples = output.Length;
        double previous = valueAtSeconds(0);
        for (int start = 0; start < samples; start += Step)
        {
            int end = Math.Min(start + Step, samples);
            double next = valueAtSeconds((double)(start + Step) / sampleRate);
            for (int i = start; i < end; i++)
                output[i] = previous + (next - previous) * (i - start) / Step;
            previous = next;
        }
        return output;
    }
}
