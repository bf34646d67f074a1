using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Grains.Telemetry;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Strategies;
using CoreEnrollmentClip = AsdOrleans.Method.Enrollment.EnrollmentClip;

namespace AsdOrleans.Grains.Tests.Telemetry;

/// <summary>The <c>threshold</c> tag of clips and alerts: which φ each clip was compared with.</summary>
public class AsdMetricsTests
{
    private static readonly EmbeddingTable Plant = SyntheticEmbeddings.Generate(new SyntheticEmbeddingSettings { Machines = 1, Seed = 5, SourceTrain = 200 });
    private static readonly List<CoreEnrollmentClip> Train = Plant.Records.Where(r => !r.IsTest).Select(r => new CoreEnrollmentClip(r.Embedding, r.IsTarget)).ToList();
    private static readonly List<EmbeddingRecord> Test = Plant.Records.Where(r => r.IsTest).ToList();

    [Fact]
    public void A_clip_is_tagged_with_the_domain_of_the_phi_it_was_compared_with()
    {
        var perDomain = MachineModel.Enroll(new MachineConfig { Strategy = QueryStrategyKind.None }, Train);
        var tags = Test.Select(c => perDomain.Process(c.Embedding)).Select(o => (o.DecisionThreshold, Tag: AsdMetrics.ThresholdOf(perDomain, o.DecisionThreshold))).ToList();
        Assert.All(tags, t => Assert.Equal(t.DecisionThreshold == perDomain.DecisionThreshold ? "source" : "target", t.Tag));
        Assert.Contains(tags, t => t.Tag == "source");
        Assert.Contains(tags, t => t.Tag == "target");
        Assert.Equal("between", AsdMetrics.ThresholdOf(perDomain, (perDomain.DecisionThreshold + perDomain.DecisionThresholdTarget!.Value) / 2));

        var single = MachineModel.Enroll(new MachineConfig { Strategy = QueryStrategyKind.None, DecisionThresholds = DecisionThresholdKind.Single }, Train);
        Assert.All(Test.Take(20), c => Assert.Equal("one", AsdMetrics.ThresholdOf(single, single.Process(c.Embedding).DecisionThreshold)));
    }
}

/// <summary>The <c>machine_type</c> tag stays within a bounded set of values whatever the plant's machine ids.</summary>
public class MachineTypeTagTests
{
    [Fact]
    public void Ids_that_end_in_a_type_and_a_number_share_a_type()
    {
        Assert.Equal("bandsaw", AsdMetrics.MachineType("plant-a.line-3.bandsaw-07"));
        Assert.Equal("fan_id", AsdMetrics.MachineType("fan_id00"));
    }

    [Fact]
    public void Machine_ids_without_a_trailing_number_give_at_most_the_bound_of_types_and_the_rest_are_other()
    {
        // Serial numbers and GUIDs: every machine is a "type" of its own.
        var ids = Enumerable.Range(0, 5_000).Select(i => $"plant-a.line-{i % 7}.{Guid.NewGuid():N}x").ToList();
        Assert.Equal(5_000, ids.Select(AsdMetrics.MachineType).Distinct().Count());

        var known = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        var tags = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.ForEach(ids, id => tags.Add(AsdMetrics.TypeTag(AsdMetrics.MachineType(id), known, 100)));
        Assert.Equal(101, tags.Distinct().Count()); // 100 types and "other"
        Assert.Equal(100, known.Count);
        Assert.Equal(4_900, tags.Count(t => t == AsdMetrics.OtherTypes));

        // A type that has its place keeps it; a later one is other.
        var first = known.Keys.First();
        Assert.Equal(first, AsdMetrics.TypeTag(first, known, 100));
        Assert.Equal(AsdMetrics.OtherTypes, AsdMetrics.TypeTag("late-type", known, 100));
    }

    [Fact]
    public void Callers_that_race_to_add_the_same_new_type_all_get_the_type_not_other()
    {
        // A Redis cluster soak (stop 56): a kill -9 made the surviving silo activate 1,000 machines of four types at
        // once; two callers adding the same type together, the loser of TryAdd was answered "other" and the silo
        // logged "more than 100 machine types" with four. Far below the bound, no caller may get "other".
        int others = 0;
        for (int round = 0; round < 2_000 && others == 0; round++)
        {
            var known = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
            using var start = new Barrier(4);
            var tags = new string[4];
            var callers = Enumerable.Range(0, 4).Select(c => new Thread(() => { start.SignalAndWait(); tags[c] = AsdMetrics.TypeTag("synth-fan", known, 100); })).ToList();
            callers.ForEach(t => t.Start());
            callers.ForEach(t => t.Join());
            others += tags.Count(t => t == AsdMetrics.OtherTypes);
        }
        Assert.Equal(0, others);
    }

    [Fact]
    public void The_meter_reports_at_most_the_bound_of_machine_types_for_thousands_of_serial_numbered_machines()
    {
        AsdMetrics.ForgetTypes();
        try
        {
            Reports_at_most_the_bound();
        }
        finally
        {
            AsdMetrics.ForgetTypes(); // the process's other tests see their own types again
        }
    }

    private static void Reports_at_most_the_bound()
    {
        Assert.Equal("bandsaw", AsdMetrics.MachineTypeTag("plant-a.line-3.bandsaw-07"));
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == AsdMetrics.MeterName && instrument.Name == "asd.label_requests.claims") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag.Key == "machine_type") seen[(string)tag.Value!] = true;
        });
        listener.Start();
        for (int i = 0; i < 2_000; i++)
            AsdMetrics.OnClaim($"plant-b.SN{Guid.NewGuid():N}X", taken: true);
        Assert.InRange(seen.Count, 1, AsdMetrics.MaxMachineTypes + 1);
        Assert.Contains(AsdMetrics.OtherTypes, seen.Keys);
    }
}
