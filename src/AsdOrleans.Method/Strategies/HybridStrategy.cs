namespace AsdOrleans.Method.Strategies;

/// <summary>
/// `hybrid`, the paper's proposal (Section 3.2) as scikit-activeml's SplitBudgetManager reads it:
/// while budget is left, draw η ~ U(0,1); if η &gt; v take the variable-uncertainty step, otherwise
/// the random branch (query iff u &lt; b, h unchanged). As in `random`, the random branch's rate is b times the
/// budget manager's pace, so that a paced machine makes up the draws its empty bucket refused (0.470 → 0.481 spent at
/// b = 0.5 on 100-clip streams); the paper's manager's pace is 1, so `--method paper` is the paper's rule exactly.
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
        bool randomQuery = RandomStrategy.RandomBranch(ref random, context);
        return new StrategyStep(randomQuery, context.LabellingThreshold, random, double.NaN);
    }
}
