using AsdOrleans.Method.Randomness;

namespace AsdOrleans.Datasets.Synthesis;

/// <summary>
/// Renders one clip from its <see cref="ClipSpec"/>:
/// <list type="number">
/// <item>shaft: f_rot from the attributes (±0.4% per clip), a slow wander of ≤ 0.15% (plus the drift
///   fault), integrated to the shaft phase θ(t);</item>
/// <item>source: the harmonic series of the machine type read from a wavetable at θ (each harmonic
///   ±1.5 dB per clip, random phases, ±5% slow level wander), speed-independent tones, and
///   broadband noise whose level and brightness grow with load, concentrated in the type's band;</item>
/// <item>structure: the source plus its response through the type's resonances (±1% in frequency);</item>
/// <item>imbalance modulation (always a little), then bearing impulses or rubbing noise if that is the fault;</item>
/// <item>factory background at the clip's SNR (drawn from the domain's range), the domain's
///   microphone, and a level of −26 dBFS RMS ±2 dB, lowered where needed to keep peaks at −1 dBFS.</item>
/// </list>
/// Each part draws from its own stream derived from the clip seed, so a clip and the same clip with a
/// fault differ only by the fault (and the final level).
/// </summary>
public static class ClipSynthesizer
{
    public const int SampleRate = SynthSettings.SampleRate;
    public const double TargetRms = 0.05;
    public const double MaxPeak = 0.89;

    private enum Stream : ulong { Variation = 1, Harmonics, MachineNoise, Structure, Background, Fault, Level }

    private static RandomState Random(ClipSpec spec, Stream stream)
        => RandomState.FromSeed(RandomState.DeriveSeed(spec.Seed, (ulong)stream));

    /// <summary>The clip's samples in [−1, 1].</summary>
    public static float[] Render(ClipSpec spec)
    {
        var output = new float[spec.Samples];
        Render(spec, output, new SampleBuffers(spec.Samples));
        return output;
    }

    /// <summary>Renders into <paramref name="output"/> (the clip's length) with scratch space from <paramref name="pool"/>.</summary>
    internal static void Render(ClipSpec spec, Span<float> output, SampleBuffers pool)
    {
        if (output.Length != spec.Samples || pool.Length != spec.Samples)
            throw new ArgumentException("output and buffers must have the clip's length");
        using var buffers = pool.Open();
        var machine = spec.Machine;
        int n = spec.Samples;
        double seconds = (double)n / SampleRate;
        var fault = Random(spec, Stream.Fault);
        // A recurring damaged part's parameters come from its own stream; otherwise `part` is the clip's fault stream itself,
        // drawn in the same order as before parts existed, so per-clip plants are unchanged byte for byte.
        var condition = spec.FaultConditionSeed is ulong partSeed ? RandomState.FromSeed(partSeed) : default;
        ref var part = ref spec.FaultConditionSeed.HasValue ? ref condition : ref fault;

        // 1. Shaft speed and phase.
        var variation = Random(spec, Stream.Variation);
        double rotationHz = spec.NominalRotationHz * (1 + Signal.Uniform(ref variation, -0.004, 0.004));
        double wanderDepth = Signal.Uniform(ref variation, 0, 0.0015);
        double wanderHz = Signal.Uniform(ref variation, 0.05, 0.3);
        double wanderPhase = Signal.Uniform(ref variation, 0, 2 * Math.PI);
        var drift = spec.Anomaly == AnomalyKind.HarmonicDrift ? HarmonicDrift.Draw(ref part, ref fault, spec.Severity, seconds) : null;
        double[] frequency = ControlCurve.Sample(buffers.Take(), SampleRate,
            t => rotationHz * (1 + wanderDepth * Math.Sin(2 * Math.PI * wanderHz * t + wanderPhase) + (drift?.Deviation(t) ?? 0)));
        double[] shaft = ShaftPhase(frequency, variation.NextDouble(), buffers.Take());

        // 2. Source: harmonics, fixed tones, load noise.
        var harmonicsRandom = Random(spec, Stream.Harmonics);
        double highest = 0;
        foreach (double f in frequency) highest = Math.Max(highest, f);
        var harmonics = HarmonicTable(machine, highest, ref harmonicsRandom);
        double levelDepth = Signal.Uniform(ref harmonicsRandom, 0, 0.05);
        double levelHz = Signal.Uniform(ref harmonicsRandom, 0.1, 0.5);
        double levelPhase = Signal.Uniform(ref harmonicsRandom, 0, 2 * Math.PI);
        double[] excitation = ControlCurve.Sample(buffers.Take(), SampleRate, t => 1 + levelDepth * Math.Sin(2 * Math.PI * levelHz * t + levelPhase));
        for (int i = 0; i < n; i++)
            excitation[i] *= harmonics.At(shaft[i]);
        foreach (double hz in machine.FixedTonesHz)
            Wavetable.Sine.AccumulateConstant(excitation, hz * Signal.Uniform(ref harmonicsRandom, 0.998, 1.002), SampleRate,
                harmonicsRandom.NextDouble(), Math.Sqrt(2) * Signal.FromDb(machine.FixedToneDb + Signal.Uniform(ref harmonicsRandom, -2, 2)));

        var imbalance = spec.Anomaly == AnomalyKind.ImbalanceModulation
            ? ImbalanceModulation.Draw(ref part, ref fault, spec.Severity)
            : new ImbalanceModulation(Signal.Uniform(ref variation, 0, 0.03), 0, Signal.Uniform(ref variation, 0, 2 * Math.PI));
        imbalance.AddOneX(excitation, shaft);

        var noiseRandom = Random(spec, Stream.MachineNoise);
        Signal.Mix(excitation, LoadNoise(machine, spec.Load, ref noiseRandom, buffers), Signal.FromDb(
            machine.NoiseDb + machine.NoisePerLoadDb * (spec.Load - 1) + Signal.Uniform(ref noiseRandom, -1.5, 1.5)));

        // 3. Structure.
        var structureRandom = Random(spec, Stream.Structure);
        var sound = buffers.Take();
        excitation.CopyTo(sound, 0);
        foreach (var resonance in machine.Resonances)
        {
            var filter = Biquad.BandPass(SampleRate, resonance.Hz * (1 + Signal.Uniform(ref structureRandom, -0.01, 0.01)), resonance.Q);
            filter.Accumulate(excitation, sound, Signal.FromDb(resonance.GainDb + Signal.Uniform(ref structureRandom, -1, 1)));
        }

        // 4. Imbalance modulation, then additive faults relative to the machine's own level.
        imbalance.Modulate(sound, shaft);
        double machineRms = Signal.Rms(sound);
        if (spec.Anomaly == AnomalyKind.BearingImpulses)
            BearingImpulses.Add(sound, shaft, rotationHz, spec.Severity, machineRms, machine, ref part, ref fault, SampleRate);
        else if (spec.Anomaly == AnomalyKind.RubbingNoise)
            RubbingNoise.Add(sound, shaft, spec.Severity, machineRms, machine, ref part, ref fault, SampleRate, buffers.Take());

        // 5. Background, microphone, level.
        var backgroundRandom = Random(spec, Stream.Background);
        double snrDb = Signal.Uniform(ref backgroundRandom, spec.Environment.MinSnrDb, spec.Environment.MaxSnrDb);
        var background = FactoryBackground.Render(spec.Environment, ref backgroundRandom, SampleRate, buffers);
        Signal.Mix(sound, background, machineRms / Signal.FromDb(snrDb));
        spec.Environment.Microphone.Apply(sound, SampleRate);

        var levelRandom = Random(spec, Stream.Level);
        double rms = Signal.Rms(sound), peak = Signal.Peak(sound);
        double gain = rms > 0 ? TargetRms * Signal.FromDb(Signal.Uniform(ref levelRandom, -2, 2)) / rms : 0;
        if (peak * gain > MaxPeak) gain = MaxPeak / peak;
        for (int i = 0; i < n; i++) output[i] = (float)(sound[i] * gain);
    }

