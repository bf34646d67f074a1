using AsdOrleans.Method.Randomness;

namespace AsdOrleans.Datasets.Synthesis;

/// <summary>
/// Rotor imbalance: an extra once-per-revolution (1×) component and amplitude modulation of the
/// whole machine sound at the rotation rate, 1 + depth·cos(2π θ(t) + phase) with θ the shaft phase.
/// Every machine has a little (depth ≤ 0.03, no extra 1×); the fault adds depth 0.5 × severity and
/// a 1× component of 1.2 × severity times the harmonic part's RMS. The residual depth is the damaged part's
/// (<c>part</c>), the phase the clip's (<c>clip</c>); both may be the same stream.
/// </summary>
internal sealed record ImbalanceModulation(double Depth, double ExtraOneX, double Phase)
{
    public static ImbalanceModulation Draw(ref RandomState part, ref RandomState clip, double severity)
        => new(Signal.Uniform(ref part, 0, 0.03) + 0.5 * severity, 1.2 * severity, Signal.Uniform(ref clip, 0, 2 * Math.PI));

    /// <summary>Adds the extra 1× component (RMS <see cref="ExtraOneX"/>) to the excitation.</summary>
    public void AddOneX(Span<double> excitation, ReadOnlySpan<double> shaftCycles)
    {
        if (ExtraOneX == 0) return;
        double amplitude = ExtraOneX * Math.Sqrt(2);
        for (int i = 0; i < excitation.Length; i++)
            excitation[i] += amplitude * Wavetable.Sine.At(shaftCycles[i]);
    }

    public void Modulate(Span<double> machine, ReadOnlySpan<double> shaftCycles)
    {
        double offset = Phase / (2 * Math.PI) + 0.25; // sin(2π(θ + ¼)) = cos(2πθ)
        for (int i = 0; i < machine.Length; i++)
            machine[i] *= 1 + Depth * Wavetable.Sine.At(Signal.Wrap(shaftCycles[i] + offset));
    }
}
