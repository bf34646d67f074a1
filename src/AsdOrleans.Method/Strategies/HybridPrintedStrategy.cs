namespace AsdOrleans.Method.Strategies;

/// <summary>
/// `hybrid-printed`: the paper's Algorithm 2 line by line as printed, kept so experiments can compare
/// both readings. If b̂ &lt; b: λ = (s &gt; h), or when s ≤ h, λ = (η &gt; b̂/b) with η ~ U(0,1); then
/// h ← h·(1+α). Else h ← h·(1−α) and λ = false.
/// </summary>
public sealed class HybridPrintedStrategy : IQueryStrategy
{
    public QueryStrategyKind Kind => QueryStrategyKind.HybridPrinted;

    public StrategyStep Decide(in StrategyContext context)
    {
        double alpha = context.Config.Alpha;
        if (!context.BudgetAvailable)
            return new StrategyStep(QueryReason.None, context.LabellingThreshold * (1 - alpha), context.Random, double.NaN);
        var random = context.Random;
        var reason = context.Score > context.LabellingThreshold ? QueryReason.Uncertain
            : QueryReasonNames.If(random.NextDouble() > context.SpentEstimate / context.Config.Budget, QueryReason.Random);
        return new StrategyStep(reason, context.LabellingThreshold * (1 + alpha), random, double.NaN);
    }
}
