using AsdOrleans.Method.Randomness;

namespace AsdOrleans.Datasets.Synthesis;

/// <summary>
/// Fault: a damaged bearing race. Short impulses repeat at a defect rate of 3–5.4 × f_rot with 3%
/// timing jitter (slip), each exciting the machine's bearing resonance (±8%), which rings down in
/// 0.8–2.5 ms. Impulses are stronger in the load zone (once per revolution) and vary ±15% in size.
/// Peak ring amplitude is 6 × severity times the machine sound's RMS, so mild cases hide in the noise.
/// The defect rate, resonance and ring-down are the damaged part's (<paramref name="part"/>); the load-zone phase
/// and every impulse's timing and size are the clip's (<paramref name="clip"/>). Both may be the same stream.
/// </summary>
internal static class BearingImpulses
{
    public static void Add(Span<double> machine, ReadOnlySpan<double> shaftCycles, double rotationHz, double severity,
        double referenceRms, MachineProfile profile, ref RandomState part, ref RandomState clip, int sampleRate)
    {
        double rate = rotationHz * Signal.Uniform(ref part, 3.0, 5.4);
        double ringHz = profile.BearingResonanceHz * Signal.Uniform(ref part, 0.92, 1.08);
        double tau = Signal.Uniform(ref part, 0.0008, 0.0025) * sampleRate; // samples
        double zonePhase = clip.NextDouble();
        double peak = 6 * severity * referenceRms;
        int length = (int)Math.Ceiling(6 * tau);
        double decay = Math.Exp(-1 / tau);
        double w = 2 * Math.PI * ringHz / sampleRate;
        double cosW = Math.Cos(w), sinW = Math.Sin(w);
        double period = sampleRate / rate;
        double t = period * clip.NextDouble();
        while (t < machine.Length)
        {
            int start = (int)t;
            double zone = 0.6 + 0.4 * Wavetable.Sine.At(Signal.Wrap(shaftCycles[start] + zonePhase));
            double amplitude = peak * zone * Signal.Uniform(ref clip, 0.85, 1.15);
            // damped sinusoid by phasor rotation: amplitude · decay^k · sin(w k)
            double re = amplitude, im = 0;
            int end = Math.Min(machine.Length, start + length);
            for (int i = start; i < end; i++)
            {
                machine[i] += im;
                double nextRe = (re * cosW - im * sinW) * decay;
                im = (re * sinW + im * cosW) * decay;
                re = nextRe;
            }
            t += period * (1 + Math.Clamp(0.03 * clip.NextGaussian(), -0.1, 0.1));
        }
    }
}
