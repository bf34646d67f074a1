using AsdOrleans.Abstractions;
using AsdOrleans.Evaluation.Experiments;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>
/// Issue 9 D5: a state change whose write failed must not reach storage later. Another connection holds SQLite's
/// write lock, so the grain's write fails (busy) exactly as a storage outage would; the lock is released while
/// the failed activation is still around.
/// </summary>
public sealed class MachinePersistFailureTests() : SqliteMachineClusterTest(storage: o => o.BusyTimeout = TimeSpan.FromSeconds(1))
{
    private const string Model = "enc-persist1";
    private static readonly EmbeddingTable Plant = SyntheticEmbeddings.Generate(new SyntheticEmbeddingSettings { Machines = 1, Seed = 9, SourceTrain = 120 });

    [Fact]
    public async Task D5_a_label_request_whose_write_failed_is_never_persisted_later()
    {
        var grain = Cluster.Client.GetGrain<IMachineGrain>("persist.m1");
        await grain.Configure(new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 });
        await grain.Enroll(new EnrollmentRequest(Plant.Records.Where(r => !r.IsTest).Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model));
        var clip = Plant.Records.First(r => r.IsTest);

        var locked = HoldWriteLock();
        // The verdict does not wait for the request's write, which comes right after the call and fails.
        Assert.True((await grain.ProcessClip(new ClipSubmission("c-1", clip.Embedding, Model, "audio/c-1.wav"))).LabelRequested);
        // A label on it needs a write too, so it fails while storage is down; by then the activation is discarded.
        await Assert.ThrowsAnyAsync<Exception>(() => grain.SubmitLabel("c-1", ClipLabelValue.Normal));
        locked.Dispose(); // storage is back while the failed activation may still try to write

        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Empty(await grain.GetPendingLabelRequests(10));
        Assert.Equal(0, (await grain.GetStatus()).ClipsSeen);
        // The device's retry is processed as a new clip, not refused as a reused id.
        Assert.True((await grain.ProcessClip(new ClipSubmission("c-1", clip.Embedding, Model, "audio/c-1.wav"))).LabelRequested);
        Assert.Single(await grain.GetPendingLabelRequests(10));
    }
}
