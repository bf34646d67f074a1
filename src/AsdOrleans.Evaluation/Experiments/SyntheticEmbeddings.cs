using AsdOrleans.Method.Randomness;

namespace AsdOrleans.Evaluation.Experiments;

/// <summary>Knobs of the synthetic embedding generator; defaults mimic one DCASE 2023 section.</summary>
public sealed record SyntheticEmbeddingSettings
{
    public int Machines { get; init; } = 7;
    public int Dimension { get; init; } = 128;
    public ulong Seed { get; init; }
    /// <summary>DCASE 2023: 990 source and 10 target training clips per section.</summary>
    public int SourceTrain { get; init; } = 990;
    public int TargetTrain { get; init; } = 10;
    /// <summary>DCASE 2023 dev: 50 normal + 50 anomalous test clips per domain.</summary>
    public int TestPerDomainAndLabel { get; init; } = 50;
    /// <summary>Attribute modes (e.g. operating conditions) per domain.</summary>
    public int SourceModes { get; init; } = 3;
    /// <summary>Target modes; the training clips come from the first only, the others are unseen in training.</summary>
    public int TargetModes { get; init; } = 2;
    public int AnomalyKinds { get; init; } = 4;
    /// <summary>Weight of the kind-specific part of an anomaly's direction against the machine's shared fault
    /// direction (faults of one machine resemble each other more than they resemble normal operation).</summary>
    public double KindSpread { get; init; } = 0.5;
    /// <summary>Angular spread of clips around their mode (noise norm relative to the unit mode vector).</summary>
    public double Spread { get; init; } = 0.6;
    /// <summary>How far attribute modes sit from the machine's centre.</summary>
    public double ModeSpread { get; init; } = 1.5;
    /// <summary>How far the target domain is shifted from the source domain.</summary>
    public double DomainShift { get; init; } = 0.8;
    /// <summary>Anomaly severities are drawn uniformly from this range (small = close to normals).</summary>
    public double MinSeverity { get; init; } = 0.2;
    public double MaxSeverity { get; init; } = 1.2;

    public SyntheticEmbeddingSettings Validate()
    {
        if (Machines < 1) throw new ArgumentException($"machines must be at least 1, got {Machines}");
        if (Dimension < 2) throw new ArgumentException($"dimension must be at least 2, got {Dimension}");
        if (SourceTrain < 1 || TargetTrain < 0 || TestPerDomainAndLabel < 1)
            throw new ArgumentException("clip counts must be positive (target training may be 0)");
        if (SourceModes < 1 || TargetModes < 1 || AnomalyKinds < 1)
            throw new ArgumentException("modes and anomaly kinds must be at least 1");
        if (!(Spread > 0) || !(ModeSpread >= 0) || !(DomainShift >= 0) || !(KindSpread >= 0) || !(MinSeverity >= 0) || !(MaxSeverity >= MinSeverity))
            throw new ArgumentException("spreads and severities must be non-negative, with min ≤ max severity");
        return this;
    }
}

/// <summary>
/// A seeded generator of embedding sets that reproduce the paper's situation without audio:
/// per machine, source attribute modes with plenty of training clips; a shifted target domain with
/// few training clips from one mode and further target modes unseen in training (normal, yet far
/// from N, so the offline model raises false alarms that normal labels can fix); and anomalies of a
/// few kinds, each a mode displaced along a kind-specific direction by a random severity, some so
/// mild they overlap the normals (labelled anomalies of a kind help find the others, via Eq. 2).
/// </summary>
public static class SyntheticEmbeddings
{
    public static EmbeddingTable Generate(SyntheticEmbeddingSettings settings)
    {
        settings.Validate();
        var records = new List<EmbeddingRecord>();
        for (int m = 0; m < settings.Machines; m++)
            records.AddRange(GenerateMachine(settings, m));
        return new EmbeddingTable(records, settings.Dimension, "(synthetic)");
    }

    private static IEnumerable<EmbeddingRecord> GenerateMachine(SyntheticEmbeddingSettings s, int index)
    {
        var random = RandomState.FromSeed(RandomState.DeriveSeed(s.Seed, (ulong)index, 0x5E /* synth */));
        int d = s.Dimension;
        string machine = $"machine-{index:D2}";
        var centre = UnitVector(ref random, d);
        var shift = UnitVector(ref random, d);
        var sourceModes = Enumerable.Range(0, s.SourceModes).Select(_ => Offset(centre, UnitVector(ref random, d), s.ModeSpread)).ToArray();
        var targetModes = Enumerable.Range(0, s.TargetModes)
            .Select(k => Offset(Offset(centre, shift, s.DomainShift), UnitVector(ref random, d), s.ModeSpread)).ToArray();
        var fault = UnitVector(ref random, d);
        var anomalyDirections = Enumerable.Range(0, s.AnomalyKinds).Select(_ => Offset(fault, UnitVector(ref random, d), s.KindSpread)).ToArray();

        int clip = 0;
        string Name(bool test, bool target, bool anomaly, int mode)
            => $"section_00_{(target ? "target" : "source")}_{(test ? "test" : "train")}_{(anomaly ? "anomaly" : "normal")}_{clip++:D4}_mode_{mode}.wav";

        for (int i = 0; i < s.SourceTrain; i++)
        {
            int mode = i % s.SourceModes;
            yield return new(machine, false, false, false, Name(false, false, false, mode), Sample(ref random, sourceModes[mode], s.Spread));
        }
        for (int i = 0; i < s.TargetTrain; i++)
            yield return new(machine, false, true, false, Name(false, true, false, 0), Sample(ref random, targetModes[0], s.Spread));

        foreach (bool target in new[] { false, true })
        {
            var modes = target ? targetModes : sourceModes;
            for (int i = 0; i < s.TestPerDomainAndLabel; i++)
            {
                int mode = i % modes.Length;
                yield return new(machine, true, target, false, Name(true, target, false, mode), Sample(ref random, modes[mode], s.Spread));
            }
            for (int i = 0; i < s.TestPerDomainAndLabel; i++)
            {
                int mode = i % modes.Length;
                int kind = random.NextInt(s.AnomalyKinds);
                double severity = s.MinSeverity + random.NextDouble() * (s.MaxSeverity - s.MinSeverity);
                var displaced = Offset(modes[mode], anomalyDirections[kind], severity);
                yield return new(machine, true, target, true, Name(true, target, true, mode), Sample(ref random, displaced, s.Spread));
            }
        }
    }

    private static float[] UnitVector(ref RandomState random, int d)
    {
        var v = new double[d];
        for (int i = 0; i < d; i++) v[i] = random.NextGaussian();
        return ToUnitFloat(v);
    }

    /// <summary>normalise(base + amount · direction).</summary>
    private static float[] Offset(float[] basis, float[] direction, double amount)
    {
        var v = new double[basis.Length];
        for (int i = 0; i < v.Length; i++) v[i] = basis[i] + amount * direction[i];
        return ToUnitFloat(v);
    }

    /// <summary>A clip around a mode: isotropic Gaussian noise whose expected norm is <paramref name="spread"/>.</summary>
    private static float[] Sample(ref RandomState random, float[] mode, double spread)
    {
        double scale = spread / Math.Sqrt(mode.Length);
        var v = new double[mode.Length];
        for (int i = 0; i < v.Length; i++) v[i] = mode[i] + scale * random.NextGaussian();
        return ToUnitFloat(v);
    }

    private static float[] ToUnitFloat(double[] v)
    {
        double norm = Math.Sqrt(v.Sum(x => x * x));
        return v.Select(x => (float)(x / norm)).ToArray();
    }
}
