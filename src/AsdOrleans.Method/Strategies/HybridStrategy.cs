namespace AsdOrleans.Method.Strategies;

/// <summary>
/// `hybrid`, the paper's proposal (Section 3.2) as scikit-activeml's SplitBudgetManager reads it:
/// while budget is left, draw η ~ U(0,1); if η &gt; v take the variable-uncertainty step, otherwise
/// the random branch (query iff u &lt; b, h unchanged).
/// </summary>
public sealed class HybridStrategy : IQueryStrategy
{
    public QueryStrategyKind Kind => QueryStrategyKind.Hybrid;

    public StrategyStep Decide(in StrategyContext context)
    {
        if (!context.BudgetAvailable)
            return StrategyStep.Keep(context);
        var random = context.Random;
        double eta = random.NextDouble();
        if (eta > context.Config.RandomShare)
        {
            var (query, threshold) = VariableUncertaintyStrategy.Step(context.Score, context.LabellingThreshold, context.Config.Alpha);
            return new StrategyStep(query, threshold, random, double.NaN);
        }
        bool randomQuery = RandomStrategy.RandomBranch(ref random, context.Config.Budget);
        return new StrategyStep(randomQuery, context.LabellingThreshold, random, double.NaN);
    }
}
