namespace AsdOrleans.Datasets.Synthesis;

/// <summary>DCASE domain of a clip: the source domain has plenty of training data, the target domain a few clips.</summary>
public enum SynthDomain { Source, Target }

/// <summary>DCASE split: training clips (all normal) and test clips (half normal, half anomalous per domain).</summary>
public enum SynthSplit { Train, Test }

/// <summary>The kinds of machine fault the generator can inject.</summary>
public enum AnomalyKind
{
    None,
    /// <summary>Quasi-periodic clicks at a bearing defect rate (3–5.4 × f_rot), each ringing down at a high resonance.</summary>
    BearingImpulses,
    /// <summary>The rotation frequency wobbles and drifts during the clip, smearing every harmonic.</summary>
    HarmonicDrift,
    /// <summary>Intermittent bursts of band-limited friction noise, pulsing once per revolution.</summary>
    RubbingNoise,
    /// <summary>A stronger 1× component and amplitude modulation of the whole machine sound at the rotation rate.</summary>
    ImbalanceModulation,
}

/// <summary>
/// Where a fault's physical parameters come from. <see cref="PerClip"/> (the default): every anomalous clip draws its own
/// (a bearing's defect rate, a rub's band, a wobble's rate…), so no two anomalies are the same damage.
/// <see cref="Recurring"/>: each machine type has one damaged part per fault kind, whose parameters are fixed for the
/// plant and shared by both domains, as DCASE records each anomaly condition of a machine many times; severity, event
/// timing and phases still vary per clip. <see cref="RecurringFixedSeverity"/>: as recurring, and each damaged part also
/// has one severity (drawn once from the per-clip distribution), so only timing, phases and the recording vary.
/// </summary>
public enum FaultConditions { PerClip, Recurring, RecurringFixedSeverity }

public static class SynthNames
{
    public static AsdOrleans.Method.Vocabulary.KindNames<FaultConditions> FaultConditionNames { get; } =
        new("fault conditions", (FaultConditions.PerClip, "per-clip"), (FaultConditions.Recurring, "recurring"),
            (FaultConditions.RecurringFixedSeverity, "recurring-fixed-severity"));

    public static string Of(SynthDomain domain) => domain == SynthDomain.Source ? "source" : "target";
    public static string Of(SynthSplit split) => split == SynthSplit.Train ? "train" : "test";

    public static string Of(AnomalyKind kind) => kind switch
    {
        AnomalyKind.None => "none",
        AnomalyKind.BearingImpulses => "bearing-impulses",
        AnomalyKind.HarmonicDrift => "harmonic-drift",
        AnomalyKind.RubbingNoise => "rubbing-noise",
        AnomalyKind.ImbalanceModulation => "imbalance-modulation",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The fault kinds, in the order anomalous clips cycle through them.</summary>
    public static IReadOnlyList<AnomalyKind> Faults { get; } =
        [AnomalyKind.BearingImpulses, AnomalyKind.HarmonicDrift, AnomalyKind.RubbingNoise, AnomalyKind.ImbalanceModulation];
}
