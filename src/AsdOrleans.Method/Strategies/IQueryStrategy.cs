using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Randomness;

namespace AsdOrleans.Method.Strategies;

/// <summary>What a strategy sees of the machine when it decides on one clip.</summary>
public readonly ref struct StrategyContext
{
    public required double Score { get; init; }
    /// <summary>h, the labelling threshold before this clip.</summary>
    public required double LabellingThreshold { get; init; }
    /// <summary>
    /// Whether the machine's budget manager lets this clip be queried (docs/design.md §1, Budget: no query while none is left).
    /// The manager decides; a strategy only uses the answer (its state steps differ with and without budget, as in the paper).
    /// </summary>
    public required bool BudgetAvailable { get; init; }
    /// <summary>The budget manager's <see cref="Budget.BudgetManager.Pace"/> for this clip: 1 on pace.</summary>
    public required double BudgetPace { get; init; }
    /// <summary>A probability scaled by the pace, at most 1: how random draws make up budget saved or spend less when ahead.</summary>
    public double Paced(double probability) => Math.Min(1, probability * BudgetPace);
    /// <summary>b̂, the budget manager's spent-budget estimate before this clip (only the printed hybrid reading uses it).</summary>
    public required double SpentEstimate { get; init; }
    public required MachineConfig Config { get; init; }
    public required RandomState Random { get; init; }
    public required ReadOnlySpan<float> NormalizedEmbedding { get; init; }
    /// <summary>The machine's reference set N, read-only (QBC's committee draws from it where N is capped).</summary>
    public AsdOrleans.Method.Scoring.EmbeddingSet? ReferenceSet { get; init; }
    /// <summary>The strategy's own state (QBC's committee and filter), read-only; null for strategies without one.</summary>
    public required StrategyState? State { get; init; }
}

/// <summary>A strategy's answer: whether to query and why (<see cref="QueryReason.None"/>: no), and the state it would leave behind.</summary>
public readonly record struct StrategyStep(QueryReason Reason, double LabellingThreshold, RandomState Random, double Utility)
{
    public bool Query => Reason != QueryReason.None;

    public static StrategyStep Keep(in StrategyContext context)
        => new(QueryReason.None, context.LabellingThreshold, context.Random, double.NaN);
}

/// <summary>
/// A query strategy in scikit-activeml's sense: <see cref="Decide"/> is pure. The machine applies the
/// returned step in <see cref="MachineModel.Commit"/>, so deciding never mutates state. How much may be
/// spent is the budget manager's (<see cref="Budget.BudgetManager"/>), not the strategy's.
/// </summary>
public interface IQueryStrategy
{
    QueryStrategyKind Kind { get; }
    StrategyStep Decide(in StrategyContext context);

    /// <summary>The strategy's own state for a newly enrolled machine (null when it keeps none).</summary>
    StrategyState? CreateState(MachineConfig config, Enrollment.MachineEnrollment enrollment) => null;
}

public static class QueryStrategies
{
    private static readonly NoQueryStrategy NoQuery = new();
    private static readonly RandomStrategy RandomSampling = new();
    private static readonly VariableUncertaintyStrategy VariableUncertainty = new();
    private static readonly HybridStrategy Hybrid = new();
    private static readonly HybridPrintedStrategy HybridPrinted = new();
    private static readonly QueryByCommitteeStrategy Qbc = new();

    public static IQueryStrategy For(QueryStrategyKind kind) => kind switch
    {
        QueryStrategyKind.None => NoQuery,
        QueryStrategyKind.Random => RandomSampling,
        QueryStrategyKind.VariableUncertainty => VariableUncertainty,
        QueryStrategyKind.Hybrid => Hybrid,
        QueryStrategyKind.HybridPrinted => HybridPrinted,
        QueryStrategyKind.Qbc => Qbc,
        _ => throw new ArgumentException($"unknown query strategy {(int)kind}"),
    };
}
