using AsdOrleans.Abstractions;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>
/// A write-behind grain whose record another activation has written since it read it (a duplicate activation while
/// silos join: version conflicts on alert index shards in the 30,000-machine rebalancer benchmark) must not retry with
/// its stale ETag forever: Orleans deactivates an activation whose write threw InconsistentStateException, even from a
/// timer, so the next call works from what storage holds. This pins that behaviour, which the grains rely on.
/// </summary>
public sealed class WriteBehindConflictTests : AlertIndexClusterTest
{
    private static async Task<List<string>> ClipIds(IAlertIndexGrain index) => (await index.Newest(null, 100)).Select(a => a.Point.ClipId).ToList();

    [Fact]
    public async Task An_alert_index_shard_that_lost_a_write_race_reloads_instead_of_retrying_forever()
    {
        var index = Cluster.Client.GetGrain<IAlertIndexGrain>(7);
        await index.Add("m1", Alert("a"));
        await Waiting.Until(async () => (await Stored(index)).State!.Alerts.Count == 1, "the first alert written behind");

        // Another writer (the duplicate) replaces the record: this activation's ETag is now stale.
        var theirs = await Stored(index);
        theirs.State!.Alerts = [new IndexedAlert("m2", Alert("x"))];
        await Storage.WriteStateAsync("alerts", index.GetGrainId(), theirs);

        await index.Add("m1", Alert("b")); // its flush conflicts
        await Waiting.Until(async () => (await ClipIds(index)).SequenceEqual(["x"]), "the shard serving what storage holds");

        // And it writes again.
        await index.Add("m1", Alert("c"));
        await Waiting.Until(async () => (await Stored(index)).State!.Alerts.Select(a => a.Point.ClipId).SequenceEqual(["x", "c"]), "the next alert written behind");
    }
}
