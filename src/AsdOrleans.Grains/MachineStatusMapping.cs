using AsdOrleans.Abstractions;
using AsdOrleans.Method.Enrollment;
using AsdOrleans.Method.Budget;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Scoring;

namespace AsdOrleans.Grains;

/// <summary>What an operator sees of a machine: its settings, Core's counters and sets, and the grain's requests.</summary>
internal static class MachineStatusMapping
{
    public static MachineStatus Describe(string machineId, MachineGrainState state, MachineModel? model)
    {
        var config = Config(machineId, state, model);
        var embedder = EnrolledEmbedder(state);
        return new()
        {
            MachineId = machineId,
            Enrolled = model is not null,
            // The settings in force: the named method's values where the operator left a field null.
            Settings = config is { } effective ? effective.ToSettings() with { Method = state.Settings.Method, Embedder = state.Settings.Embedder } : state.Settings,
            ModelVersion = model?.ModelVersion,
            ReferenceSetSize = model?.ReferenceSet.Count ?? 0,
            AnomalySetSize = model?.AnomalySet.Count ?? 0,
            ClipsSeen = model?.ClipsSeen ?? 0,
            Queries = model?.Queries ?? 0,
            ForcedQueries = model?.ForcedQueries ?? 0,
            RealisedBudget = model?.RealisedBudget ?? 0,
            SpentBudget = model?.SpentBudget ?? 0,
            LabellingThreshold = model?.LabellingThreshold ?? 0,
            DecisionThreshold = model?.DecisionThreshold ?? 0,
            DecisionThresholdTarget = model?.DecisionThresholdTarget,
            DecisionThresholds = config?.DecisionThresholds.ToName(),
            PendingLabelRequests = state.Pending.Count,
            NormalLabels = model?.NormalLabels ?? 0,
            AnomalousLabels = model?.AnomalousLabels ?? 0,
            ExpiredLabelRequests = state.ExpiredCount,
            DeclinedLabelRequests = state.DeclinedCount,
            Budget = config?.Budget ?? 0,
            Scoring = config?.Scoring.ToName(),
            BudgetStart = config?.BudgetManager.ToName(),
            Overspent = model is not null && HasOverspent(model),
            StandardizesFeatures = embedder == EmbedderKind.Baseline,
            WhitensFeatures = embedder == EmbedderKind.Spectral,
            Embedder = model is null ? null : embedder.ToName(),
            CarriedLabels = state.CarriedLabels,
            LabelsNotCarried = state.LabelsNotCarried,
            Enrollments = state.Enrollments,
        };
    }

    public static bool HasOverspent(MachineModel model) => BudgetTolerance.HasOverspent(model.Config.Budget, model.RealisedBudget, model.ClipsSeen);

    /// <summary>The embedder an enrolled machine's features come from: its stored feature transform says which
    /// (none: a trained model's embeddings; a standardiser: baseline; a whitener: spectral).</summary>
    public static EmbedderKind EnrolledEmbedder(MachineGrainState state)
        => state.Standardizer is null ? EmbedderKind.Model
            : FeatureWhitener.IsStoredForm(state.Standardizer) ? EmbedderKind.Spectral : EmbedderKind.Baseline;

    /// <summary>The configuration in force: the enrolled model's, else what the settings give (null if they are invalid).</summary>
    private static MachineConfig? Config(string machineId, MachineGrainState state, MachineModel? model)
    {
        if (model is not null) return model.Config;
        try { return state.Settings.ToConfig(machineId); }
        catch (ArgumentException) { return null; }
    }
}
