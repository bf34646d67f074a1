namespace AsdOrleans.Method.Budget;

/// <summary>How a machine spends its label budget (docs/design.md §1, Budget). Numeric values are persisted: never renumber.</summary>
public enum BudgetManagerKind : byte
{
    /// <summary>The paper's start: Žliobaitė's spent-budget estimate b̂ from 0, no query while b̂ ≥ b.</summary>
    Paper = 0,
    /// <summary>Paced (the default): a token bucket that earns b labels per clip, so no stream overspends from its first clip on.</summary>
    Paced = 1,
}

public static class BudgetManagerNames
{
    private static readonly (BudgetManagerKind Kind, string Name)[] Names =
    [
        (BudgetManagerKind.Paper, "paper"),
        (BudgetManagerKind.Paced, "paced"),
    ];

    public static IEnumerable<string> All => Names.Select(n => n.Name);

    public static string ToName(this BudgetManagerKind kind) => Names.First(n => n.Kind == kind).Name;

    public static BudgetManagerKind Parse(string name)
    {
        foreach (var (kind, text) in Names)
            if (string.Equals(text, name.Trim(), StringComparison.OrdinalIgnoreCase))
                return kind;
        throw new ArgumentException($"unknown budget start '{name}'; known: {string.Join(", ", All)}");
    }
}
