using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Enrollment;
using AsdOrleans.Method.Machines;

namespace AsdOrleans.Method.Strategies;

/// <summary>
/// `qbc`: utility = disagreement of a committee of reference sets (<see cref="QbcState"/>); the query decision is the
/// balanced incremental quantile filter, within what the budget manager allows. The filter's quantile is taken at the
/// paced budget (b · pace, which is b under the paper's manager), so tokens saved while the committee agreed are spent
/// when it disagrees, before the manager's floor spends them on whatever clip comes.
/// </summary>
public sealed class QueryByCommitteeStrategy : IQueryStrategy
{
    public QueryStrategyKind Kind => QueryStrategyKind.Qbc;

    public StrategyStep Decide(in StrategyContext context)
    {
        var state = (QbcState)context.State!;
        double utility = state.Utility(context.NormalizedEmbedding, context.ReferenceSet);
        bool query = context.BudgetAvailable && state.Filter.WouldQuery(utility, context.Config.Budget, context.Paced(context.Config.Budget));
        return new StrategyStep(QueryReasonNames.If(query, QueryReason.Committee), context.LabellingThreshold, context.Random, utility);
    }

    public StrategyState CreateState(MachineConfig config, MachineEnrollment enrollment)
        => QbcState.Create(config, QbcState.DrawsCommitteeFromReferenceSet(config)
            ? new EmbeddingSet(enrollment.Dimension, 0, config.EmbeddingPrecision)
            : enrollment.TrainingNormals.ConvertedTo(config.EmbeddingPrecision));
}
