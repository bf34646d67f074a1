using AsdOrleans.Method.Vocabulary;

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
    private static readonly KindNames<BudgetManagerKind> Names = new("budget start",
        (BudgetManagerKind.Paper, "paper"),
        (BudgetManagerKind.Paced, "paced"));

    public static IEnumerable<string> All => Names.All;

    public static string ToName(this BudgetManagerKind kind) => Names.ToName(kind);

    public static BudgetManagerKind Parse(string name) => Names.Parse(name);
}
