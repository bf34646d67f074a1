namespace AsdOrleans.Method.Strategies;

/// <summary>`none`: never queries — the offline model of the paper's Table 1.</summary>
public sealed class NoQueryStrategy : IQueryStrategy
{
    public QueryStrategyKind Kind => QueryStrategyKind.None;
    public StrategyStep Decide(in StrategyContext context) => StrategyStep.Keep(context);
}
