namespace AsdOrleans.Datasets.Synthesis;

/// <summary>
/// The synthetic machine types, in the order <c>--machine-types N</c> takes them. Each has its own
/// rotation speed, harmonic pattern, resonances and noise band, so their spectra differ clearly.
/// </summary>
public static class MachineCatalog
{
    public static IReadOnlyList<MachineProfile> All { get; } =
    [
        new MachineProfile
        {
            Name = "synth-fan",
            Description = "7-blade fan: weak shaft harmonics, strong blade-pass order (7×), loud low-mid air noise",
            NominalRotationHz = 24, SourceSpeeds = [70, 80, 90, 100], TargetSpeeds = [115, 125],
            HarmonicSlope = 1.2, EmphasisOrder = 7, EmphasisDb = 6, EmphasisWidth = 0.4, MaxHarmonicHz = 4000,
            Resonances = [new(420, 8, 6), new(1150, 12, 4), new(2600, 6, 3)],
            NoiseDb = -2, NoisePerLoadDb = 2, NoiseColour = 0.2, ColourPerLoad = 0.1, NoiseBandHz = 600, NoiseBandDb = 4,
            BearingResonanceHz = 3400, RubBandHz = 2200,
        },
        new MachineProfile
        {
            Name = "synth-pump",
            Description = "5-vane pump: vane-pass order (5×), turbulent flow noise around 2.2 kHz",
            NominalRotationHz = 48, SourceSpeeds = [80, 90, 100, 110], TargetSpeeds = [60, 65],
            HarmonicSlope = 1.0, EmphasisOrder = 5, EmphasisDb = 0, EmphasisWidth = 0.4, MaxHarmonicHz = 5000,
            Resonances = [new(310, 10, 5), new(1700, 15, 6), new(3900, 8, 4)],
            NoiseDb = -4, NoisePerLoadDb = 2.5, NoiseColour = 0.4, NoiseBandHz = 2200, NoiseBandDb = 5,
            BearingResonanceHz = 4200, RubBandHz = 1500,
        },
        new MachineProfile
        {
            Name = "synth-gearbox",
            Description = "gearbox, 23-tooth input gear: gear-mesh order (23×) with sidebands, sharp high resonances, quiet noise",
            NominalRotationHz = 18, SourceSpeeds = [80, 90, 100, 110], TargetSpeeds = [125, 140],
            HarmonicSlope = 1.6, EmphasisOrder = 23, EmphasisDb = 6, EmphasisWidth = 0.8, MaxHarmonicHz = 6000,
            Resonances = [new(820, 20, 6), new(2950, 25, 6), new(5200, 12, 3)],
            NoiseDb = -10, NoisePerLoadDb = 1.5, NoiseColour = 0.5, NoiseBandHz = 3000, NoiseBandDb = 2,
            BearingResonanceHz = 4800, RubBandHz = 2700,
        },
        new MachineProfile
        {
            Name = "synth-slider",
            Description = "ball-screw slide: dominant 1× and 2×, inverter whine at 3.15 and 6.3 kHz independent of speed, bright noise",
            NominalRotationHz = 35, SourceSpeeds = [90, 100, 110, 120], TargetSpeeds = [70, 75],
            HarmonicSlope = 2.0, EmphasisOrder = 2, EmphasisDb = 3, EmphasisWidth = 0.3, MaxHarmonicHz = 3000,
            FixedTonesHz = [3150, 6300], FixedToneDb = -10,
            Resonances = [new(1250, 15, 5), new(2300, 30, 8), new(4600, 10, 3)],
            NoiseDb = -8, NoisePerLoadDb = 2, NoiseColour = 0.7, NoiseBandHz = 5000, NoiseBandDb = 3,
            BearingResonanceHz = 3000, RubBandHz = 3500,
        },
        new MachineProfile
        {
            Name = "synth-compressor",
            Description = "two-cylinder reciprocating compressor: rich slowly decaying harmonic series, 2× emphasis, low resonance",
            NominalRotationHz = 24, SourceSpeeds = [80, 90, 100, 110], TargetSpeeds = [130, 140],
            HarmonicSlope = 0.7, EmphasisOrder = 2, EmphasisDb = 0, EmphasisWidth = 0.5, MaxHarmonicHz = 6000,
            Resonances = [new(260, 6, 6), new(1400, 9, 5), new(3300, 14, 4)],
            NoiseDb = -10, NoisePerLoadDb = 2, NoiseColour = 0.1, NoiseBandHz = 350, NoiseBandDb = 3,
            BearingResonanceHz = 3900, RubBandHz = 1800,
        },
        new MachineProfile
        {
            Name = "synth-bearing",
            Description = "spindle on a 9-ball bearing: soft shaft harmonics with a ball-pass order (9×), bright broadband noise shaped by high resonances",
            NominalRotationHz = 60, SourceSpeeds = [80, 90, 100, 110], TargetSpeeds = [130, 145],
            HarmonicSlope = 1.4, EmphasisOrder = 9, EmphasisDb = -3, EmphasisWidth = 0.4, MaxHarmonicHz = 4000,
            Resonances = [new(2800, 12, 8), new(4500, 18, 6), new(6100, 10, 4)],
            NoiseDb = -1, NoisePerLoadDb = 1.5, NoiseColour = 0.8, ColourPerLoad = 0.05, NoiseBandHz = 5000, NoiseBandDb = 4,
            BearingResonanceHz = 5200, RubBandHz = 4000,
        },
        new MachineProfile
        {
            Name = "synth-toycar",
            Description = "toy-car DC motor: fast shaft, 6× commutator order, buzzy harmonics, bright noise",
            NominalRotationHz = 90, SourceSpeeds = [80, 90, 100, 110], TargetSpeeds = [120, 135],
            HarmonicSlope = 1.3, EmphasisOrder = 6, EmphasisDb = 3, EmphasisWidth = 0.4, MaxHarmonicHz = 7000,
            Resonances = [new(700, 5, 5), new(1900, 8, 4), new(5400, 6, 5)],
            NoiseDb = -5, NoisePerLoadDb = 2, NoiseColour = 0.6, NoiseBandHz = 2500, NoiseBandDb = 2,
            BearingResonanceHz = 6000, RubBandHz = 3000,
        },
    ];

    public static MachineProfile Get(string name)
        => All.FirstOrDefault(m => m.Name == name)
           ?? throw new ArgumentException($"unknown machine type '{name}'; known: {string.Join(", ", All.Select(m => m.Name))}");
}
