using AsdOrleans.Abstractions;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>
/// What the alert webhook reads from a shard of the alert index: every alert numbered in arrival order, only alerts
/// already on storage handed out (a crash cannot take back a delivered alert), and alerts that left the shard's list
/// unread showing as a gap, not silently.
/// </summary>
public sealed class AlertIndexNumberingTests : AlertIndexClusterTest
{
    [Fact]
    public async Task Written_alerts_come_numbered_in_arrival_order_and_only_once_on_storage()
    {
        var index = Cluster.Client.GetGrain<IAlertIndexGrain>(3);
        foreach (var clip in new[] { "a", "b", "c" })
        {
            await index.Add("m1", Alert(clip));
            var now = await index.Written(0, 10);
            Assert.True(now.End <= (await Stored(index)).State!.Added, "an alert was handed out before it was written"); // never ahead of storage
        }
        await Waiting.Until(async () => (await index.Written(0, 10)).End == 3, "the three alerts written behind");
        Assert.Equal(3, (await Stored(index)).State!.Added);

        // Numbered in the order the shard took them (one-way calls may arrive in another order than they were made).
        var arrival = (await index.Newest(null, 10)).Reverse().Select(a => a.Point.ClipId).ToList();
        Assert.Equal(["a", "b", "c"], arrival.Order());
        var all = await index.Written(0, 10);
        Assert.Equal(0, all.First);
        Assert.Equal(arrival, all.Alerts.Select(a => a.Point.ClipId));
        var rest = await index.Written(1, 1);
        Assert.Equal((1, 3), (rest.First, rest.End));
        Assert.Equal([arrival[1]], rest.Alerts.Select(a => a.Point.ClipId));
        Assert.Empty((await index.Written(3, 10)).Alerts);
        await Assert.ThrowsAsync<ArgumentException>(() => index.Written(0, 0));
    }

    [Fact]
    public async Task Alerts_that_left_a_full_shard_unread_show_as_a_gap()
    {
        var index = Cluster.Client.GetGrain<IAlertIndexGrain>(4);
        int total = AlertIndexGrain.Capacity + AlertIndexGrain.Capacity / 10; // the step at which the shard trims
        for (int i = 0; i < total; i++)
            await index.Add("m1", Alert($"c{i}"));
        // Trimmed before the shard wrote them (unless a write came between): still a run that ends where it starts or later.
        var early = await index.Written(0, 2);
        Assert.True(early.First <= early.End, $"first {early.First} past end {early.End}");
        await Waiting.Until(async () => (await index.Written(0, 1)).End == total, "every alert written behind");

        var from0 = await index.Written(0, 2);
        Assert.Equal(total - AlertIndexGrain.Capacity, from0.First); // a reader that asked from 0 sees what it missed
        var kept = (await index.Newest(null, total)).Reverse().Select(a => a.Point.ClipId).ToList();
        Assert.Equal(AlertIndexGrain.Capacity, kept.Count);
        Assert.Equal(kept.Take(2), from0.Alerts.Select(a => a.Point.ClipId)); // the oldest it still holds
    }

    [Fact]
    public async Task A_shard_stored_before_numbering_counts_its_alerts_from_its_oldest()
    {
        var index = Cluster.Client.GetGrain<IAlertIndexGrain>(5);
        var old = new GrainState<AlertIndexState>(new AlertIndexState { Alerts = [new("m1", Alert("x")), new("m1", Alert("y"))] }); // Added unset
        await Storage.WriteStateAsync("alerts", index.GetGrainId(), old);

        var written = await index.Written(0, 10);
        Assert.Equal((0, 2), (written.First, written.End));
        Assert.Equal(["x", "y"], written.Alerts.Select(a => a.Point.ClipId));
    }
}
