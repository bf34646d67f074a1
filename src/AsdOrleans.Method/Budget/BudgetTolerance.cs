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

    /// <summary>Clips a machine must have seen before its realised rate is judged: a paced budget keeps to b ± 0.02 on any
    /// stream of at least this many clips (issue 11), while on fewer one query moves the rate by more than the tolerance.</summary>
    public const long ClipsToJudge = 100;

    /// <summary>A running machine has overspent: at least <see cref="ClipsToJudge"/> clips seen and realised above b + 0.02.</summary>
    public static bool HasOverspent(double budget, double realised, long clipsSeen) => clipsSeen >= ClipsToJudge && Overspends(budget, realised);
}
