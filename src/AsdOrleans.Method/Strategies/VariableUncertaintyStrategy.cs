namespace AsdOrleans.Method.Strategies;

/// <summary>
/// `variable-uncertainty`: Žliobaitė et al.'s rule on anomaly scores. While budget is left, a score
/// above h is queried and h ← h·(1+α); otherwise h ← h·(1−α).
/// </summary>
public sealed class VariableUncertaintyStrategy : IQueryStrategy
{
    public QueryStrategyKind Kind => QueryStrategyKind.VariableUncertainty;

    public StrategyStep Decide(in StrategyContext context)
    {
        if (!context.BudgetAvailable)
            return StrategyStep.Keep(context);
        var (query, threshold) = Step(context.Score, context.LabellingThreshold, context.Config.Alpha);
        return new StrategyStep(QueryReasonNames.If(query, QueryReason.Uncertain), threshold, context.Random, double.NaN);
    }

    internal static (bool Query, double Threshold) Step(double score, double threshold, double alpha)
        => score > threshold ? (true, threshold * (1 + alpha)) : (false, threshold * (1 - alpha));
}
