using AsdOrleans.Abstractions;
using AsdOrleans.Evaluation.Experiments;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>
/// Calls for machine ids nobody configured or enrolled (a device or labeller key posting made-up ids) are refused and
/// leave neither a resident grain nor a stored row: the activations stay bounded however many ids are tried (stop 53).
/// </summary>
public sealed class UnknownMachineIdTests : SqliteMachineClusterTest
{
    private const string Model = "enc-unknown1";
    private const int MadeUpIds = 200;
    private static readonly EmbeddingTable Plant = SyntheticEmbeddings.Generate(new SyntheticEmbeddingSettings { Machines = 1, Seed = 4, SourceTrain = 120 });
    private static readonly float[] Clip = Plant.Records.First(r => r.IsTest).Embedding;

    private IMachineGrain Machine(string id) => Cluster.Client.GetGrain<IMachineGrain>(id);

    private async Task<int> ResidentMachines()
    {
        var statistics = await Cluster.Client.GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics();
        return statistics.Where(s => s.GrainType.Contains(nameof(MachineGrain), StringComparison.Ordinal)).Sum(s => s.ActivationCount);
    }

    private long StoredRows(string idPart)
    {
        using var connection = OpenDatabase();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM grain_state WHERE grain_id LIKE $pattern";
        command.Parameters.AddWithValue("$pattern", $"%{idPart}%");
        return (long)command.ExecuteScalar()!;
    }

    /// <summary>Every call a device or labeller key can make for a machine, each refused for an unknown id.</summary>
    private static IEnumerable<Func<Task>> CallsFor(IMachineGrain machine) =>
    [
        () => machine.EarlierVerdict("c-1", ClipAudioFingerprint.Of([1, 2, 3])),
        () => machine.ProcessClip(new ClipSubmission("c-1", Clip, Model)),
        () => machine.SubmitLabel("c-1", ClipLabelValue.Anomalous, "nina"),
        () => machine.SubmitLabel("c-1", ClipLabelValue.Anomalous, "not a labeller name!"), // refused before the machine is looked at
        () => machine.DeclineLabelRequest("c-1", "nina"),
        () => machine.ClaimLabelRequest("c-1", "nina"),
        () => machine.ReleaseLabelRequest("c-1", "nina"),
    ];

    [Fact]
    public async Task Calls_with_made_up_machine_ids_leave_no_grain_and_nothing_stored()
    {
        var enrolled = Machine("known.enrolled");
        await enrolled.Enroll(new EnrollmentRequest(Plant.Records.Where(r => !r.IsTest).Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model));
        var configured = Machine("known.configured");
        await configured.Configure(new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 3 });
        int before = await ResidentMachines();

        var calls = Enumerable.Range(0, MadeUpIds).SelectMany(i => CallsFor(Machine($"made-up.m{i}")));
        foreach (var batch in calls.Chunk(50))
        {
            var refused = await Task.WhenAll(batch.Select(RefusalOf));
            Assert.All(refused, e => Assert.True(e is InvalidOperationException or ArgumentException, e?.ToString()));
        }

        // Each made-up id's activation went as its call ended: within moments, not after the idle age (minutes).
        await Waiting.Until(async () => await ResidentMachines() <= before, "the made-up ids' grains to go", seconds: 10);
        Assert.Equal(0, StoredRows("made-up"));

        // Known machines are not affected: the configured one refuses clips as before, keeps its settings and stays.
        Assert.Contains("not enrolled", (await Assert.ThrowsAsync<InvalidOperationException>(() => configured.ProcessClip(new ClipSubmission("c-1", Clip, Model)))).Message);
        Assert.Contains("not enrolled", (await Assert.ThrowsAsync<InvalidOperationException>(() => configured.EarlierVerdict("c-1", 7))).Message);
        Assert.Equal("random", (await configured.GetStatus()).Settings.Strategy);
        var management = Cluster.Client.GetGrain<IManagementGrain>(0);
        Assert.NotNull(await management.GetActivationAddress(configured));
        Assert.False((await enrolled.ProcessClip(new ClipSubmission("c-1", Clip, Model))).Repeated);
        Assert.NotNull(await management.GetActivationAddress(enrolled));
        Assert.True(StoredRows("known.configured") > 0);
    }

    private static async Task<Exception?> RefusalOf(Func<Task> call)
    {
        try
        {
            await call();
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }
}