    /// <summary>Integrates the instantaneous rotation frequency to the shaft phase in cycles, wrapped to [0, 1).</summary>
    private static double[] ShaftPhase(double[] frequencyHz, double startCycles, double[] phase)
    {
        double cycles = startCycles;
        for (int i = 0; i < phase.Length; i++)
        {
            phase[i] = cycles;
            cycles += frequencyHz[i] / SampleRate;
            if (cycles >= 1) cycles -= Math.Floor(cycles);
        }
        return phase;
    }

    /// <summary>One shaft revolution of the type's harmonic series, up to its highest harmonic frequency at the clip's top speed.</summary>
    private static Wavetable HarmonicTable(MachineProfile machine, double highestRotationHz, ref RandomState random)
    {
        double limit = Math.Min(machine.MaxHarmonicHz, 0.45 * SampleRate);
        int count = Math.Clamp((int)(limit / highestRotationHz), 1, Wavetable.Size / 2 - 1);
        var amplitudes = new double[count];
        var phases = new double[count];
        for (int k = 1; k <= count; k++)
        {
            amplitudes[k - 1] = machine.HarmonicWeight(k) * Signal.FromDb(1.5 * random.NextGaussian());
            phases[k - 1] = Signal.Uniform(ref random, 0, 2 * Math.PI);
        }
        return Wavetable.FromHarmonics(amplitudes, phases);
    }

    /// <summary>Broadband noise, unit RMS: pink/white mix brightening with load, plus the type's noise band.</summary>
    private static double[] LoadNoise(MachineProfile machine, int load, ref RandomState random, SampleBuffers.Scope buffers)
    {
        var pink = buffers.Take();
        var white = buffers.Take();
        int n = pink.Length;
        Noise.Pink(ref random, pink, SampleRate);
        Noise.White(ref random, white);
        double colour = Math.Clamp(machine.NoiseColour + machine.ColourPerLoad * (load - 1), 0, 1);
        for (int i = 0; i < n; i++)
            pink[i] = (1 - colour) * pink[i] + colour * white[i];
        var shaped = buffers.Take();
        pink.CopyTo(shaped, 0);
        Biquad.BandPass(SampleRate, machine.NoiseBandHz, 0.8).Accumulate(pink, shaped, Signal.FromDb(machine.NoiseBandDb));
        Signal.NormaliseRms(shaped);
        return shaped;
    }
}
