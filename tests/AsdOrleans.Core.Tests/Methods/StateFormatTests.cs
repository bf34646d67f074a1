using System.Globalization;
using AsdOrleans.Method.Budget;
using AsdOrleans.Method.Enrollment;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Core.Tests.Methods;

/// <summary>Machine states written by c0ec0d7 (format 1) still read, and continue exactly as c0ec0d7 continued them.</summary>
public class StateFormatTests
{
    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "Fixtures", "paper-c0ec0d7");
    private static readonly (List<EnrollmentClip> Train, List<EmbeddingRecord> Test) Data = TestData.Machine(seed: 31);

    [Theory]
    [InlineData("hybrid")]
    [InlineData("hybrid-printed")]
    [InlineData("qbc")]
    public void Format_1_states_read_as_the_paper_method_and_continue_as_c0ec0d7_did(string strategy)
    {
        var bytes = File.ReadAllBytes(Path.Combine(Fixtures, $"state_v1_{strategy}.bin"));
        Assert.Equal(1, BitConverter.ToUInt16(bytes, 4));
        var model = MachineModel.Deserialize(bytes);
        Assert.Equal(ScoringKind.Paper, model.Config.Scoring);
        Assert.Equal(BudgetManagerKind.Paper, model.Config.BudgetManager);
        Assert.Equal(QueryStrategyNames.Parse(strategy), model.Config.Strategy);
        Assert.Equal(120, model.ClipsSeen);
        Assert.Equal(strategy == "qbc", model.LabelledNormals is not null);

        var expected = File.ReadAllLines(Path.Combine(Fixtures, $"state_v1_{strategy}.continuation.csv"));
        var clips = Data.Test.Skip(120).ToList();
        Assert.Equal(expected.Length, clips.Count);
        for (int i = 0; i < clips.Count; i++)
        {
            var o = model.Process(clips[i].Embedding);
            if (o.LabelRequested) model.ApplyLabel(clips[i].Embedding, o.Score, clips[i].IsAnomaly ? ClipLabel.Anomalous : ClipLabel.Normal);
            var parts = expected[i].Split(',');
            Assert.Equal(long.Parse(parts[0], CultureInfo.InvariantCulture), o.ClipIndex);
            Assert.Equal(double.Parse(parts[1], CultureInfo.InvariantCulture), o.Score);
            Assert.Equal(bool.Parse(parts[2]), o.Anomalous);
            Assert.Equal(bool.Parse(parts[3]), o.LabelRequested);
        }

        // Written again, it is format 2, and that reads back to the same machine.
        var rewritten = model.Serialize();
        Assert.Equal(2, BitConverter.ToUInt16(rewritten, 4));
        Assert.Equal(rewritten, MachineModel.Deserialize(rewritten).Serialize());
    }

    [Theory]
    [InlineData(QueryStrategyKind.Hybrid, ScoringKind.Domain, BudgetManagerKind.Paced)]
    [InlineData(QueryStrategyKind.Qbc, ScoringKind.Local, BudgetManagerKind.Paced)]
    [InlineData(QueryStrategyKind.VariableUncertainty, ScoringKind.Margin, BudgetManagerKind.Paper)]
    public void Every_method_round_trips_exactly_and_continues_identically(QueryStrategyKind strategy, ScoringKind scoring, BudgetManagerKind budget)
    {
        var config = new MachineConfig { Strategy = strategy, Scoring = scoring, BudgetManager = budget, Budget = 0.2, Seed = 17 };
        var original = MachineModel.Enroll(config, Data.Train, "model-v1");
        Stream(original, Data.Test.Take(120));
        Assert.True(original.NormalLabels > 0);
        Assert.Equal(scoring.UsesScales() ? original.ReferenceSet.Count : 0, original.ReferenceScales.Count);
        var bytes = original.Serialize();
        var restored = MachineModel.Deserialize(bytes);
        Assert.Equal(bytes, restored.Serialize());
        var a = Stream(original, Data.Test.Skip(120));
        var b = Stream(restored, Data.Test.Skip(120));
        Assert.Equal(a, b);
        Assert.Equal(original.Serialize(), restored.Serialize());
    }

    [Fact]
    public void The_floors_count_is_kept_from_its_first_forced_query_and_older_formats_stay_as_they_were()
    {
        // Unwilling variable uncertainty (α = 0, the enrollment's own first normal, below h): every label is the floor's.
        // Source clips only (one φ): formats 3 and 4 gain the count as format 5; φ per domain (format 6) carries it as well.
        var model = MachineModel.Enroll(new MachineConfig { Strategy = QueryStrategyKind.VariableUncertainty, Alpha = 0, Budget = 0.1, Seed = 5 },
            Data.Train.Where(c => !c.IsTargetDomain).ToList());
        var near = model.ReferenceSet.RowToArray(0);
        ushort Format(byte[] state) => BitConverter.ToUInt16(state, 4);
        ushort before = Format(model.Serialize());
        Assert.NotEqual(5, before);
        while (model.ForcedQueries == 0)
        {
            Assert.Equal(before, Format(model.Serialize())); // nothing forced yet: the format it had before the count
            model.Process(near);
        }
        for (int n = 0; n < 200; n++) model.Process(near);
        Assert.Equal(model.Queries, model.ForcedQueries);
        var bytes = model.Serialize();
        Assert.Equal(5, Format(bytes));
        var restored = MachineModel.Deserialize(bytes);
        Assert.Equal((model.Queries, model.ForcedQueries), (restored.Queries, restored.ForcedQueries));
        Assert.Equal(bytes, restored.Serialize());
        Assert.Equal(model.ForcedQueries, model.WithConfig(model.Config with { Budget = 0.2 }).ForcedQueries);

        // A count above the queries is refused: it sits right after the four counters (clips, queries, normal, anomalous labels).
        var counters = new[] { model.ClipsSeen, model.Queries, model.NormalLabels, model.AnomalousLabels }.SelectMany(BitConverter.GetBytes).ToArray();
        int forcedAt = bytes.AsSpan().IndexOf(counters) + counters.Length;
        Assert.Equal(model.ForcedQueries, BitConverter.ToInt64(bytes, forcedAt));
        var wrong = (byte[])bytes.Clone();
        BitConverter.GetBytes(model.Queries + 1).CopyTo(wrong, forcedAt);
        Assert.Throws<InvalidDataException>(() => MachineModel.Deserialize(wrong));
    }

    [Fact]
    public void A_state_whose_sections_disagree_with_its_configuration_is_refused()
    {
        var model = MachineModel.Enroll(new MachineConfig { Strategy = QueryStrategyKind.Hybrid, Seed = 3 }, Data.Train);
        var bytes = model.Serialize();
        // The budget section's kind byte follows the scales: flip it to the other manager.
        int scalesAt = FindScalesOffset(bytes, model);
        var wrong = (byte[])bytes.Clone();
        wrong[scalesAt] ^= 1;
        Assert.Throws<InvalidDataException>(() => MachineModel.Deserialize(wrong));
    }

    private static int FindScalesOffset(byte[] bytes, MachineModel model)
        // Layout from the end: … scales | budget kind (1) | b̂ (8) | tokens (8) | strategy kind (1) | has state (1).
        => bytes.Length - (1 + 8 + 8 + 1 + 1);

    private static List<ClipOutcome> Stream(MachineModel model, IEnumerable<EmbeddingRecord> clips) => TestData.StreamWithOracle(model, clips);
}
