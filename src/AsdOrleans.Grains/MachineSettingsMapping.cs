using AsdOrleans.Abstractions;
using AsdOrleans.Method.Budget;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Randomness;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Grains;

/// <summary>Contract settings → Core's validated <see cref="MachineConfig"/>: null fields keep the named method's values.</summary>
public static class MachineSettingsMapping
{
    public static MachineConfig ToConfig(this MachineSettings settings, string machineId)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var method = MachineConfig.ForMethod(settings.Method ?? "default");
        if (settings.Embedder is not null)
            EmbedderNames.Parse(settings.Embedder); // a named setting, though not the method's: refused here like the others
        return (method with
        {
            Strategy = settings.Strategy is null ? method.Strategy : QueryStrategyNames.Parse(settings.Strategy),
            Budget = settings.Budget ?? method.Budget,
            Gamma = settings.Gamma ?? method.Gamma,
            Alpha = settings.Alpha ?? method.Alpha,
            BudgetWindow = settings.BudgetWindow ?? method.BudgetWindow,
            RandomShare = settings.RandomShare ?? method.RandomShare,
            DecisionQuantile = settings.DecisionQuantile ?? method.DecisionQuantile,
            SourceClusters = settings.SourceClusters ?? method.SourceClusters,
            Scoring = settings.Scoring is null ? method.Scoring : ScoringNames.Parse(settings.Scoring),
            BudgetManager = settings.BudgetStart is null ? method.BudgetManager : BudgetManagerNames.Parse(settings.BudgetStart),
            Seed = settings.Seed ?? RandomState.StableHash(machineId),
            ReferenceCap = settings.ReferenceCap ?? method.ReferenceCap,
            AnomalyCap = settings.AnomalyCap ?? method.AnomalyCap,
            ScoreCap = settings.ScoreCap ?? method.ScoreCap,
            EmbeddingPrecision = settings.EmbeddingPrecision is null ? method.EmbeddingPrecision : EmbeddingPrecisionNames.Parse(settings.EmbeddingPrecision),
            DecisionThresholds = settings.DecisionThresholds is null ? method.DecisionThresholds : DecisionThresholdNames.Parse(settings.DecisionThresholds),
        }).Validate();
    }

    /// <summary>Every field of <paramref name="config"/>, as settings (what an experiment sends to a silo).</summary>
    public static MachineSettings ToSettings(this MachineConfig config) => new()
    {
        Strategy = config.Strategy.ToName(), Budget = config.Budget, Gamma = config.Gamma, Alpha = config.Alpha,
        BudgetWindow = config.BudgetWindow, RandomShare = config.RandomShare, DecisionQuantile = config.DecisionQuantile,
        Seed = config.Seed, SourceClusters = config.SourceClusters, Scoring = config.Scoring.ToName(), BudgetStart = config.BudgetManager.ToName(),
        ReferenceCap = config.ReferenceCap, AnomalyCap = config.AnomalyCap, ScoreCap = config.ScoreCap,
        EmbeddingPrecision = config.EmbeddingPrecision.ToName(), DecisionThresholds = config.DecisionThresholds.ToName(),
    };
}
