namespace AsdOrleans.Method.Strategies;

/// <summary>
/// `hybrid`, the paper's proposal (Section 3.2) as scikit-activeml's SplitBudgetManager reads it:
/// while budget is left, draw η ~ U(0,1); if η &gt; v take the variable-uncertainty step, otherwise
/// the random branch (query iff u &lt; b, h unchanged). Under a paced manager both the random branch's share and its
/// rate are scaled by the manager's pace (η ≤ v · pace, u &lt; b · pace): a machine that has saved tokens, because the
/// uncertainty branch's threshold asks less than b, spends them through the random branch (b = 0.5 on nineteen plants'
/// 100- and 200-clip streams, before the manager had a floor: 0.470–0.489 spent with the rate scaled alone, 0.485–0.496
/// with both; the floor now forces 9 % of hybrid's labels there, none at b = 0.05). The paper's manager's pace is 1, so `--method paper` is the paper's rule exactly.
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
        if (eta > context.Paced(context.Config.RandomShare))
        {
            var (query, threshold) = VariableUncertaintyStrategy.Step(context.Score, context.LabellingThreshold, context.Config.Alpha);
            return new StrategyStep(QueryReasonNames.If(query, QueryReason.Uncertain), threshold, random, double.NaN);
        }
        bool randomQuery = RandomStrategy.RandomBranch(ref random, context);
        return new StrategyStep(QueryReasonNames.If(randomQuery, QueryReason.Random), context.LabellingThreshold, random, double.NaN);
    }
}
