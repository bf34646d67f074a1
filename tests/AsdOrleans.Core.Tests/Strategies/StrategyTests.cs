using AsdOrleans.Method.Budget;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Randomness;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Core.Tests.Strategies;

public class StrategyTests
{
    private static readonly MachineModel Machine = MachineModel.Enroll(MachineConfig.Paper, TestData.Machine().Train);
    private static readonly float[] AnyEmbedding = EmbeddingMath.Normalized(TestData.Machine().Test[0].Embedding);

    private static StrategyStep Decide(QueryStrategyKind kind, double score, double h, double spent, MachineConfig? config = null, ulong seed = 1,
        BudgetManager? budget = null)
    {
        // The paper's budget manager (unless another is given) decides whether anything is left at b̂ = spent; the
        // strategy only uses its answer.
        var resolved = (config ?? MachineConfig.Paper) with { Strategy = kind };
        budget ??= new EstimatedBudget(spent);
        var context = new StrategyContext
        {
            Score = score,
            LabellingThreshold = h,
            BudgetAvailable = budget.MaySpend(resolved.Budget),
            BudgetPace = budget.Pace(resolved.Budget),
            SpentEstimate = spent,
            Config = resolved,
            Random = RandomState.FromSeed(seed),
            NormalizedEmbedding = AnyEmbedding,
            State = Machine.StrategyState,
        };
        return QueryStrategies.For(kind).Decide(context);
    }

    [Theory]
    [InlineData(QueryStrategyKind.None)]
    [InlineData(QueryStrategyKind.Random)]
    [InlineData(QueryStrategyKind.VariableUncertainty)]
    [InlineData(QueryStrategyKind.Hybrid)]
    [InlineData(QueryStrategyKind.HybridPrinted)]
    public void No_strategy_queries_once_the_budget_is_spent(QueryStrategyKind kind)
    {
        for (ulong seed = 0; seed < 200; seed++)
            Assert.False(Decide(kind, score: 100, h: 0.1, spent: 0.1, seed: seed).Query);
    }

    [Fact]
    public void None_never_queries_and_keeps_h()
    {
        var step = Decide(QueryStrategyKind.None, 100, 0.3, 0);
        Assert.False(step.Query);
        Assert.Equal(0.3, step.LabellingThreshold);
    }

    [Fact]
    public void Random_queries_iff_u_below_b_and_leaves_h()
    {
        int queries = 0;
        for (ulong seed = 0; seed < 10_000; seed++)
        {
            var step = Decide(QueryStrategyKind.Random, 0, 0.3, 0, seed: seed);
            var u = RandomState.FromSeed(seed).NextDouble();
            Assert.Equal(u < 0.1, step.Query);
            Assert.Equal(0.3, step.LabellingThreshold);
            queries += step.Query ? 1 : 0;
        }
        Assert.InRange(queries, 900, 1100); // not 9,000: the paper's "1 − u > b" is a typo
    }

    [Fact]
    public void Variable_uncertainty_raises_h_after_a_query_and_lowers_it_otherwise()
    {
        var above = Decide(QueryStrategyKind.VariableUncertainty, 0.5, 0.4, 0);
        Assert.True(above.Query);
        Assert.Equal(0.4 * 1.01, above.LabellingThreshold, 15);
        var below = Decide(QueryStrategyKind.VariableUncertainty, 0.3, 0.4, 0);
        Assert.False(below.Query);
        Assert.Equal(0.4 * 0.99, below.LabellingThreshold, 15);
        var exhausted = Decide(QueryStrategyKind.VariableUncertainty, 0.3, 0.4, 0.2);
        Assert.Equal(0.4, exhausted.LabellingThreshold); // no step without budget
    }

    [Fact]
    public void Hybrid_takes_the_uncertainty_branch_when_eta_exceeds_v_and_the_random_branch_otherwise()
    {
        for (ulong seed = 0; seed < 2_000; seed++)
        {
            var r = RandomState.FromSeed(seed);
            double eta = r.NextDouble();
            double u = r.NextDouble();
            var step = Decide(QueryStrategyKind.Hybrid, score: 0.3, h: 0.4, spent: 0, seed: seed);
            if (eta > 0.1)
            {
                Assert.False(step.Query);
                Assert.Equal(0.4 * 0.99, step.LabellingThreshold, 15);
            }
            else
            {
                Assert.Equal(u < 0.1, step.Query);
                Assert.Equal(0.4, step.LabellingThreshold);
            }
        }
    }

    [Fact]
    public void Hybrids_random_branch_is_taken_and_asks_at_the_paced_managers_pace()
    {
        // A paced machine that has saved tokens (2.5 available: pace 1.25, below the floor's 3) makes up what it did not
        // spend: it takes the random branch more often (η ≤ v · pace = 0.125) and asks there at b · pace = 0.375; the
        // uncertainty branch's rule is unchanged. Under the paper's manager the pace is 1 (the test above).
        var config = MachineConfig.Paper with { Strategy = QueryStrategyKind.Hybrid, Budget = 0.3, BudgetManager = BudgetManagerKind.Paced };
        var saved = new PacedBudget(spentEstimate: 0.3, tokens: 2.2);
        Assert.Equal(1.25, saved.Pace(0.3), 12);
        Assert.False(saved.MustSpend(0.3));
        int randomBranch = 0, randomQueries = 0;
        for (ulong seed = 0; seed < 4_000; seed++)
        {
            var r = RandomState.FromSeed(seed);
            double eta = r.NextDouble();
            double u = r.NextDouble();
            var step = Decide(QueryStrategyKind.Hybrid, score: 0.3, h: 0.4, spent: 0.3, config, seed, budget: saved);
            if (eta > 0.125)
            {
                Assert.False(step.Query);
                Assert.Equal(0.4 * 0.99, step.LabellingThreshold, 15);
                continue;
            }
            Assert.Equal(u < 0.375, step.Query);
            randomBranch++;
            randomQueries += step.Query ? 1 : 0;
        }
        Assert.InRange(randomQueries / (double)randomBranch, 0.3, 0.45);
        Assert.InRange(randomBranch / 4_000.0, 0.1, 0.15);
    }

