using AsdOrleans.Abstractions;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>
/// A shard whose writes fail while alerts keep coming trims its oldest alerts unwritten. A receipt for one of them must
/// not turn written once a later write succeeds: its machine would stop resending an alert that is on no storage.
/// </summary>
public sealed class AlertIndexTrimTests() : AlertIndexClusterTest(storage: o => o.BusyTimeout = TimeSpan.FromSeconds(1))
{
    [Fact]
    public async Task An_alert_trimmed_before_its_write_is_not_confirmed_and_a_resend_adds_it_again()
    {
        var index = Cluster.Client.GetGrain<IAlertIndexGrain>(11);
        await index.Newest(null, 1); // active before the lock: its record is read
        AlertIndexReceipt first;
        using (HoldWriteLock())
        {
            first = await index.Index("m1", Alert("first"), null);
            for (int i = 0; i < AlertIndexGrain.Capacity + AlertIndexGrain.Capacity / 10; i++)
                await index.Index("m2", Alert($"later-{i}"), null); // the shard trims "first", unwritten
        }
        await Waiting.Until(async () => (await Stored(index)).State!.Alerts.Count > 0, "the shard's write after the lock");
        Assert.DoesNotContain((await Stored(index)).State!.Alerts, a => a.Point.ClipId == "first");

        var resent = await index.Index("m1", Alert("first"), first);
        Assert.False(resent.Written);
        Assert.NotEqual(first.Number, resent.Number); // added again
        await Waiting.Until(async () => (await index.Index("m1", Alert("first"), resent)).Written, "the resent alert written");
        Assert.Single((await Stored(index)).State!.Alerts, a => a.Point.ClipId == "first");
    }
}
