using AsdOrleans.Abstractions;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Grains.Telemetry;
using AsdOrleans.Grains.Tests.Storage;
using AsdOrleans.Storage.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;
using Orleans.Storage;
using Orleans.TestingHost;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>
/// A machine whose history stores alerts the alert index has not confirmed is woken by a reminder to send them, so they
/// reach the index (and the webhook) although nobody calls the machine again: its silo crashed and its clips stopped.
/// Label outcomes the index has not confirmed are stored and sent the same way, and outcomes a crash kept from the
/// history (marked behind the state's write) are restored from the state at the next activation.
/// </summary>
public sealed class AlertResendWakeTests : IDisposable
{
    private const string Model = AlertResendTests.Model;
    private static EmbeddingTable Plant => AlertResendTests.Plant;
    private static readonly TimeSpan WakePeriod = TimeSpan.FromSeconds(2);
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private Task<InProcessTestCluster> StartSilo()
        => SqliteMachineCluster.StartAsync(_folder.File("grains.db"), silo: silo =>
        {
            silo.UseSqliteReminderService(o => o.DatabasePath = _folder.File("reminders.db"));
            silo.Services.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
            silo.Services.Configure<AlertResendOptions>(o => o.WakePeriod = WakePeriod);
        });

    private static async Task Stop(InProcessTestCluster cluster)
    {
        await cluster.StopAllSilosAsync();
        await cluster.DisposeAsync();
    }

    private long WakeReminders(string machine) => StoredReminders.Count(_folder.Path, machine, AlertResendReminder.Name);

    /// <summary>Deactivates idle grains until none of <paramref name="grainClasses"/> is active (one still going could
    /// write its state again).</summary>
    private static async Task Deactivate(InProcessTestCluster cluster, params string[] grainClasses)
    {
        var management = cluster.Client.GetGrain<IManagementGrain>(0);
        await Waiting.Until(async () =>
        {
            await management.ForceActivationCollection(TimeSpan.Zero);
            return !(await management.GetSimpleGrainStatistics()).Any(g => g.ActivationCount > 0 && grainClasses.Any(c => g.GrainType.Contains(c, StringComparison.Ordinal)));
        }, "every " + string.Join(" and ", grainClasses) + " deactivated");
    }

    private static IGrainStorage StorageOf(InProcessTestCluster cluster) => cluster.Silos[0].ServiceProvider.GetRequiredKeyedService<IGrainStorage>(MachineGrain.StorageName);

    private static async Task<GrainState<T>> Stored<T>(InProcessTestCluster cluster, string name, GrainId grain) where T : new()
    {
        var state = new GrainState<T>(new T());
        await StorageOf(cluster).ReadStateAsync(name, grain, state);
        return state;
    }

    /// <summary>Writes <paramref name="state"/> over the stored record, as it was before later writes.</summary>
    private static async Task Overwrite<T>(InProcessTestCluster cluster, string name, GrainId grain, T state) where T : new()
    {
        var stored = await Stored<T>(cluster, name, grain);
        stored.State = state;
        await StorageOf(cluster).WriteStateAsync(name, grain, stored);
    }

    /// <summary>Machine <paramref name="id"/> asking about every clip, with its first <paramref name="count"/> alerts (each
    /// with an open request) written by the alert index and confirmed; then it and the shards are deactivated.</summary>
    private static async Task<(IMachineGrain Machine, List<string> Alerts, GrainId Grain, GrainId Shard)> ConfirmedAlertsWithRequests(
        InProcessTestCluster cluster, string id, int count)
    {
        var (machine, alerts) = await AlertResendTests.AlertsWithRequests(cluster.Client, id, count);
        var (grain, shard) = (machine.GetGrainId(), AlertIndexShards.For(cluster.Client, id).GetGrainId());
        await Waiting.Until(async () => (await Stored<ScoreHistoryState>(cluster, MachineScoreHistory.HeadStateName, grain)).State!.UnindexedAlerts.Count == 0
            && (await Stored<AlertIndexState>(cluster, "alerts", shard)).State!.Alerts.Select(a => a.Point.ClipId).ToHashSet().IsSupersetOf(alerts), "the alerts confirmed written");
        await Deactivate(cluster, "MachineGrain", "AlertIndexGrain");
        return (machine, alerts, grain, shard);
    }

    private static Task<IMachineGrain> Enrolled(InProcessTestCluster cluster, string id) => AlertResendTests.Enroll(cluster.Client, id);

