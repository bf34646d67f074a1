using System.Diagnostics;
using AsdOrleans.Abstractions;
using AsdOrleans.Evaluation.Experiments;
using Microsoft.Data.Sqlite;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>
/// Issue 13: a clip that opens a label request returns once the request is written; telling the registry that the
/// machine now holds requests follows on a turn of its own. A filter holds every registry <c>SetHolding</c> and <c>SetPending(…, true)</c> call for
/// <see cref="SlowListing.Delay"/>: the clip's call must not wait for it, and the listing must still follow.
/// </summary>
public sealed class LabelRequestFollowUpTests() : SqliteMachineClusterTest(silo: s => s.AddIncomingGrainCallFilter<LabelRequestFollowUpTests.SlowListing>())
{
    private const string Model = "enc-followup1";
    private static readonly EmbeddingTable Plant = SyntheticEmbeddings.Generate(new SyntheticEmbeddingSettings { Machines = 1, Seed = 13, SourceTrain = 120 });

    public sealed class SlowListing : IIncomingGrainCallFilter
    {
        public static readonly TimeSpan Delay = TimeSpan.FromSeconds(5); // far beyond a clip's call, even with the whole suite running

        public async Task Invoke(IIncomingGrainCallContext context)
        {
            // Only "holds requests" (SetHolding since stop 55, SetPending(…, true) for a shard of the release before): a
            // later "holds none" would overtake it unless the machine waits for the first.
            if (context.InterfaceMethod?.Name is nameof(IMachineRegistryShardGrain.SetHolding)
                || (context.InterfaceMethod?.Name == nameof(IMachineRegistryShardGrain.SetPending) && context.Request.GetArgument(1) is true))
                await Task.Delay(Delay);
            await context.Invoke();
        }
    }

    /// <summary>Whether the registry's stored index of machines holding requests names <paramref name="machineId"/>.</summary>
    private bool IndexedAsPending(string machineId)
    {
        using var connection = OpenDatabase();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT payload FROM grain_state WHERE state_name = 'pending-machines' AND grain_id LIKE '%registryshard%'";
        using var reader = command.ExecuteReader();
        var id = System.Text.Encoding.UTF8.GetBytes(machineId);
        while (reader.Read())
            if (!reader.IsDBNull(0) && ((byte[])reader[0]).AsSpan().IndexOf(id) >= 0)
                return true;
        return false;
    }

    private async Task<IMachineGrain> EnrolledMachine(string id)
    {
        var grain = Cluster.Client.GetGrain<IMachineGrain>(id);
        await grain.Configure(new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 }); // every clip asks
        await grain.Enroll(new EnrollmentRequest(Plant.Records.Where(r => !r.IsTest).Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model));
        return grain;
    }

    [Fact]
    public async Task A_clip_that_asks_for_a_label_does_not_wait_for_the_registry_and_the_request_is_listed_soon_after()
    {
        var grain = await EnrolledMachine("followup.m1");
        var clip = Plant.Records.First(r => r.IsTest);

        var watch = Stopwatch.StartNew();
        var verdict = await grain.ProcessClip(new ClipSubmission("c-1", clip.Embedding, Model));
        watch.Stop();
        Assert.True(verdict.LabelRequested);
        Assert.True(watch.Elapsed < SlowListing.Delay / 2, $"the clip's call took {watch.Elapsed.TotalMilliseconds:F0} ms: it waited for the registry");
        Assert.False(IndexedAsPending("followup.m1")); // the listing is still held by the filter
        await Waiting.Until(() => IndexedAsPending("followup.m1"), "the registry indexes the machine as holding requests", seconds: 15);
        Assert.Single(await grain.GetPendingLabelRequests(10));
        var registry = Cluster.Client.GetGrain<IMachineRegistryGrain>(0);
        Assert.Contains(await registry.GetPendingLabelRequests(10), r => r.ClipId == "c-1");
    }

    [Fact]
    public async Task A_label_answered_while_the_listing_is_on_its_way_leaves_the_machine_unlisted()
    {
        var grain = await EnrolledMachine("followup.m2");
        var clip = Plant.Records.First(r => r.IsTest);
        Assert.True((await grain.ProcessClip(new ClipSubmission("c-1", clip.Embedding, Model))).LabelRequested);
        // The listing (held by the filter) is on its way when the label comes: the label's own sync must not be
        // overtaken by it, so the index ends without the machine.
        await grain.SubmitLabel("c-1", ClipLabelValue.Normal);
        Assert.Empty(await grain.GetPendingLabelRequests(10));
        await Task.Delay(SlowListing.Delay + TimeSpan.FromSeconds(1)); // anything still held has landed
        Assert.False(IndexedAsPending("followup.m2"), "the machine is indexed as holding requests after its only one was answered");
        Assert.Empty(await Cluster.Client.GetGrain<IMachineRegistryGrain>(0).GetPendingLabelRequests(10));
    }
}
