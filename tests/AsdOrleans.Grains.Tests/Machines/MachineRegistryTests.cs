using AsdOrleans.Abstractions;
using AsdOrleans.Evaluation.Experiments;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>Machines list themselves in the registry; the registry gathers their label requests.</summary>
public sealed class MachineRegistryTests(MachineClusterFixture fixture) : IClassFixture<MachineClusterFixture>
{
    private const string Model = "enc-test0001";
    private static readonly EmbeddingTable Plant = SyntheticEmbeddings.Generate(new SyntheticEmbeddingSettings { Machines = 1, Seed = 7, SourceTrain = 60 });

    private IMachineGrain Machine(string id) => fixture.Cluster.GrainFactory.GetGrain<IMachineGrain>(id);
    private IMachineRegistryGrain Registry => fixture.Cluster.GrainFactory.GetGrain<IMachineRegistryGrain>(0);

    private static EnrollmentRequest Enrollment() =>
        new(Plant.Records.Where(r => !r.IsTest).Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model);

    [Fact]
    public async Task A_configured_or_enrolled_machine_lists_itself_once()
    {
        await Machine("registry.configured").Configure(new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 1 });
        await Machine("registry.configured").Configure(new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 1 });
        await Machine("registry.enrolled-only").Enroll(Enrollment());
        var ids = await Registry.List();
        Assert.Single(ids, id => id == "registry.configured");
        Assert.Single(ids, id => id == "registry.enrolled-only");
        Assert.DoesNotContain("registry.never-configured", ids);
    }

    [Fact]
    public async Task The_registry_gathers_pending_requests_of_its_machines_oldest_first()
    {
        var test = Plant.Records.Where(r => r.IsTest).ToList();
        foreach (var id in new[] { "fanout.b", "fanout.a" })
        {
            await Machine(id).Configure(new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 2 });
            await Machine(id).Enroll(Enrollment());
            for (int i = 0; i < 3; i++)
                await Machine(id).ProcessClip(new ClipSubmission($"{id}-clip-{i}", test[i].Embedding, Model));
        }
        int expected = (await Machine("fanout.a").GetPendingLabelRequests(100)).Count + (await Machine("fanout.b").GetPendingLabelRequests(100)).Count;
        Assert.True(expected > 0);
        // A machine lists itself right after the clip that opened its first request (MachineGrain.RunFollowUp).
        IReadOnlyList<LabelRequest> all = [];
        await Waiting.Until(async () => (all = await Registry.GetPendingLabelRequests(10_000)).Count(r => r.MachineId.StartsWith("fanout.", StringComparison.Ordinal)) >= expected,
            "both machines listed", seconds: 15);
        var mine = all.Where(r => r.MachineId.StartsWith("fanout.", StringComparison.Ordinal)).ToList();
        Assert.Equal(expected, mine.Count);
        Assert.Equal(all.OrderBy(r => r.RequestedAt).ThenBy(r => r.MachineId, StringComparer.Ordinal), all);
        Assert.Single(await Registry.GetPendingLabelRequests(1));
        await Assert.ThrowsAsync<ArgumentException>(() => Registry.GetPendingLabelRequests(0));
    }
}