    [Fact]
    public async Task A_machine_nobody_calls_after_a_crash_sends_the_alerts_its_history_stored_when_its_reminder_wakes_it()
    {
        const string id = "wake.m1";
        var alert = new ScorePoint(DateTimeOffset.UtcNow, "crash-1", 1, 0.9, 0.5, true, false);
        var first = await StartSilo();
        GrainId grain;
        try
        {
            var machine = await Enrolled(first, id);
            grain = machine.GetGrainId();
            await machine.ProcessClip(new ClipSubmission("c0", Plant.Records.First(r => r.IsTest && !r.IsAnomaly).Embedding, Model));
            await Deactivate(first, "MachineGrain");
            Assert.True((await Stored<ScoreHistoryState>(first, MachineScoreHistory.HeadStateName, grain)).RecordExists, "the history written");

            // What an activation leaves when its silo crashes after its history's write and before the index confirmed
            // an alert: the point, the alert among those unconfirmed, and the wake it registered at that write.
            var head = await Stored<ScoreHistoryState>(first, MachineScoreHistory.HeadStateName, grain);
            head.State!.Points.Add(alert with { ClipIndex = 0, Score = 0.8 }); // an older alert of the same clip id (a device reused it)
            head.State.Points.Add(alert);
            head.State.UnindexedAlerts = [alert.ClipId];
            await StorageOf(first).WriteStateAsync(MachineScoreHistory.HeadStateName, grain, head);
            await first.Silos[0].ServiceProvider.GetRequiredService<IReminderTable>().UpsertRow(new ReminderEntry
            {
                GrainId = grain, ReminderName = AlertResendReminder.Name, StartAt = DateTime.UtcNow + WakePeriod, Period = WakePeriod,
            });
            Assert.Equal(1, WakeReminders(id));
        }
        finally
        {
            await Stop(first);
        }

        // The restarted silo's reminder service reads the table; no call reaches the machine.
        var second = await StartSilo();
        try
        {
            var shard = AlertIndexShards.For(second.Client, id);
            await Waiting.Until(async () => (await Stored<AlertIndexState>(second, "alerts", shard.GetGrainId())).State!.Alerts.Any(a => a.MachineId == id && a.Point.ClipId == alert.ClipId),
                "the stored alert written to the index after a wake", seconds: 40);
            Assert.Equal(alert.ClipIndex, (await Stored<AlertIndexState>(second, "alerts", shard.GetGrainId())).State!.Alerts.Single(a => a.Point.ClipId == alert.ClipId).Point.ClipIndex); // the newest
            await Waiting.Until(async () => (await Stored<ScoreHistoryState>(second, MachineScoreHistory.HeadStateName, grain)).State!.UnindexedAlerts.Count == 0,
                "the confirmed alert gone from the stored list");
            await Waiting.Until(() => WakeReminders(id) == 0, "the wake removed once nothing waits", seconds: 40);
        }
        finally
        {
            await Stop(second);
        }
    }

    [Fact]
    public async Task A_machine_registers_its_wake_when_an_alert_stays_unconfirmed_and_drops_it_once_nothing_waits()
    {
        const string id = "wake.m2";
        var cluster = await StartSilo();
        try
        {
            var machine = await Enrolled(cluster, id);
            var anomalies = Plant.Records.Where(r => r.IsTest && r.IsAnomaly).ToList();
            int next = 0;
            async Task<string> RaiseAlert()
            {
                for (; next < anomalies.Count; next++)
                {
                    var verdict = await machine.ProcessClip(new ClipSubmission($"c{next}", anomalies[next].Embedding, Model));
                    if (verdict.Anomalous) { next++; return verdict.ClipId; }
                }
                throw new InvalidOperationException("no more clips of the plant's anomalies raised an alert");
            }

            // A well shard confirms the alert within a tick or two: no reminder is written.
            var shard = AlertIndexShards.For(cluster.Client, id);
            var confirmed = await RaiseAlert();
            await Waiting.Until(async () => (await Stored<ScoreHistoryState>(cluster, MachineScoreHistory.HeadStateName, machine.GetGrainId())).State!.UnindexedAlerts.Count == 0
                && (await Stored<AlertIndexState>(cluster, "alerts", shard.GetGrainId())).State!.Alerts.Any(a => a.Point.ClipId == confirmed), "the first alert confirmed");
            await Task.Delay(AlertResendReminder.RegisterAfter + MachineGrain.FlushInterval);
            Assert.Equal(0, WakeReminders(id));

            // The shard's record made unreadable: the shard cannot activate, and the next alert stays unconfirmed, as while
            // a shard's silo or store is failing.
            await Deactivate(cluster, "MachineGrain", "AlertIndexGrain");
            Assert.Equal(1, StoredGrainState.MakeAllUnreadable(_folder.Path, "alerts"));
            var alertClip = await RaiseAlert();
            // Not before RegisterAfter (a well shard would have confirmed it by then).
            await Task.Delay(AlertResendReminder.RegisterAfter - TimeSpan.FromSeconds(7));
            Assert.Equal(0, WakeReminders(id));
            await Waiting.Until(() => WakeReminders(id) == 1, "the wake registered with the stored alert, unconfirmed for long", seconds: 40);
            Assert.Equal(1, StoredGrainState.Delete(_folder.Path, "alerts")); // the shard comes back, empty

            await Waiting.Until(async () => (await Stored<ScoreHistoryState>(cluster, MachineScoreHistory.HeadStateName, machine.GetGrainId())).State!.UnindexedAlerts.Count == 0,
                "the alert confirmed and gone from the stored list", seconds: 40);
            Assert.Contains((await Stored<AlertIndexState>(cluster, "alerts", shard.GetGrainId())).State!.Alerts, a => a.MachineId == id && a.Point.ClipId == alertClip);
            await cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
            await Waiting.Until(() => WakeReminders(id) == 0, "the wake removed (at deactivation, or by a wake that found nothing)");
        }
        finally
        {
            await Stop(cluster);
        }
    }

