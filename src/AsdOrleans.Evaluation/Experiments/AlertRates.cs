using AsdOrleans.Method.Metrics;

namespace AsdOrleans.Evaluation.Experiments;

/// <summary>
/// How a machine type's alerts (score above φ) fall on the offline model's stream, mean over trials: the share of normal
/// clips that raised one (false alerts) and of anomalous clips that did (recall), per domain, and the official F1 per
/// domain (DCASE 2023's decision metric, at the test set's own share of anomalies). A φ that means the same in both
/// domains gives both domains about 1 − the decision quantile of false alerts.
/// </summary>
public sealed record AlertRates(string Machine, int Trials, double FalseAlertsSource, double FalseAlertsTarget,
    double RecallSource, double RecallTarget, double F1Source, double F1Target);

public static class AlertRateAnalysis
{
    /// <summary>Per machine type, from the offline rows (first sweep point) of <paramref name="outcomes"/>.</summary>
    public static IReadOnlyList<AlertRates> Offline(IReadOnlyList<TrialOutcome> outcomes, ExperimentSettings settings)
    {
        var (strategy, budget) = settings.OfflineKey;
        var point = settings.Points[0];
        return outcomes.Where(o => o.Result.Strategy == strategy && o.Result.Budget == budget && o.Result.Point == point)
            .GroupBy(o => o.Result.Machine)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => Of(g.Key, g.Select(o => o.Stream).ToList()))
            .ToList();
    }

    public static AlertRates Of(string machine, IReadOnlyList<StreamTrace> trials)
    {
        var counts = trials.Select(t => DetectionMetrics.Evaluate(t.Scores, t.IsAnomaly, t.IsTarget, t.Alerts)).ToList();
        double Mean(bool target, Func<ConfusionCounts, double> value) => counts.Average(m => value((target ? m.DecisionsTarget : m.DecisionsSource)!.Value));
        return new AlertRates(machine, trials.Count,
            Mean(false, c => c.FalseAlertRate), Mean(true, c => c.FalseAlertRate),
            Mean(false, c => c.Recall), Mean(true, c => c.Recall),
            Mean(false, c => c.F1), Mean(true, c => c.F1));
    }
}
