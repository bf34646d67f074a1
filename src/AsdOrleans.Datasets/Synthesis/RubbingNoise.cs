using AsdOrleans.Method.Randomness;

namespace AsdOrleans.Datasets.Synthesis;

/// <summary>
/// Fault: a rotating part touches a stator now and then. Bursts of band-limited noise (band at the
/// machine's rub band ×0.8–1.25, Q 1.5–3) of 40–250 ms arrive 1–3 times per second (at least one per
/// clip), shaped by a Hann window and pulsing once per revolution (contact). Burst RMS is 2 ×
/// severity times the machine sound's RMS. <c>noise</c> is scratch space of the clip's length. The band, its Q and the
/// burst rate are the damaged part's (<paramref name="part"/>); the noise, burst times and lengths and the contact
/// phase are the clip's (<paramref name="clip"/>). Both may be the same stream.
/// </summary>
internal static class RubbingNoise
{
    public static void Add(Span<double> machine, ReadOnlySpan<double> shaftCycles, double severity, double referenceRms,
        MachineProfile profile, ref RandomState part, ref RandomState clip, int sampleRate, double[] noise)
    {
        int n = machine.Length;
        Noise.White(ref clip, noise);
        var band = Biquad.BandPass(sampleRate, profile.RubBandHz * Signal.Uniform(ref part, 0.8, 1.25), Signal.Uniform(ref part, 1.5, 3));
        band.Run(noise);
        Signal.NormaliseRms(noise);

        double level = 2.0 * severity * referenceRms;
        double perSecond = Signal.Uniform(ref part, 1, 3);
        double contactPhase = clip.NextDouble();
        double seconds = (double)n / sampleRate;
        double t = Signal.Uniform(ref clip, 0, Math.Max(0, seconds - 0.25)); // the first burst always falls inside the clip
        while (t < seconds)
        {
            int start = (int)(t * sampleRate);
            int length = Math.Max(2, (int)(Signal.Uniform(ref clip, 0.04, 0.25) * sampleRate));
            int end = Math.Min(n, start + length);
            for (int i = start; i < end; i++)
            {
                double window = 0.5 - 0.5 * Math.Cos(2 * Math.PI * (i - start) / (length - 1));
                double contact = 0.4 + 0.6 * (0.5 + 0.5 * Wavetable.Sine.At(Signal.Wrap(shaftCycles[i] + contactPhase)));
                machine[i] += level * window * contact * noise[i];
            }
            t += -Math.Log(1 - clip.NextDouble()) / perSecond;
        }
    }
}
