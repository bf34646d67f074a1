using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Core.Tests.Strategies;

/// <summary>Realised query rates over long streams (docs/design.md §1, Budget): each within 0.01 of b.</summary>
public class BudgetAdherenceTests
{
    [Theory]
    [InlineData(QueryStrategyKind.VariableUncertainty)]
    [InlineData(QueryStrategyKind.Hybrid)]
    [InlineData(QueryStrategyKind.Qbc)]
    [InlineData(QueryStrategyKind.HybridPrinted)]
    public void Realised_rate_over_20000_clips_at_b_0_1_is_within_0_01(QueryStrategyKind kind)
    {
        var (train, test) = TestData.Machine(seed: 21, testPerDomainAndLabel: 5_000);
        Assert.Equal(20_000, test.Count);
        var model = MachineModel.Enroll(MachineConfig.Paper with { Strategy = kind, Budget = 0.1, BudgetWindow = 200, Seed = 5 }, train);
        foreach (var clip in test)
        {
            var outcome = model.Process(clip.Embedding);
            if (outcome.LabelRequested)
                model.ApplyLabel(clip.Embedding, outcome.Score, clip.IsAnomaly ? ClipLabel.Anomalous : ClipLabel.Normal);
        }
        Assert.Equal(20_000, model.ClipsSeen);
        Assert.InRange(model.RealisedBudget, 0.09, 0.11);
        Assert.Equal(model.Queries, model.NormalLabels + model.AnomalousLabels);
    }

    [Fact]
    public void Random_under_spends_to_about_0_09_because_the_estimate_gates_its_upper_excursions()
    {
        // Query iff u < b while b̂ < b: b̂ of a Bernoulli(0.1) stream spends about half its time at or above b,
        // and every query skipped there is lost. Measured: 0.0898 ± 0.0003 over 200,000 clips (docs/decisions.md).
        var (train, test) = TestData.Machine(seed: 21, testPerDomainAndLabel: 5_000);
        var model = MachineModel.Enroll(MachineConfig.Paper with { Strategy = QueryStrategyKind.Random, Budget = 0.1, Seed = 5 }, train);
        foreach (var clip in test)
        {
            var outcome = model.Process(clip.Embedding);
            if (outcome.LabelRequested)
                model.ApplyLabel(clip.Embedding, outcome.Score, clip.IsAnomaly ? ClipLabel.Anomalous : ClipLabel.Normal);
        }
        Assert.InRange(model.RealisedBudget, 0.086, 0.094);
    }

    [Fact]
    public void Always_willing_strategy_bursts_22_of_the_first_30_then_overshoots_slightly()
    {
        // Scores far above h: variable uncertainty wants every clip, so only b̂ limits it.
        var (train, test) = TestData.Machine(seed: 22);
        var model = MachineModel.Enroll(MachineConfig.Paper with { Strategy = QueryStrategyKind.VariableUncertainty, Alpha = 0, Budget = 0.1 }, train);
        var far = model.ReferenceSet.RowToArray(0).Select(v => -v).ToArray(); // opposite of a reference row: score ≈ 2
        int firstThirty = 0;
        for (int i = 0; i < 20_000; i++)
        {
            var outcome = model.Process(far);
            if (i < 30 && outcome.LabelRequested) firstThirty++;
        }
        Assert.Equal(22, firstThirty);
        Assert.InRange(model.RealisedBudget, 0.100, 0.105); // Žliobaitė's estimate overshoots to ≈ 0.1025
    }

    [Fact]
    public void Zero_budget_never_queries()
    {
        var (train, test) = TestData.Machine(seed: 23);
        foreach (var kind in Enum.GetValues<QueryStrategyKind>())
        {
            var model = MachineModel.Enroll(MachineConfig.Paper with { Strategy = kind, Budget = 0 }, train);
            foreach (var clip in test) Assert.False(model.Process(clip.Embedding).LabelRequested);
        }
    }
}
