using AsdOrleans.Core.Machines;
using AsdOrleans.Core.Randomness;

namespace AsdOrleans.Core.Strategies;

/// <summary>What a strategy sees of the machine when it decides on one clip.</summary>
public readonly ref struct StrategyContext
{
    public required double Score { get; init; }
    /// <summary>h, the labelling threshold before this clip.</summary>
    public required double LabellingThreshold { get; init; }
    /// <summary>b̂, the spent-budget estimate before this clip.</summary>
    public required double SpentBudget { get; init; }
    /// <summary>b̂ &lt; b: no strategy queries otherwise (DESIGN §1, Budget).</summary>
    public bool BudgetLeft => SpentBudget < Config.Budget;
    public required MachineConfig Config { get; init; }
    public required RandomState Random { get; init; }
    public required ReadOnlySpan<float> NormalizedEmbedding { get; init; }
    /// <summary>The machine, read-only, for strategies that need more than the score (QBC's committee).</summary>
    public required MachineModel Machine { get; init; }
}

/// <summary>A strategy's answer: whether to query, and the state it would leave behind.</summary>
public readonly record struct StrategyStep(bool Query, double LabellingThreshold, RandomState Random, double Utility)
{
    public static StrategyStep Keep(in StrategyContext context, bool query = false)
        => new(query, context.LabellingThreshold, context.Random, double.NaN);
}

/// <summary>
/// A query strategy in scikit-activeml's sense: <see cref="Decide"/> is pure. The machine applies the
/// returned step in <see cref="MachineModel.Commit"/>, so deciding never mutates state.
/// </summary>
public interface IQueryStrategy
{
    QueryStrategyKind Kind { get; }
    StrategyStep Decide(in StrategyContext context);
}

public static class QueryStrategies
{
    private static readonly IQueryStrategy[] ByKind =
    [
        new NoQueryStrategy(),
        new RandomStrategy(),
        new VariableUncertaintyStrategy(),
        new HybridStrategy(),
        new HybridPrintedStrategy(),
        new QueryByCommitteeStrategy(),
    ];

    public static IQueryStrategy For(QueryStrategyKind kind) => ByKind[(int)kind];
}
