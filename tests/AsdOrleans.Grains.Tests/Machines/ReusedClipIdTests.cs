using AsdOrleans.Abstractions;
using AsdOrleans.Evaluation.Experiments;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>
/// A recent clip id sent again with other audio (a gateway that reset its clip counter) is refused, not answered with the
/// first clip's verdict; the same audio is still a repeat. On SQLite, whose serializer is the silos', so the fingerprints'
/// way through a reload is the real one (stop 53).
/// </summary>
public sealed class ReusedClipIdTests : SqliteMachineClusterTest
{
    private const string Model = "enc-reused1";
    private const uint Audio = 0x5eed, OtherAudio = 0xbeef;
    private static readonly EmbeddingTable Plant = SyntheticEmbeddings.Generate(new SyntheticEmbeddingSettings { Machines = 1, Seed = 6, SourceTrain = 120 });
    private static readonly List<EmbeddingRecord> Test = Plant.Records.Where(r => r.IsTest).ToList();

    private async Task<IMachineGrain> Enrolled(string id)
    {
        var grain = Cluster.Client.GetGrain<IMachineGrain>(id);
        await grain.Configure(new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 3 });
        await grain.Enroll(new EnrollmentRequest(Plant.Records.Where(r => !r.IsTest).Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model));
        return grain;
    }

    private Task Reload() => Cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

    [Fact]
    public async Task A_recent_clip_id_with_other_audio_is_refused_and_changes_nothing()
    {
        var grain = await Enrolled("reused-id.m");
        var verdict = await grain.ProcessClip(new ClipSubmission("c-0", Test[0].Embedding, Model, AudioFingerprint: Audio));
        var before = await grain.GetStatus();

        var refused = await Assert.ThrowsAsync<ClipIdReusedException>(() => grain.EarlierVerdict("c-0", OtherAudio));
        Assert.Equal($"clip id 'c-0' of machine reused-id.m was scored with different audio (the machine's clip {verdict.ClipIndex}); "
            + "a new clip needs a new id. Nothing changed.", refused.Message);
        // Two new clips of one id both past EarlierVerdict: the machine itself refuses the second one's embedding.
        await Assert.ThrowsAsync<ClipIdReusedException>(() => grain.ProcessClip(new ClipSubmission("c-0", Test[1].Embedding, Model, AudioFingerprint: OtherAudio)));
        Assert.Equal(before, await grain.GetStatus()); // clip count, budget and requests as they were

        Assert.Equal(verdict with { Repeated = true }, await grain.EarlierVerdict("c-0", Audio));
        Assert.Equal(verdict with { Repeated = true }, await grain.ProcessClip(new ClipSubmission("c-0", Test[0].Embedding, Model, AudioFingerprint: Audio)));
        // An embedding submitted without its audio cannot be compared: a retry, as before fingerprints.
        Assert.Equal(verdict with { Repeated = true }, await grain.ProcessClip(new ClipSubmission("c-0", Test[1].Embedding, Model)));
        Assert.Equal(before, await grain.GetStatus());
    }

    [Fact]
    public async Task The_fingerprints_survive_a_reload_from_the_journal_and_from_a_full_write()
    {
        var grain = await Enrolled("reused-id.reload");
        await grain.ProcessClip(new ClipSubmission("c-0", Test[0].Embedding, Model, AudioFingerprint: Audio));
        await Reload(); // c-0 is in the journal
        await Assert.ThrowsAsync<ClipIdReusedException>(() => grain.EarlierVerdict("c-0", OtherAudio));
        Assert.True((await grain.EarlierVerdict("c-0", Audio))!.Repeated);

        for (int i = 1; i <= MachineGrain.JournalLimits.Verdicts; i++) // past the journal's limit: a full write holds them all
            await grain.ProcessClip(new ClipSubmission($"c-{i}", Test[i].Embedding, Model, AudioFingerprint: Audio + (uint)i));
        await Reload();
        await Assert.ThrowsAsync<ClipIdReusedException>(() => grain.EarlierVerdict("c-0", OtherAudio));
        await Assert.ThrowsAsync<ClipIdReusedException>(() => grain.EarlierVerdict($"c-{MachineGrain.JournalLimits.Verdicts}", Audio));
        Assert.True((await grain.EarlierVerdict("c-1", Audio + 1))!.Repeated);
        Assert.Equal(MachineGrain.JournalLimits.Verdicts + 1, (await grain.GetStatus()).ClipsSeen);
    }
}
