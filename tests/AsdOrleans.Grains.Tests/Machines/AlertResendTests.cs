using AsdOrleans.Abstractions;
using AsdOrleans.Evaluation.Experiments;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>
/// Alerts reach the plant-wide index at least once and are kept there once: a machine sends each alert again until its
/// shard's receipt says it is written, and the shard adds an alert it already holds no second time. The webhook delivers
/// only what the index has written, so an alert lost from a shard before its write would otherwise reach no one.
/// </summary>
public sealed class AlertResendTests : AlertIndexClusterTest
{
    internal const string Model = "enc-alerts1";
    internal static readonly EmbeddingTable Plant = SyntheticEmbeddings.Generate(new SyntheticEmbeddingSettings { Machines = 1, Seed = 12, SourceTrain = 120 });

    private static async Task<List<IndexedAlert>> Held(IAlertIndexGrain index, string clipId)
        => (await index.Newest(null, AlertIndexGrain.Capacity)).Where(a => a.Point.ClipId == clipId).ToList();

    private Task<IMachineGrain> Enrolled(string id) => Enroll(Cluster.Client, id);

    /// <summary>Machine <paramref name="id"/> configured (random, b = 0.1) and enrolled on <see cref="Plant"/>'s training clips.</summary>
    internal static async Task<IMachineGrain> Enroll(IGrainFactory grains, string id)
    {
        var machine = grains.GetGrain<IMachineGrain>(id);
        await machine.Configure(new MachineSettings { Strategy = "random", Budget = 0.1, Seed = 3 });
        await machine.Enroll(new EnrollmentRequest(Plant.Records.Where(r => !r.IsTest).Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model));
        return machine;
    }

