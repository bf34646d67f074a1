using AsdOrleans.Method.Budget;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Core.Tests.Methods;

/// <summary>The default budget manager (docs/design.md §1, Budget): within b ± 0.02 from a machine's first clips on.</summary>
public class PacedBudgetTests
{
    [Theory]
    [InlineData(QueryStrategyKind.VariableUncertainty, 0.05, true)]
    [InlineData(QueryStrategyKind.VariableUncertainty, 0.1, true)]
    [InlineData(QueryStrategyKind.VariableUncertainty, 0.2, true)]
    [InlineData(QueryStrategyKind.VariableUncertainty, 0.5, true)]
    [InlineData(QueryStrategyKind.VariableUncertainty, 0.05, false)]
    [InlineData(QueryStrategyKind.VariableUncertainty, 0.1, false)]
    [InlineData(QueryStrategyKind.VariableUncertainty, 0.5, false)]
    [InlineData(QueryStrategyKind.VariableUncertainty, 0.9, false)]
    [InlineData(QueryStrategyKind.Hybrid, 0.5, false)]
    [InlineData(QueryStrategyKind.Qbc, 0.2, false)]
    public void However_willing_the_strategy_n_clips_get_between_b_n_minus_1_minus_b_and_2_plus_b_n_minus_1_labels(QueryStrategyKind kind, double b, bool willing)
    {
        // α = 0 keeps h where enrollment put it. Willing: a clip far from every normal scores above h, so variable
        // uncertainty wants every clip and only the ceiling limits it. Unwilling: the enrollment's own first normal scores
        // below h, so the uncertainty rules want none, and only the floor (a bucket of 3 tokens is spent) makes them
        // spend; without it variable uncertainty queried none of them.
        var (train, _) = TestData.Machine(seed: 22);
        var model = MachineModel.Enroll(new MachineConfig { Strategy = kind, Alpha = 0, Budget = b }, train);
        Assert.Equal(BudgetManagerKind.Paced, model.Config.BudgetManager);
        var clip = model.ReferenceSet.RowToArray(0).Select(v => willing ? -v : v).ToArray();
        Assert.Equal(willing, model.Score(clip) > model.LabellingThreshold);
        var reasons = new HashSet<QueryReason>();
        long forced = 0;
        for (int n = 1; n <= 3_000; n++)
        {
            var outcome = model.Process(clip);
            if (outcome.LabelRequested) reasons.Add(outcome.QueryReason);
            if (outcome.QueryReason == QueryReason.BudgetFloor) forced++;
            Assert.Equal(forced, model.ForcedQueries);
            Assert.True(model.Queries > b * n - 1 - b - 1e-9, $"{model.Queries} queries after {n} clips at b = {b}");
            Assert.True(model.Queries <= 2 + b * (n - 1) + 1e-9, $"{model.Queries} queries after {n} clips at b = {b}");
            if (n >= 100)
                Assert.InRange(model.RealisedBudget, b - 0.02, b + 0.02);
        }
        // Each label says why: the willing rule's labels are its own, the unwilling one's all the floor's.
        QueryReason[] possible = kind switch
        {
            QueryStrategyKind.VariableUncertainty => [willing ? QueryReason.Uncertain : QueryReason.BudgetFloor],
            QueryStrategyKind.Hybrid => [QueryReason.Random, QueryReason.BudgetFloor], // never uncertain: the clip scores below h
            QueryStrategyKind.Qbc => [QueryReason.Committee, QueryReason.BudgetFloor],
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        Assert.NotEmpty(reasons);
        Assert.Subset(possible.ToHashSet(), reasons);
    }

    [Fact]
    public void Neither_the_offline_model_nor_the_papers_manager_is_made_to_spend()
    {
        var (train, _) = TestData.Machine(seed: 22);
        foreach (var config in new[]
        {
            new MachineConfig { Strategy = QueryStrategyKind.None, Budget = 0.5 },
            new MachineConfig { Strategy = QueryStrategyKind.VariableUncertainty, Alpha = 0, Budget = 0.5, BudgetManager = BudgetManagerKind.Paper },
        })
        {
            var model = MachineModel.Enroll(config, train);
            var near = model.ReferenceSet.RowToArray(0);
            for (int n = 0; n < 300; n++) model.Process(near);
            Assert.Equal(0, model.Queries);
        }
        Assert.False(new EstimatedBudget(0).MustSpend(0.5));
        Assert.False(new PacedBudget(0.5, 10).MustSpend(0)); // b = 0 never spends, whatever a state holds
    }

    [Fact]
    public void The_papers_start_bursts_where_the_paced_one_does_not()
    {
        var (train, _) = TestData.Machine(seed: 22);
        int FirstThirty(BudgetManagerKind kind)
        {
            var model = MachineModel.Enroll(new MachineConfig { Strategy = QueryStrategyKind.VariableUncertainty, Alpha = 0, Budget = 0.1, BudgetManager = kind }, train);
            var far = model.ReferenceSet.RowToArray(0).Select(v => -v).ToArray();
            int queries = 0;
            for (int i = 0; i < 30; i++) queries += model.Process(far).LabelRequested ? 1 : 0;
            return queries;
        }
        Assert.Equal(22, FirstThirty(BudgetManagerKind.Paper));
        Assert.Equal(4, FirstThirty(BudgetManagerKind.Paced)); // 2 − b tokens at the start, then one every 10 clips
    }

    [Theory]
    [InlineData(QueryStrategyKind.Hybrid, 100)]
    [InlineData(QueryStrategyKind.Hybrid, 200)]
    [InlineData(QueryStrategyKind.VariableUncertainty, 100)]
    [InlineData(QueryStrategyKind.HybridPrinted, 200)]
    [InlineData(QueryStrategyKind.Qbc, 200)]
    public void Uncertainty_strategies_on_short_streams_stay_within_b_plus_0_02(QueryStrategyKind kind, int clips)
    {
        var (train, test) = TestData.Machine(seed: 24, testPerDomainAndLabel: clips / 4);
        foreach (ulong seed in new ulong[] { 1, 2, 3 })
        {
            var model = MachineModel.Enroll(new MachineConfig { Strategy = kind, Budget = 0.1, Seed = seed }, train);
            TestData.StreamWithOracle(model, test);
            Assert.Equal(clips, model.ClipsSeen);
            Assert.InRange(model.RealisedBudget, 0.08, 0.12);
        }
    }

    [Theory]
    [InlineData(0.1, 100)]
    [InlineData(0.3, 100)]
    [InlineData(0.5, 100)]
    [InlineData(0.3, 200)]
    [InlineData(0.5, 200)]
    public void Random_spends_b_because_draws_the_manager_refused_are_made_up_later(double b, int clips)
    {
        // Without the pace, random's draws that came while no whole token was left were lost: 0.277 at b = 0.3 and
        // 0.470 at b = 0.5 on 100-clip streams. Random ignores the clips, so any stream of the right length will do.
        var (train, test) = TestData.Machine(seed: 26, testPerDomainAndLabel: clips / 4);
        var realised = new List<double>();
        for (ulong seed = 1; seed <= 20; seed++)
        {
            var model = MachineModel.Enroll(new MachineConfig { Strategy = QueryStrategyKind.Random, Budget = b, Seed = seed }, train);
            for (int n = 1; n <= test.Count; n++)
            {
                model.Process(test[n - 1].Embedding);
                Assert.True(model.Queries <= 2 + b * (n - 1) + 1e-9, $"{model.Queries} queries after {n} clips at b = {b}"); // still never ahead
            }
            Assert.Equal(clips, model.ClipsSeen);
            Assert.InRange(model.RealisedBudget, b - 0.03, b + 0.02);
            realised.Add(model.RealisedBudget);
        }
        Assert.InRange(realised.Average(), b - 0.01, b + 0.01);
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.2)]
    [InlineData(0.3)]
    public void Qbc_spends_b_on_every_100_clip_stream_because_its_quantile_follows_the_pace(double b)
    {
        // Without the pace, QBC's filter left tokens to overflow the bucket while the committee agreed: on the 23 unseen
        // plants of docs/results.md, 75 of 920 streams spent below b − 0.02 at b = 0.1 (down to 0.05).
        var (train, test) = TestData.Machine(seed: 27, testPerDomainAndLabel: 25);
        for (ulong seed = 1; seed <= 10; seed++)
        {
            var model = MachineModel.Enroll(new MachineConfig { Strategy = QueryStrategyKind.Qbc, Budget = b, Seed = seed }, train);
            TestData.StreamWithOracle(model, test);
            Assert.Equal(100, model.ClipsSeen);
            Assert.InRange(model.RealisedBudget, b - 0.02, b + 0.02);
        }
    }

