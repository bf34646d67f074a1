using AsdOrleans.Evaluation.Experiments;

namespace AsdOrleans.Core.Tests.Experiments;

public class EmbeddingDiagnosticsTests
{
    [Fact]
    public void Separated_machines_score_high_and_shuffled_machine_names_score_near_chance()
    {
        var table = SyntheticEmbeddings.Generate(new SyntheticEmbeddingSettings { Machines = 4, SourceTrain = 60, TargetTrain = 4, TestPerDomainAndLabel = 10, Seed = 2 });
        double separated = EmbeddingDiagnostics.NearestNeighbourMachineAccuracy(table);
        Assert.True(separated > 0.7, $"{separated}");

        var random = new Random(1);
        var names = table.Machines.ToArray();
        var shuffled = table.Records.Select(r => r with { Machine = names[random.Next(names.Length)] }).ToList();
        double chance = EmbeddingDiagnostics.NearestNeighbourMachineAccuracy(new EmbeddingTable(shuffled, table.Dimension));
        Assert.InRange(chance, 0.1, 0.45);
    }
}