    [Fact]
    public void Hybrid_printed_follows_algorithm_2_as_printed()
    {
        var above = Decide(QueryStrategyKind.HybridPrinted, 0.5, 0.4, 0.05);
        Assert.True(above.Query);
        Assert.Equal(0.4 * 1.01, above.LabellingThreshold, 15); // h rises whether or not s > h
        for (ulong seed = 0; seed < 1_000; seed++)
        {
            var step = Decide(QueryStrategyKind.HybridPrinted, 0.3, 0.4, 0.05, seed: seed);
            Assert.Equal(RandomState.FromSeed(seed).NextDouble() > 0.05 / 0.1, step.Query);
            Assert.Equal(0.4 * 1.01, step.LabellingThreshold, 15);
        }
        var exhausted = Decide(QueryStrategyKind.HybridPrinted, 0.5, 0.4, 0.1);
        Assert.False(exhausted.Query);
        Assert.Equal(0.4 * 0.99, exhausted.LabellingThreshold, 15);
    }

    [Fact]
    public void Balanced_incremental_quantile_filter_matches_a_hand_computation()
    {
        // b = 0.5, w = 100, w_tol = 50. Worked by hand from scikit-activeml's definition:
        // u=1: θ=1, range 0 → query. u=2: θ=1.5, acq_left=0.5·2−1=0 → θ_bal=1.5 → query.
        // u=3: θ=2, range 2, acq_left=1.5−2=−0.5 → θ_bal=2.02 → query. u=0: θ=1.5, range 3, acq_left=−1 → θ_bal=1.56 → no.
        var filter = new BalancedIncrementalQuantileFilter(100, 50);
        foreach (var (u, expected) in new[] { (1.0, true), (2.0, true), (3.0, true), (0.0, false) })
        {
            Assert.Equal(expected, filter.WouldQuery(u, 0.5));
            Assert.Equal(expected, filter.WouldQuery(u, 0.5)); // pure
            filter.Record(u, expected);
        }
        Assert.Equal(4, filter.Observed);
        Assert.Equal(3, filter.Queried);
    }

    [Fact]
    public void Quantile_filter_takes_its_quantile_at_the_paced_budget_and_balances_against_b()
    {
        // Utilities 0..8 seen, one queried, b = 0.1: acq_left = 0.1·10 − 1 = 0, so θ_bal = θ. With u = 7.5 the window is
        // 0..7, 7.5, 8: θ at the 0.9 quantile is 7.5 + 0.1·0.5 = 7.55 → no; at b · pace = 0.2 (pace 2) the 0.8 quantile is
        // 7 + 0.2·0.5 = 7.1 → query.
        var filter = new BalancedIncrementalQuantileFilter(100, 50);
        for (int u = 0; u <= 8; u++)
            filter.Record(u, queried: u == 8);
        Assert.False(filter.WouldQuery(7.5, 0.1));
        Assert.False(filter.WouldQuery(7.5, 0.1, 0.1));
        Assert.True(filter.WouldQuery(7.5, 0.1, 0.2));
        Assert.False(filter.WouldQuery(6.5, 0.1, 0.2)); // window 0..6, 6.5, 7, 8: θ = 7 + 0.2·1 = 7.2
    }

    [Fact]
    public void Quantile_filter_window_keeps_the_last_w_and_drops_NaN()
    {
        var filter = new BalancedIncrementalQuantileFilter(3, 50);
        foreach (var u in new[] { 1.0, double.NaN, 2, 3, 4 })
            filter.Record(u, false);
        Assert.Equal([2.0, 3, 4], filter.Utilities);
        Assert.Equal(5, filter.Observed);
        Assert.False(filter.WouldQuery(double.NaN, 0.5));
    }

    [Fact]
    public void Committee_of_identical_members_does_not_disagree()
    {
        var committee = new Committee(10, 1.0, seed: 3);
        Assert.Equal(0.0, committee.Utility(Machine.ReferenceSet, AnyEmbedding));
        var split = new Committee(10, 0.5, seed: 3);
        Assert.True(split.Utility(Machine.ReferenceSet, AnyEmbedding) >= 0);
        Assert.True(double.IsNaN(split.Utility(new EmbeddingSet(128), AnyEmbedding)));
    }

    [Fact]
    public void Strategy_names_round_trip_and_unknown_names_are_refused()
    {
        foreach (var name in QueryStrategyNames.All)
            Assert.Equal(name, QueryStrategyNames.Parse(name).ToName());
        Assert.Contains("known:", Assert.Throws<ArgumentException>(() => QueryStrategyNames.Parse("uncertainty")).Message);
    }
}
