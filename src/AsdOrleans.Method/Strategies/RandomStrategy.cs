namespace AsdOrleans.Method.Strategies;

/// <summary>
/// `random`: while budget is left, query iff u &lt; b with u ~ U(0,1). (The paper prints "1 − u &gt; b",
/// which would label 90% of clips at b = 0.1; docs/design.md §1 reads it as a typo.) Under the paced manager the rate
/// is b times the manager's pace, so that draws it refused for want of a token are made up later; the choice of
/// clips stays blind to their content. Under the paper's manager the pace is 1: the paper's rule exactly.
/// </summary>
public sealed class RandomStrategy : IQueryStrategy
{
    public QueryStrategyKind Kind => QueryStrategyKind.Random;

    public StrategyStep Decide(in StrategyContext context)
    {
        if (!context.BudgetAvailable)
            return StrategyStep.Keep(context);
        var random = context.Random;
        bool query = RandomBranch(ref random, context);
        return new StrategyStep(QueryReasonNames.If(query, QueryReason.Random), context.LabellingThreshold, random, double.NaN);
    }

    /// <summary>Random's draw, also hybrid's random branch: u &lt; min(1, b · pace).</summary>
    internal static bool RandomBranch(ref Randomness.RandomState random, in StrategyContext context)
        => random.NextDouble() < context.Paced(context.Config.Budget);
}