    [Fact]
    public async Task Label_outcomes_a_crash_kept_from_the_history_and_the_index_are_restored_from_the_machines_state()
    {
        const string id = "wake.m4";
        var cluster = await StartSilo();
        try
        {
            // Two alerts on a sealed page of the history (a hundred points after them), two on the open page.
            var (machine, alerts) = await AlertResendTests.AlertsWithRequests(cluster.Client, id, 2);
            for (int i = 0; i < MachineScoreHistory.PageSize; i++)
                await machine.AsReference<IScoreHistoryGrain>().Record(new ScorePoint(DateTimeOffset.UtcNow, $"fill{i}", 1000 + i, 0.1, 0.5, false, false));
            await Waiting.Until(async () => (await machine.AsReference<IScoreHistoryGrain>().Get(null, MachineScoreHistory.Capacity)).Count(p => p.ClipId.StartsWith("fill", StringComparison.Ordinal))
                == MachineScoreHistory.PageSize, "the points recorded (one-way calls)");
            alerts.AddRange(await AlertResendTests.RaiseAlertsWithRequests(machine, 2, "d"));
            var (answered, declined, answeredOpenPage, open) = (alerts[0], alerts[1], alerts[2], alerts[3]);
            var grain = machine.GetGrainId();
            var shard = AlertIndexShards.For(cluster.Client, id).GetGrainId();
            await Waiting.Until(async () => (await Stored<ScoreHistoryState>(cluster, MachineScoreHistory.HeadStateName, grain)).State!.UnindexedAlerts.Count == 0
                && (await Stored<AlertIndexState>(cluster, "alerts", shard)).State!.Alerts.Count(a => a.MachineId == id) == 4, "the alerts confirmed written");
            await Deactivate(cluster, "MachineGrain", "AlertIndexGrain");
            var headBefore = (await Stored<ScoreHistoryState>(cluster, MachineScoreHistory.HeadStateName, grain)).State!;
            var shardBefore = (await Stored<AlertIndexState>(cluster, "alerts", shard)).State!;
            var pageBefore = (await Stored<ScoreHistoryPage>(cluster, "scores-page-0", grain)).State!;
            Assert.Contains(pageBefore.Points, p => p.ClipId == answered);

            await machine.SubmitLabel(answered, ClipLabelValue.Anomalous, "ana");
            await machine.DeclineLabelRequest(declined, "bob");
            await machine.SubmitLabel(answeredOpenPage, ClipLabelValue.Normal, "ana");
            // Marked (sealed and open pages) and confirmed by the shard, so no wake is left to run during the damage below.
            await Waiting.Until(async () => (await Stored<ScoreHistoryState>(cluster, MachineScoreHistory.HeadStateName, grain)).State! is { OutcomesRecorded: 3, UnindexedAlerts.Count: 0 },
                "the outcomes marked and confirmed", seconds: 40);
            await Deactivate(cluster, "MachineGrain", "AlertIndexGrain");
            Assert.Equal(0, WakeReminders(id));
            Assert.Equal(LabelRequestOutcome.Anomalous, (await Stored<ScoreHistoryPage>(cluster, "scores-page-0", grain)).State!.Points.Single(p => p.ClipId == answered).RequestOutcome);

            // What a crash between the labels' writes and the next flush tick leaves: the machine's state has the outcomes;
            // its history's records and the shard's, written behind, have none.
            // And an older point of the open page's answered clip id (a device may reuse ids), its request never closed.
            var reused = headBefore.Points.Single(p => p.ClipId == answeredOpenPage) with { ClipIndex = -1, Anomalous = false };
            headBefore.Points.Insert(0, reused);
            await Overwrite(cluster, MachineScoreHistory.HeadStateName, grain, headBefore);
            await Overwrite(cluster, "scores-page-0", grain, pageBefore);
            await Overwrite(cluster, "alerts", shard, shardBefore);

            var points = await machine.AsReference<IScoreHistoryGrain>().Get(null, MachineScoreHistory.Capacity);
            Assert.Equal((LabelRequestOutcome.Anomalous, ClipLabelValue.Anomalous), (points.Single(p => p.ClipId == answered).RequestOutcome, points.Single(p => p.ClipId == answered).Label));
            Assert.Equal(LabelRequestOutcome.Declined, points.Single(p => p.ClipId == declined).RequestOutcome);
            // With who answered: the state keeps the names of its newest answers (they were lost with the marks before stop 65).
            Assert.Equal(("ana", "bob", "ana"), (points.Single(p => p.ClipId == answered).ClosedBy, points.Single(p => p.ClipId == declined).ClosedBy,
                points.Last(p => p.ClipId == answeredOpenPage).ClosedBy));
            Assert.Equal([null, LabelRequestOutcome.Normal], points.Where(p => p.ClipId == answeredOpenPage).Select(p => p.RequestOutcome)); // the newest only
            Assert.Null(points.Single(p => p.ClipId == open).RequestOutcome); // still open
            await Waiting.Until(async () =>
            {
                var held = (await Stored<AlertIndexState>(cluster, "alerts", shard)).State!.Alerts.Where(a => a.MachineId == id).ToDictionary(a => a.Point.ClipId, a => a.Point.RequestOutcome);
                return held[answered] == LabelRequestOutcome.Anomalous && held[declined] == LabelRequestOutcome.Declined && held[answeredOpenPage] == LabelRequestOutcome.Normal
                    && held[open] is null;
            }, "the restored outcomes written to the alert index", seconds: 40);
            Assert.Equal(["ana", "bob", "ana"], (await Stored<AlertIndexState>(cluster, "alerts", shard)).State!.Alerts.Where(a => a.MachineId == id)
                .Where(a => a.Point.ClipId == answered || a.Point.ClipId == declined || a.Point.ClipId == answeredOpenPage).OrderBy(a => a.Point.ClipId == answered ? 0 : a.Point.ClipId == declined ? 1 : 2)
                .Select(a => a.Point.ClosedBy));
            await Waiting.Until(async () => (await Stored<ScoreHistoryState>(cluster, MachineScoreHistory.HeadStateName, grain)).State! is { UnindexedAlerts.Count: 0, OutcomesRecorded: 3 } head
                && head.Points.Last(p => p.ClipId == answeredOpenPage).RequestOutcome == LabelRequestOutcome.Normal, "the restored outcomes written to the history's head");
            Assert.Equal(LabelRequestOutcome.Declined, (await Stored<ScoreHistoryPage>(cluster, "scores-page-0", grain)).State!.Points.Single(p => p.ClipId == declined).RequestOutcome);

            // Restored once: the next activation finds the counts equal and changes nothing.
            await Deactivate(cluster, "MachineGrain");
            Assert.Equal(points.Select(p => (p.ClipId, p.RequestOutcome)), (await machine.AsReference<IScoreHistoryGrain>().Get(null, MachineScoreHistory.Capacity)).Select(p => (p.ClipId, p.RequestOutcome)));
        }
        finally
        {
            await Stop(cluster);
        }
    }

