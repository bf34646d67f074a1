using AsdOrleans.Method.Randomness;

namespace AsdOrleans.Datasets.Synthesis;

/// <summary>
/// Every clip of a data set, per machine type: the training split holds the source clips
/// (numbers 0 … train−1) then the target clips; the test split holds four equal blocks, in order
/// source normal, source anomaly, target normal, target anomaly. Attributes are drawn uniformly from
/// the domain's speeds and loads; anomalous clips cycle through the four fault kinds and draw a
/// severity s = 0.1 + 0.9·u² (u uniform; median 0.33, so subtle faults are common); with
/// <see cref="FaultConditions.Recurring"/> a fault kind's physical parameters come from (seed, machine type, kind)
/// and are the same in every clip of that kind and type, in both domains (with
/// <see cref="FaultConditions.RecurringFixedSeverity"/> its severity too). A clip's seed
/// derives from (seed, machine type, split, domain, label, position within its block), so a clip
/// does not change when other counts change.
/// </summary>
public sealed class SynthPlan
{
    public const double MinSeverity = 0.1;
    private const ulong ClipTag = 0xC1, AttributeTag = 0xA7, ConditionTag = 0xFC, ConditionSeverityTag = 0x5E;

    public SynthSettings Settings { get; }
    public IReadOnlyList<MachineProfile> MachineTypes { get; }
    /// <summary>All clips, machine type by machine type, training before test, in clip-number order.</summary>
    public IReadOnlyList<ClipSpec> Clips { get; }

    private SynthPlan(SynthSettings settings, IReadOnlyList<MachineProfile> types, IReadOnlyList<ClipSpec> clips)
    {
        Settings = settings;
        MachineTypes = types;
        Clips = clips;
    }

    public static SynthPlan Create(SynthSettings settings)
    {
        settings.Validate();
        var types = MachineCatalog.All.Take(settings.MachineTypes).ToList();
        var clips = new List<ClipSpec>(settings.TotalClips);
        for (int m = 0; m < types.Count; m++)
        {
            var environments = new[] { FactoryEnvironment.Draw(settings.Seed, m, SynthDomain.Source), FactoryEnvironment.Draw(settings.Seed, m, SynthDomain.Target) };
            int index = 0;
            for (int j = 0; j < settings.SourceTrain; j++)
                clips.Add(Clip(settings, m, environments[0], SynthSplit.Train, false, j, index++));
            for (int j = 0; j < settings.TargetTrain; j++)
                clips.Add(Clip(settings, m, environments[1], SynthSplit.Train, false, j, index++));
            index = 0;
            foreach (var environment in environments)
                foreach (bool anomaly in new[] { false, true })
                    for (int j = 0; j < settings.TestPerDomainAndLabel; j++)
                        clips.Add(Clip(settings, m, environment, SynthSplit.Test, anomaly, j, index++));
        }
        return new SynthPlan(settings, types, clips);
    }

    private static double Severity(double u) => MinSeverity + (1 - MinSeverity) * u * u;

    private static ClipSpec Clip(SynthSettings settings, int machineIndex, FactoryEnvironment environment, SynthSplit split, bool anomaly, int ordinal, int index)
    {
        var machine = MachineCatalog.All[machineIndex];
        ulong seed = RandomState.DeriveSeed(settings.Seed, ClipTag, (ulong)machineIndex, (ulong)split, (ulong)environment.Domain, anomaly ? 1UL : 0UL, (ulong)ordinal);
        var r = RandomState.FromSeed(RandomState.DeriveSeed(seed, AttributeTag));
        int[] speeds = environment.Domain == SynthDomain.Source ? machine.SourceSpeeds : machine.TargetSpeeds;
        int speed = speeds[r.NextInt(speeds.Length)];
        int load = machine.Loads[r.NextInt(machine.Loads.Length)];
        double severity = Severity(r.NextDouble());
        var fault = anomaly ? SynthNames.Faults[ordinal % SynthNames.Faults.Count] : AnomalyKind.None;
        ulong? condition = anomaly && settings.Faults != FaultConditions.PerClip
            ? RandomState.DeriveSeed(settings.Seed, ConditionTag, (ulong)machineIndex, (ulong)fault)
            : null;
        if (condition is ulong part && settings.Faults == FaultConditions.RecurringFixedSeverity)
            severity = Severity(RandomState.FromSeed(RandomState.DeriveSeed(part, ConditionSeverityTag)).NextDouble());
        return new ClipSpec
        {
            Machine = machine,
            Environment = environment,
            Split = split,
            Index = index,
            Speed = speed,
            Load = load,
            Anomaly = fault,
            Severity = anomaly ? severity : 0,
            FaultConditionSeed = condition,
            Samples = settings.SamplesPerClip,
            Seed = seed,
        };
    }
}
