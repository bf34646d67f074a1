using AsdOrleans.Abstractions;
using AsdOrleans.Core.Machines;

namespace AsdOrleans.Grains;

/// <summary>What an operator sees of a machine: its settings, Core's counters and sets, and the grain's requests.</summary>
internal static class MachineStatusMapping
{
    public static MachineStatus Describe(string machineId, MachineGrainState state, MachineModel? model) => new()
    {
        MachineId = machineId,
        Enrolled = model is not null,
        Settings = state.Settings,
        ModelVersion = model?.ModelVersion,
        ReferenceSetSize = model?.ReferenceSet.Count ?? 0,
        AnomalySetSize = model?.AnomalySet.Count ?? 0,
        ClipsSeen = model?.ClipsSeen ?? 0,
        Queries = model?.Queries ?? 0,
        RealisedBudget = model?.RealisedBudget ?? 0,
        SpentBudget = model?.SpentBudget ?? 0,
        LabellingThreshold = model?.LabellingThreshold ?? 0,
        DecisionThreshold = model?.DecisionThreshold ?? 0,
        PendingLabelRequests = state.Pending.Count,
        NormalLabels = model?.NormalLabels ?? 0,
        AnomalousLabels = model?.AnomalousLabels ?? 0,
        ExpiredLabelRequests = state.ExpiredCount,
    };
}