    [Fact]
    public void The_papers_manager_leaves_randoms_rate_at_b()
    {
        Assert.Equal(1, new EstimatedBudget(0.05).Pace(0.1));
        Assert.Equal(1, PacedBudget.Start(0.1).Pace(0.1), 12); // a new paced machine is on pace
        var saved = PacedBudget.Start(0.1);
        for (int i = 0; i < 10; i++) saved.Commit(false, 0.1, 200);
        Assert.True(saved.Pace(0.1) > 1, $"pace {saved.Pace(0.1)} after ten clips without a query");
    }

    [Fact]
    public void Deciding_does_not_spend_and_zero_budget_never_queries()
    {
        var manager = PacedBudget.Start(0.1);
        Assert.True(manager.MaySpend(0.1));
        Assert.True(manager.MaySpend(0.1)); // pure
        manager.Commit(true, 0.1, 200);
        manager.Commit(true, 0.1, 200);
        Assert.False(manager.MaySpend(0.1));
        Assert.False(PacedBudget.Start(0).MaySpend(0));
        var (train, test) = TestData.Machine(seed: 23);
        foreach (var kind in Enum.GetValues<QueryStrategyKind>())
        {
            var model = MachineModel.Enroll(new MachineConfig { Strategy = kind, Budget = 0 }, train);
            foreach (var clip in test) Assert.False(model.Process(clip.Embedding).LabelRequested);
        }
    }

    [Fact]
    public void Switching_budget_managers_keeps_the_spent_estimate()
    {
        var (train, test) = TestData.Machine(seed: 25);
        var model = MachineModel.Enroll(MachineConfig.Paper with { Strategy = QueryStrategyKind.Hybrid, Budget = 0.2 }, train);
        foreach (var clip in test.Take(50)) model.Process(clip.Embedding);
        var paced = model.WithConfig(model.Config with { BudgetManager = BudgetManagerKind.Paced });
        Assert.Equal(model.SpentBudget, paced.SpentBudget);
        Assert.IsType<PacedBudget>(paced.Budget);
        Assert.Equal(model.Queries, paced.Queries);
    }
}
