namespace AsdOrleans.Method.Budget;

/// <summary>
/// When a realised label rate counts as overspending the budget b. Here, not in the experiment summary, because the
/// machine grain's status reports it too and must not depend on the evaluation harness.
/// </summary>
public static class BudgetTolerance
{
    /// <summary>How far above b a realised label rate may go before a run counts as overspending (docs/design.md §1: b ± 0.02).</summary>
    public const double Overspend = 0.02;

    public static bool Overspends(double budget, double realised) => realised > budget + Overspend + 1e-12;
}