    /// <summary>Machine <paramref name="id"/> asking about every clip (b = 1), enrolled on <see cref="Plant"/>'s training
    /// clips, and the ids of its first <paramref name="count"/> alerts, each with an open label request.</summary>
    internal static async Task<(IMachineGrain Machine, List<string> Alerts)> AlertsWithRequests(IGrainFactory grains, string id, int count)
    {
        var machine = grains.GetGrain<IMachineGrain>(id);
        await machine.Configure(new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 }); // every clip is asked about
        await machine.Enroll(new EnrollmentRequest(Plant.Records.Where(r => !r.IsTest).Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model));
        return (machine, await RaiseAlertsWithRequests(machine, count, "c"));
    }

    /// <summary>Sends <paramref name="machine"/> the plant's anomalies (clip ids <paramref name="prefix"/> and a number)
    /// until <paramref name="count"/> raised an alert with a label request; their ids.</summary>
    internal static async Task<List<string>> RaiseAlertsWithRequests(IMachineGrain machine, int count, string prefix)
    {
        var alerts = new List<string>();
        var test = Plant.Records.Where(r => r.IsTest && r.IsAnomaly).ToList();
        for (int clip = 0; alerts.Count < count; clip++)
        {
            Assert.True(clip < test.Count, "too few clips of the plant's anomalies raised an alert with a label request");
            var verdict = await machine.ProcessClip(new ClipSubmission($"{prefix}{clip}", test[clip].Embedding, Model));
            if (verdict is { Anomalous: true, LabelRequested: true }) alerts.Add(verdict.ClipId);
        }
        return alerts;
    }

    [Fact]
    public async Task An_alert_a_shard_lost_before_writing_it_comes_again_from_its_machine_and_is_written_once()
    {
        const string id = "resend.m1";
        var machine = await Enrolled(id);

        // The machine's shard has written a record, so a write from elsewhere leaves its activation with a stale ETag.
        var index = AlertIndexShards.For(Cluster.Client, id);
        await index.Add("other", Alert("seed"));
        await Waiting.Until(async () => (await Stored(index)).State!.Alerts.Count == 1, "the shard's first write");

        // Another activation of the shard writes its record: this one's next write (the alert's) fails, and it reloads
        // what storage holds, which has no such alert.
        var theirs = await Stored(index);
        theirs.State!.Alerts = [.. theirs.State.Alerts, new IndexedAlert("other", Alert("theirs"))];
        await Storage.WriteStateAsync("alerts", index.GetGrainId(), theirs);

        string? alertClip = null;
        var test = Plant.Records.Where(r => r.IsTest && r.IsAnomaly).ToList();
        for (int clip = 0; alertClip is null; clip++)
        {
            Assert.True(clip < test.Count, "no clip of the plant's anomalies raised an alert");
            var verdict = await machine.ProcessClip(new ClipSubmission($"c{clip}", test[clip].Embedding, Model));
            if (verdict.Anomalous) alertClip = verdict.ClipId;
        }

        await Waiting.Until(async () => (await Stored(index)).State!.Alerts.Any(a => a.MachineId == id && a.Point.ClipId == alertClip),
            "the machine's alert written to the shard's record after the shard lost it", seconds: 40);
        var stored = (await Stored(index)).State!.Alerts;
        Assert.Single(stored, a => a.Point.ClipId == alertClip);
        Assert.Contains(stored, a => a.Point.ClipId == "theirs"); // the other writer's alert is kept

        // Confirmed, the machine stops sending: its stored list of unconfirmed alerts empties, and no copy is added.
        await Waiting.Until(async () => (await Stored<ScoreHistoryState>(MachineScoreHistory.HeadStateName, machine)).State!.UnindexedAlerts.Count == 0,
            "the confirmed alert gone from the machine's stored list");
        Assert.Single(await Held(index, alertClip!));
    }

    [Fact]
    public async Task A_machine_back_from_a_crash_sends_the_alerts_its_history_stored_unconfirmed()
    {
        const string id = "resend.m2";
        var machine = await Enrolled(id);
        await machine.ProcessClip(new ClipSubmission("c0", Plant.Records.First(r => r.IsTest).Embedding, Model));
        await Cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        await Waiting.Until(async () => (await Stored<ScoreHistoryState>(MachineScoreHistory.HeadStateName, machine)).RecordExists, "the history written");

        // What a machine leaves when it crashes after its history's write and before the index confirmed an alert:
        // the point, and the alert among those unconfirmed.
        var lost = Alert("crash-1");
        var head = await Stored<ScoreHistoryState>(MachineScoreHistory.HeadStateName, machine);
        head.State!.Points.Add(lost);
        head.State.UnindexedAlerts = [lost.ClipId];
        await Storage.WriteStateAsync(MachineScoreHistory.HeadStateName, machine.GetGrainId(), head);

        await machine.GetStatus(); // activates it
        var index = AlertIndexShards.For(Cluster.Client, id);
        await Waiting.Until(async () => (await Stored(index)).State!.Alerts.Any(a => a.MachineId == id && a.Point.ClipId == "crash-1"),
            "the alert its history kept written to the index");
        // Confirmed, it leaves the stored list at the machine's next write.
        await Waiting.Until(async () => (await Stored<ScoreHistoryState>(MachineScoreHistory.HeadStateName, machine)).State!.UnindexedAlerts.Count == 0,
            "the confirmed alert gone from the history's unconfirmed list");
    }

    [Fact]
    public async Task The_shard_adds_an_alert_once_and_its_receipt_says_when_it_is_written_also_to_a_later_activation()
    {
        var index = Cluster.Client.GetGrain<IAlertIndexGrain>(9);
        var first = await index.Index("m1", Alert("a"), null);
        var again = await index.Index("m1", Alert("a"), null); // a resend without the receipt (the call's answer was lost)
        Assert.Equal(first.Number, again.Number);
        Assert.Single(await Held(index, "a"));

        await Waiting.Until(async () => (await index.Index("m1", Alert("a"), first)).Written, "the receipt saying the alert is written");
        Assert.Single((await Stored(index)).State!.Alerts, a => a.Point.ClipId == "a");

        // A later activation knows nothing of the first one's numbers; it finds the alert in what it read.
        await Cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var later = await index.Index("m1", Alert("a"), first);
        Assert.NotEqual(first.Activation, later.Activation);
        Assert.True(later.Written);
        Assert.Single(await Held(index, "a"));

        // A resend that carries the request's outcome gives it to an alert the shard holds without one; its receipt says
        // written only once the outcome is.
        var closed = Alert("a").Closed(LabelRequestOutcome.Anomalous, "ana");
        Assert.False((await index.Index("m1", closed, later)).Written);
        var marked = Assert.Single(await Held(index, "a"));
        Assert.Equal(LabelRequestOutcome.Anomalous, marked.Point.RequestOutcome);
        await Waiting.Until(async () => (await index.Index("m1", closed, later)).Written, "the receipt saying the outcome is written");
        Assert.Equal(LabelRequestOutcome.Anomalous, Assert.Single((await Stored(index)).State!.Alerts, a => a.Point.ClipId == "a").Point.RequestOutcome);

        // Close: done for a clip the shard does not hold (it adds nothing), and for an outcome it has written; not done
        // while a new outcome waits for the shard's write.
        Assert.True(await index.Close("m1", "never-indexed", LabelRequestOutcome.Normal, null));
        Assert.Empty(await Held(index, "never-indexed"));
        Assert.True(await index.Close("m1", "a", LabelRequestOutcome.Anomalous, "ana"));
        Assert.False(await index.Close("m1", "a", LabelRequestOutcome.Normal, "bob"));
        await Waiting.Until(() => index.Close("m1", "a", LabelRequestOutcome.Normal, "bob"), "the new outcome written");
        var rewritten = Assert.Single((await Stored(index)).State!.Alerts, a => a.Point.ClipId == "a").Point;
        Assert.Equal((LabelRequestOutcome.Normal, "bob"), (rewritten.RequestOutcome!.Value, rewritten.ClosedBy));
        // The same outcome without a name (a machine restored it from its state, which keeps none) changes nothing.
        Assert.True(await index.Close("m1", "a", LabelRequestOutcome.Normal, null));
        Assert.Equal("bob", (await Held(index, "a")).Single().Point.ClosedBy);
    }

    [Fact]
    public async Task A_label_outcome_a_shard_lost_before_writing_it_is_marked_again_by_its_machine()
    {
        const string id = "resend.m3";
        var (machine, alerts) = await AlertsWithRequests(Cluster.Client, id, 1);
        var alertClip = alerts[0];
        var index = AlertIndexShards.For(Cluster.Client, id);
        await Waiting.Until(async () => (await Stored<ScoreHistoryState>(MachineScoreHistory.HeadStateName, machine)).State!.UnindexedAlerts.Count == 0
            && (await Stored(index)).State!.Alerts.Any(a => a.Point.ClipId == alertClip), "the alert confirmed written", seconds: 40);

        // Another activation of the shard writes its record (the alert still open): the shard's write of the outcome
        // fails, and it reloads what storage holds, without the outcome.
        await Storage.WriteStateAsync("alerts", index.GetGrainId(), await Stored(index));
        await machine.SubmitLabel(alertClip, ClipLabelValue.Anomalous, "ana");

        await Waiting.Until(async () => (await Stored(index)).State!.Alerts.Single(a => a.MachineId == id && a.Point.ClipId == alertClip).Point.RequestOutcome == LabelRequestOutcome.Anomalous,
            "the label's outcome written to the shard's record after the shard lost it", seconds: 40);
        Assert.Equal("ana", (await Stored(index)).State!.Alerts.Single(a => a.Point.ClipId == alertClip).Point.ClosedBy);
    }
}