    [Fact]
    public async Task A_label_outcome_the_index_could_not_take_is_stored_and_sent_by_the_machine_woken_for_it()
    {
        const string id = "wake.m5";
        var cluster = await StartSilo();
        try
        {
            var (machine, alerts, grain, shard) = await ConfirmedAlertsWithRequests(cluster, id, 1);
            var shardBefore = StoredGrainState.Payloads(_folder.Path, "alerts");

            // The shard's record unreadable (its store failing): the label's outcome cannot reach it. Then the machine
            // goes (idle, or its silo), and nobody calls it again.
            Assert.Equal(1, StoredGrainState.MakeAllUnreadable(_folder.Path, "alerts"));
            await machine.SubmitLabel(alerts[0], ClipLabelValue.Normal, "ana");
            await Deactivate(cluster, "MachineGrain");
            Assert.Equal([alerts[0]], (await Stored<ScoreHistoryState>(cluster, MachineScoreHistory.HeadStateName, grain)).State!.UnindexedAlerts);
            Assert.Equal(1, WakeReminders(id));

            // The shard back as it was written, the alert open: the wake sends the history's point, which carries the outcome.
            Assert.Equal(1, StoredGrainState.RestorePayloads(_folder.Path, "alerts", shardBefore));
            await Waiting.Until(async () => (await Stored<AlertIndexState>(cluster, "alerts", shard)).State!.Alerts.Single(a => a.Point.ClipId == alerts[0]).Point
                is { RequestOutcome: LabelRequestOutcome.Normal, ClosedBy: "ana" }, "the outcome written to the index after a wake", seconds: 40);
            await Waiting.Until(async () => (await Stored<ScoreHistoryState>(cluster, MachineScoreHistory.HeadStateName, grain)).State!.UnindexedAlerts.Count == 0,
                "the confirmed outcome gone from the stored list");
            await Waiting.Until(() => WakeReminders(id) == 0, "the wake removed once nothing waits", seconds: 40);
        }
        finally
        {
            await Stop(cluster);
        }
    }

