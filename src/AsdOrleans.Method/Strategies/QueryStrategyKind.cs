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
    private static readonly (QueryStrategyKind Kind, string Name)[] Names =
    [
        (QueryStrategyKind.None, "none"),
        (QueryStrategyKind.Random, "random"),
        (QueryStrategyKind.VariableUncertainty, "variable-uncertainty"),
        (QueryStrategyKind.Hybrid, "hybrid"),
        (QueryStrategyKind.HybridPrinted, "hybrid-printed"),
        (QueryStrategyKind.Qbc, "qbc"),
    ];

    public static IEnumerable<string> All => Names.Select(n => n.Name);

    public static string ToName(this QueryStrategyKind kind)
        => Names.First(n => n.Kind == kind).Name;

    public static QueryStrategyKind Parse(string name)
    {
        foreach (var (kind, text) in Names)
            if (string.Equals(text, name.Trim(), StringComparison.OrdinalIgnoreCase))
                return kind;
        throw new ArgumentException($"unknown query strategy '{name}'; known: {string.Join(", ", All)}");
    }
}
