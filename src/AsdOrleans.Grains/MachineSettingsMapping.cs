using AsdOrleans.Abstractions;
using AsdOrleans.Core.Machines;
using AsdOrleans.Core.Randomness;
using AsdOrleans.Core.Strategies;

namespace AsdOrleans.Grains;

/// <summary>Contract settings → Core's validated <see cref="MachineConfig"/>.</summary>
public static class MachineSettingsMapping
{
    public static MachineConfig ToConfig(this MachineSettings settings, string machineId)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new MachineConfig
        {
            Strategy = QueryStrategyNames.Parse(settings.Strategy ?? ""),
            Budget = settings.Budget,
            Gamma = settings.Gamma,
            Alpha = settings.Alpha,
            BudgetWindow = settings.BudgetWindow,
            RandomShare = settings.RandomShare,
            DecisionQuantile = settings.DecisionQuantile,
            SourceClusters = settings.SourceClusters,
            Seed = settings.Seed ?? RandomState.StableHash(machineId),
        }.Validate();
    }
}