    [Fact]
    public async Task A_stored_outcome_whose_point_has_left_the_history_is_sent_as_the_machines_state_has_it()
    {
        const string id = "wake.m6";
        var cluster = await StartSilo();
        try
        {
            var (machine, alerts, grain, shard) = await ConfirmedAlertsWithRequests(cluster, id, 1);
            var shardBefore = (await Stored<AlertIndexState>(cluster, "alerts", shard)).State!;
            await machine.DeclineLabelRequest(alerts[0], "bob");
            await Waiting.Until(async () => (await Stored<ScoreHistoryState>(cluster, MachineScoreHistory.HeadStateName, grain)).State! is { OutcomesRecorded: 1, UnindexedAlerts.Count: 0 },
                "the outcome marked and confirmed", seconds: 40);
            await Deactivate(cluster, "MachineGrain", "AlertIndexGrain");
            Assert.Equal(0, WakeReminders(id));

            // Stored unconfirmed when the machine crashed, its point since gone from the history (a thousand newer clips),
            // and the shard lost the outcome.
            var head = (await Stored<ScoreHistoryState>(cluster, MachineScoreHistory.HeadStateName, grain)).State!;
            head.Points.RemoveAll(p => p.ClipId == alerts[0]);
            head.UnindexedAlerts = [alerts[0]];
            await Overwrite(cluster, MachineScoreHistory.HeadStateName, grain, head);
            await Overwrite(cluster, "alerts", shard, shardBefore);

            await machine.AsReference<IScoreHistoryGrain>().Get(null, 10); // any call activates it
            await Waiting.Until(async () => (await Stored<AlertIndexState>(cluster, "alerts", shard)).State!.Alerts.Single(a => a.Point.ClipId == alerts[0]).Point.RequestOutcome
                == LabelRequestOutcome.Declined, "the state's outcome written to the index", seconds: 40);
            // The state keeps who declined it (stop 65; before, the name was lost with the mark).
            Assert.Equal("bob", (await Stored<AlertIndexState>(cluster, "alerts", shard)).State!.Alerts.Single(a => a.Point.ClipId == alerts[0]).Point.ClosedBy);
            await Waiting.Until(async () => (await Stored<ScoreHistoryState>(cluster, MachineScoreHistory.HeadStateName, grain)).State!.UnindexedAlerts.Count == 0,
                "the confirmed outcome gone from the stored list");
        }
        finally
        {
            await Stop(cluster);
        }
    }

    [Fact]
    public async Task Retiring_a_machine_removes_its_wake_whoever_registered_it()
    {
        const string id = "wake.m3";
        var cluster = await StartSilo();
        try
        {
            var machine = await Enrolled(cluster, id);
            // A wake an earlier activation left (this one knows nothing of it).
            await cluster.Silos[0].ServiceProvider.GetRequiredService<IReminderTable>().UpsertRow(new ReminderEntry
            {
                GrainId = machine.GetGrainId(), ReminderName = AlertResendReminder.Name, StartAt = DateTime.UtcNow + TimeSpan.FromHours(1), Period = TimeSpan.FromHours(1),
            });
            Assert.Equal(1, WakeReminders(id));
            await machine.Retire();
            Assert.Equal(0, WakeReminders(id));
        }
        finally
        {
            await Stop(cluster);
        }
    }
}
