using AsdOrleans.Method.Randomness;

namespace AsdOrleans.Datasets.Synthesis;

/// <summary>
/// Fault: the rotation frequency wobbles (depth up to 4% × severity, 0.3–2 Hz) and drifts (a ramp of
/// up to ±4% × severity over the clip), so every harmonic k·f_rot wanders by k times as many hertz.
/// Normal clips wander by at most 0.15%. Depths and the wobble rate are the damaged part's (<c>part</c>); the wobble's
/// phase and the drift's direction are the clip's (<c>clip</c>). Both may be the same stream.
/// </summary>
internal sealed record HarmonicDrift(double WobbleDepth, double WobbleHz, double WobblePhase, double Ramp, double Seconds)
{
    public static HarmonicDrift Draw(ref RandomState part, ref RandomState clip, double severity, double seconds)
    {
        double depth = severity * Signal.Uniform(ref part, 0.01, 0.04);
        double hz = Signal.Uniform(ref part, 0.3, 2.0);
        double phase = Signal.Uniform(ref clip, 0, 2 * Math.PI);
        double ramp = severity * Signal.Uniform(ref part, 0.01, 0.04) * (clip.NextDouble() < 0.5 ? -1 : 1);
        return new HarmonicDrift(depth, hz, phase, ramp, seconds);
    }

    /// <summary>Relative deviation of the rotation frequency at time t.</summary>
    public double Deviation(double t) => WobbleDepth * Math.Sin(2 * Math.PI * WobbleHz * t + WobblePhase) + Ramp * (t / Seconds - 0.5);
}
