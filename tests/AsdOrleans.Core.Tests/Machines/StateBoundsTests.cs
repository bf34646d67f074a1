using AsdOrleans.Method.Enrollment;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Core.Tests.Machines;

/// <summary>Issue 13: N, A and M stay within their caps, bounded states round-trip exactly, and the paper's method stays unbounded.</summary>
public class StateBoundsTests
{
    private static readonly (List<EnrollmentClip> Train, List<EmbeddingRecord> Test) Data = TestData.Machine(seed: 13, testPerDomainAndLabel: 300, sourceTrain: 100);

    private static List<ClipOutcome> Stream(MachineModel model, IEnumerable<EmbeddingRecord> clips) => TestData.StreamWithOracle(model, clips);

    private static MachineConfig Capped(QueryStrategyKind strategy = QueryStrategyKind.Hybrid)
        => MachineConfig.Default with { Strategy = strategy, Budget = 0.5, Seed = 5, ReferenceCap = 50, AnomalyCap = 8, ScoreCap = 120 };

    [Fact]
    public void Caps_hold_over_a_long_stream_and_weights_count_every_label()
    {
        var model = MachineModel.Enroll(Capped(), Data.Train);
        int enrolledRows = model.ReferenceSet.Count;
        long scoresAtStart = model.NormalScores.Count;
        Stream(model, Data.Test);
        Assert.True(model.NormalLabels > 50 && model.AnomalousLabels > 8, "the stream must overfill every cap");
        Assert.Equal(50, model.ReferenceSet.Count);
        Assert.Equal(8, model.AnomalySet.Count);
        Assert.Equal(120, model.NormalScores.Count);
        Assert.Equal(50, model.ReferenceSet.CapacityRows); // grown to the cap, not doubled past it
        Assert.Equal(8, model.AnomalySet.CapacityRows);
        Assert.Equal(model.ReferenceSet.Count, model.ReferenceScales.Count);
        Assert.Equal(enrolledRows + model.NormalLabels, model.ReferenceWeights.Sum(w => (long)w));
        Assert.Equal(model.AnomalousLabels, model.AnomalyWeights.Sum(w => (long)w));
        Assert.Equal(scoresAtStart + model.NormalLabels, model.ScoresSeen);
        // Merged rows stay on the unit sphere, up to fp16's rounding (at most 2⁻¹¹ of each element).
        for (int i = 0; i < model.ReferenceSet.Count; i++)
            Assert.Equal(1.0, Math.Sqrt(model.ReferenceSet.RowToArray(i).Sum(v => (double)v * v)), 1.0 / 2048);
    }

    [Theory]
    [InlineData(QueryStrategyKind.Hybrid, EmbeddingPrecision.Fp16, 4, true)]
    [InlineData(QueryStrategyKind.Random, EmbeddingPrecision.Fp16, 4, true)]
    [InlineData(QueryStrategyKind.Hybrid, EmbeddingPrecision.Fp32, 3, true)]
    [InlineData(QueryStrategyKind.Hybrid, EmbeddingPrecision.Fp16, 6, false)]
    [InlineData(QueryStrategyKind.Hybrid, EmbeddingPrecision.Fp32, 6, false)]
    public void A_bounded_state_round_trips_exactly_and_continues_identically(QueryStrategyKind strategy, EmbeddingPrecision precision, int format, bool sourceOnly)
    {
        // A source-only enrollment keeps one φ, so it writes formats 3–5; with both domains, φ per domain is format 6.
        var original = MachineModel.Enroll(Capped(strategy) with { EmbeddingPrecision = precision }, sourceOnly ? Data.Train.Where(c => !c.IsTargetDomain).ToList() : Data.Train);
        Assert.Equal(sourceOnly, original.DecisionThresholdTarget is null);
        Stream(original, Data.Test.Take(700));
        var bytes = original.Serialize();
        Assert.Equal(format < 6 && original.ForcedQueries > 0 ? 5 : format, BitConverter.ToUInt16(bytes, 4)); // 5: format 4 and the floor's count
        var restored = MachineModel.Deserialize(bytes);
        Assert.Equal(bytes, restored.Serialize());
        Assert.Equal(Stream(original, Data.Test.Skip(700)), Stream(restored, Data.Test.Skip(700)));
        Assert.Equal(original.Serialize(), restored.Serialize());
    }

    [Fact]
    public void The_paper_method_is_unbounded_and_writes_format_2()
    {
        Assert.False(MachineConfig.Paper.IsBounded);
        Assert.True(MachineConfig.Default.IsBounded);
        var model = MachineModel.Enroll(MachineConfig.Paper with { Budget = 0.5, Seed = 5 }, Data.Train);
        int rows = model.ReferenceSet.Count;
        Stream(model, Data.Test);
        Assert.Equal(rows + model.NormalLabels, model.ReferenceSet.Count);
        Assert.Equal(model.AnomalousLabels, model.AnomalySet.Count);
        Assert.Empty(model.ReferenceWeights);
        Assert.Equal(2, BitConverter.ToUInt16(model.Serialize(), 4));
    }

    [Fact]
    public void Caps_set_later_apply_to_an_unbounded_machine()
    {
        var model = MachineModel.Enroll(Capped() with { ReferenceCap = 0, AnomalyCap = 0, ScoreCap = 0 }, Data.Train);
        Stream(model, Data.Test.Take(400));
        var capped = model.WithConfig(Capped());
        Assert.Equal(120, capped.NormalScores.Count);
        Stream(capped, Data.Test.Skip(400));
        Assert.True(capped.ReferenceSet.Count <= Math.Max(50, model.ReferenceSet.Count));
        Assert.Equal(capped.ReferenceSet.Count, capped.ReferenceWeights.Count);
        Assert.Equal(120, MachineModel.Deserialize(capped.Serialize()).NormalScores.Count);
    }

    [Fact]
    public void Negative_caps_are_refused()
        => Assert.Throws<ArgumentException>(() => (MachineConfig.Default with { ReferenceCap = -1 }).Validate());
}
