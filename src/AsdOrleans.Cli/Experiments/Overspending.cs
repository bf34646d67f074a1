using System.Globalization;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Cli.Experiments;

/// <summary>
/// Overspent label budgets, counted in one unit in report.md and on the console: runs, a run being one machine type's
/// stream in one trial. A table flags a strategy and budget where any of its runs overspent.
/// </summary>
public static class Overspending
{
    private static string Tolerance => ExperimentSummary.OverspendTolerance.ToString("0.###", CultureInfo.InvariantCulture);

    public static string Unit => $"A run (one machine type's stream in one trial) overspends when its realised rate exceeds b + {Tolerance}; "
        + "a row is flagged where any of its runs did, though its mean rate may not.";

    public static int Count(IEnumerable<TrialResult> runs) => runs.Count(r => ExperimentSummary.Overspends(r.Budget, r.RealisedBudget));

    /// <summary>How many of <paramref name="results"/> (one sweep point's runs) overspent, by strategy and budget.</summary>
    public static string Sentence(IReadOnlyList<TrialResult> results, bool markdown)
    {
        var overspent = results.Where(r => ExperimentSummary.Overspends(r.Budget, r.RealisedBudget)).ToList();
        if (overspent.Count == 0)
            return $"Every run's realised label rate is within b + {Tolerance}.";
        string head = $"{overspent.Count} of {results.Count} runs (machine type × trial) overspent";
        return (markdown ? $"**{head}**" : head) + $" (realised rate > b + {Tolerance}): "
            + string.Join(", ", overspent.GroupBy(r => (r.Strategy, r.Budget)).Select(g =>
                $"{g.Key.Strategy.ToName()} at b = {F(g.Key.Budget, "0.###")} ({g.Count()} of {results.Count(r => r.Strategy == g.Key.Strategy && r.Budget == g.Key.Budget)} runs, "
                + $"up to {F(g.Max(r => r.RealisedBudget), "0.000")})")) + ".";
    }

    private static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}
