namespace AsdOrleans.Datasets.Synthesis;

/// <summary>A fixed structural resonance: a band-pass at <paramref name="Hz"/> excited by the machine's source, mixed at <paramref name="GainDb"/>.</summary>
public readonly record struct Resonance(double Hz, double Q, double GainDb);

/// <summary>
/// The spectral character of one synthetic machine type. A clip of the type is a rotating source —
/// fundamental f_rot with harmonics k·f_rot whose amplitudes decay as k^(−HarmonicSlope), plus an
/// emphasised order (blade pass, vane pass, gear mesh, commutator…) and its multiples — and
/// load-dependent broadband noise, both exciting the type's fixed structural resonances.
/// Operating conditions: <c>spd</c> (speed in percent of nominal, scales f_rot) and <c>load</c>
/// (raises and brightens the broadband noise, and slows the shaft slightly through slip).
/// Target-domain speeds are disjoint from source-domain speeds (the domain shift).
/// </summary>
public sealed record MachineProfile
{
    /// <summary>Machine type name, used as the folder name (e.g. <c>synth-fan</c>).</summary>
    public required string Name { get; init; }
    public required string Description { get; init; }

    /// <summary>Shaft rotation frequency at spd 100 and load 1.</summary>
    public required double NominalRotationHz { get; init; }
    /// <summary>Fractional drop of the rotation frequency per load step above 1 (slip).</summary>
    public double SlipPerLoad { get; init; } = 0.01;
    public required int[] SourceSpeeds { get; init; }
    /// <summary>Speeds of the target domain, none of them a source speed.</summary>
    public required int[] TargetSpeeds { get; init; }
    public int[] Loads { get; init; } = [1, 2, 3];

    /// <summary>Harmonic k has amplitude k^(−slope) before emphasis.</summary>
    public required double HarmonicSlope { get; init; }
    /// <summary>The emphasised order (blades, vanes, teeth, poles…); 0 for none.</summary>
    public int EmphasisOrder { get; init; }
    /// <summary>Amplitude of the emphasised order relative to the plain 1× amplitude.</summary>
    public double EmphasisDb { get; init; }
    /// <summary>Spread (in harmonic numbers) of the emphasis around each multiple of the order; wider gives sidebands.</summary>
    public double EmphasisWidth { get; init; } = 0.5;
    /// <summary>Harmonics above this frequency are not rendered.</summary>
    public double MaxHarmonicHz { get; init; } = 6000;
    /// <summary>Speed-independent tones (e.g. an inverter's switching whine), relative to the harmonic part.</summary>
    public double[] FixedTonesHz { get; init; } = [];
    public double FixedToneDb { get; init; } = -12;

    public required Resonance[] Resonances { get; init; }

    /// <summary>Broadband noise level at load 1, relative to the harmonic part (both before resonances).</summary>
    public required double NoiseDb { get; init; }
    public double NoisePerLoadDb { get; init; } = 2;
    /// <summary>Noise colour at load 1: 0 = pink, 1 = white.</summary>
    public double NoiseColour { get; init; } = 0.3;
    public double ColourPerLoad { get; init; } = 0.1;
    /// <summary>A broad band the machine's own noise is concentrated in (flow, air, friction).</summary>
    public required double NoiseBandHz { get; init; }
    public double NoiseBandDb { get; init; } = 3;

    /// <summary>Ring-down frequency of bearing-defect impulses (anomaly).</summary>
    public required double BearingResonanceHz { get; init; }
    /// <summary>Centre of the band of rubbing noise (anomaly).</summary>
    public required double RubBandHz { get; init; }

    /// <summary>The nominal shaft rotation frequency for these attribute values (before the small per-clip jitter).</summary>
    public double RotationHz(int speed, int load) => NominalRotationHz * speed / 100.0 * (1 - SlipPerLoad * (load - 1));

    /// <summary>Nominal amplitude of harmonic k (k ≥ 1) before per-clip jitter.</summary>
    public double HarmonicWeight(int k)
    {
        double weight = Math.Pow(k, -HarmonicSlope);
        if (EmphasisOrder > 0)
        {
            double emphasis = Signal.FromDb(EmphasisDb);
            int nearest = (int)Math.Round((double)k / EmphasisOrder);
            for (int m = Math.Max(1, nearest - 1); m <= nearest + 1; m++)
            {
                double d = k - m * EmphasisOrder;
                weight += emphasis * Math.Exp(-d * d / (2 * EmphasisWidth * EmphasisWidth)) / Math.Pow(m, 0.7);
            }
        }
        return weight;
    }
}
