namespace AsdOrleans.Core.Strategies;

/// <summary>
/// `qbc`: utility = disagreement of a committee of reference sets; the query decision is the balanced
/// incremental quantile filter, and, as for every strategy, nothing is queried while b̂ ≥ b.
/// </summary>
public sealed class QueryByCommitteeStrategy : IQueryStrategy
{
    public QueryStrategyKind Kind => QueryStrategyKind.Qbc;

    public StrategyStep Decide(in StrategyContext context)
    {
        var machine = context.Machine;
        double utility = machine.Committee!.Utility(machine.LabelledNormals!, context.NormalizedEmbedding);
        bool query = context.BudgetLeft && machine.QuantileFilter!.WouldQuery(utility, context.Config.Budget);
        return new StrategyStep(query, context.LabellingThreshold, context.Random, utility);
    }
}
