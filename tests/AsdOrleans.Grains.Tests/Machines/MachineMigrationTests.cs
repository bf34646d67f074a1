using AsdOrleans.Abstractions;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Machines;
using Orleans.Runtime.Placement;
using CoreEnrollmentClip = AsdOrleans.Method.Enrollment.EnrollmentClip;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>Moves an activation to a chosen silo the way Orleans' activation rebalancer does (IGrainContext.Migrate).</summary>
public interface IMigrationProbe : IGrainExtension
{
    Task MigrateTo(SiloAddress target);
}

public sealed class MigrationProbe(IGrainContext context) : IMigrationProbe
{
    public Task MigrateTo(SiloAddress target)
    {
        context.Migrate(new Dictionary<string, object> { [IPlacementDirector.PlacementHintKey] = target });
        return Task.CompletedTask;
    }
}

/// <summary>
/// A machine that migrates to another silo (Orleans' activation rebalancer, `Asd:ActivationRebalancer`) continues
/// exactly where it was: migration hands over the in-memory state, in which a machine keeps no base model bytes, so
/// the machine hands its model and the stored base's digests over with it (failed before: "not enrolled").
/// </summary>
public sealed class MachineMigrationTests() : SqliteMachineClusterTest(silo: s => s.AddGrainExtension<IMigrationProbe, MigrationProbe>(), silos: 2)
{
    private const string Model = "enc-migrate1";
    private static readonly EmbeddingTable Plant = SyntheticEmbeddings.Generate(new SyntheticEmbeddingSettings { Machines = 1, Seed = 23, SourceTrain = 60 });
    private static readonly List<EmbeddingRecord> Train = Plant.Records.Where(r => !r.IsTest).ToList();
    private static readonly List<EmbeddingRecord> Test = Plant.Records.Where(r => r.IsTest).ToList();

    private async Task<SiloAddress> Where(IMachineGrain grain)
        => await Cluster.Client.GetGrain<IManagementGrain>(0).GetActivationAddress(grain)
           ?? throw new InvalidOperationException("the machine is not active");

    /// <summary>Migrates the machine to the other silo and waits until it is active there.</summary>
    private async Task MoveToOtherSilo(IMachineGrain grain)
    {
        var from = await Where(grain);
        var to = Cluster.Silos.Select(s => s.SiloAddress).Single(a => !a.Equals(from));
        await grain.AsReference<IMigrationProbe>().MigrateTo(to);
        await Waiting.Until(async () =>
        {
            await grain.GetStatus(); // activates it again if it has already left
            return (await Where(grain)).Equals(to);
        }, $"the machine moved from {from} to {to}", seconds: 5);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_migrated_machine_continues_in_lockstep_with_the_method(bool withUnflushedClips)
    {
        string id = $"migrate.m{(withUnflushedClips ? 1 : 0)}";
        var settings = new MachineSettings { Strategy = "hybrid", Budget = 0.2, Seed = 9 };
        var grain = Cluster.Client.GetGrain<IMachineGrain>(id);
        await grain.Configure(settings);
        await grain.Enroll(new EnrollmentRequest(Train.Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model));
        var core = MachineModel.Enroll(settings.ToConfig(id), Train.Select(r => new CoreEnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model);

        int next = 0, labels = 0;
        async Task ProcessClips(int count)
        {
            for (int end = next + count; next < end; next++)
            {
                var verdict = await grain.ProcessClip(new ClipSubmission($"c{next}", Test[next].Embedding, Model));
                var expected = core.Process(Test[next].Embedding);
                Assert.Equal(expected.Score, verdict.Score);
                Assert.Equal(expected.LabelRequested, verdict.LabelRequested);
                if (verdict.LabelRequested && labels++ % 2 == 0) // answer every other request, the rest stay open
                {
                    var label = Test[next].IsAnomaly ? ClipLabelValue.Anomalous : ClipLabelValue.Normal;
                    await grain.SubmitLabel($"c{next}", label);
                    core.ApplyLabel(Test[next].Embedding, expected.Score, Test[next].IsAnomaly ? ClipLabel.Anomalous : ClipLabel.Normal);
                }
            }
        }

        await ProcessClips(20);
        if (!withUnflushedClips)
            await Task.Delay(MachineGrain.FlushInterval + TimeSpan.FromSeconds(1)); // everything written before the move
        var before = await grain.GetStatus();
        await MoveToOtherSilo(grain);

        var after = await grain.GetStatus();
        Assert.Equal(before.ClipsSeen, after.ClipsSeen);
        Assert.Equal(before.NormalLabels, after.NormalLabels);
        Assert.Equal(before.AnomalousLabels, after.AnomalousLabels);
        Assert.Equal(before.PendingLabelRequests, after.PendingLabelRequests);
        var retry = await grain.ProcessClip(new ClipSubmission("c3", Test[3].Embedding, Model));
        Assert.True(retry.Repeated);

        // Settings changed after the move keep the enrollment (a full write of what the activation holds).
        await grain.Configure(settings);
        await ProcessClips(20);

        // And again from a reload of what storage holds.
        await Cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        Assert.Equal(core.ClipsSeen, (await grain.GetStatus()).ClipsSeen);
        await ProcessClips(20);
    }
}
