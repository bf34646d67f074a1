using AsdOrleans.Method.Vocabulary;

namespace AsdOrleans.Method.Strategies;

/// <summary>The query strategies of docs/design.md §1. Numeric values are persisted: never renumber.</summary>
public enum QueryStrategyKind : byte
{
    None = 0,
    Random = 1,
    VariableUncertainty = 2,
    Hybrid = 3,
    HybridPrinted = 4,
    Qbc = 5,
}

public static class QueryStrategyNames
{
    private static readonly KindNames<QueryStrategyKind> Names = new("query strategy",
        (QueryStrategyKind.None, "none"),
        (QueryStrategyKind.Random, "random"),
        (QueryStrategyKind.VariableUncertainty, "variable-uncertainty"),
        (QueryStrategyKind.Hybrid, "hybrid"),
        (QueryStrategyKind.HybridPrinted, "hybrid-printed"),
        (QueryStrategyKind.Qbc, "qbc"));

    public static IEnumerable<string> All => Names.All;

    public static string ToName(this QueryStrategyKind kind) => Names.ToName(kind);

    public static QueryStrategyKind Parse(string name) => Names.Parse(name);
}
