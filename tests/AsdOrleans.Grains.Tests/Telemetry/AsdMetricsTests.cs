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
