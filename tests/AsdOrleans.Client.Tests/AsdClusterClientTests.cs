using AsdOrleans.Abstractions;
using Microsoft.Data.Sqlite;

namespace AsdOrleans.Client.Tests;

/// <summary>The client against a real embedded silo through its gateway: grain calls, stream events, labels and errors.</summary>
public sealed class AsdClusterClientTests(EmbeddedSiloFixture silo) : IClassFixture<EmbeddedSiloFixture>
{
    private static readonly TimeSpan EventWait = TimeSpan.FromSeconds(30);
    private AsdClusterClient Client => silo.Client;

    /// <summary>Budget 1 with random queries: the machine asks for every clip's label.</summary>
    private async Task EnrollAskingForEveryLabel(string machine, bool fromAudio = false)
    {
        await Client.ConfigureAsync(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 2 });
        var status = fromAudio
            ? await Client.EnrollFromAudioAsync(machine, TestClips.Training)
            : await Client.EnrollAsync(machine, await silo.TrainingEnrollment());
        Assert.True(status.Enrolled);
    }

    private static async Task<T> Next<T>(MachineEventSubscription<T> subscription) where T : IMachineEvent
    {
        using var timeout = new CancellationTokenSource(EventWait);
        return await subscription.ReadAsync(timeout.Token);
    }

    [Fact]
    public async Task Alerts_and_label_requests_arrive_and_a_label_changes_the_machine()
    {
        const string machine = "client.machine-1";
        await EnrollAskingForEveryLabel(machine, fromAudio: true);
        await using var alerts = await Client.SubscribeToAlertsAsync(machine);
        await using var requests = await Client.SubscribeToLabelRequestsAsync(machine);
        await using var closed = await Client.SubscribeToClosedLabelRequestsAsync(machine);

        var verdicts = new List<ClipVerdict>();
        for (int i = 0; i < 3; i++)
            verdicts.Add(await Client.PushClipAsync(machine, $"c-{i}", TestClips.Test[i], $"store://c-{i}"));
        verdicts.Add(await Client.PushClipAsync(machine, "noise-1", TestClips.Noise(1), "store://noise-1"));
        Assert.All(verdicts, v => Assert.True(v.LabelRequested));
        Assert.True(verdicts[^1].Anomalous, $"white noise should score above the threshold (score {verdicts[^1].Score})");

        foreach (var verdict in verdicts)
        {
            var request = await Next(requests);
            Assert.Equal((machine, verdict.ClipId, verdict.Score, verdict.Anomalous, verdict.ClipIndex, $"store://{verdict.ClipId}"),
                (request.MachineId, request.Request.ClipId, request.Request.Score, request.Anomalous, request.ClipIndex, request.Request.AudioReference));
            // Published after it was persisted: the pending list already holds it.
            Assert.Contains(await Client.GetPendingLabelRequestsAsync(machine), p => p.ClipId == verdict.ClipId && p.RequestedAt == request.Request.RequestedAt);
        }
        foreach (var verdict in verdicts.Where(v => v.Anomalous))
        {
            var alert = await Next(alerts);
            Assert.Equal((machine, verdict.ClipId, verdict.Score, verdict.ClipIndex, true, $"store://{verdict.ClipId}"),
                (alert.MachineId, alert.ClipId, alert.Score, alert.ClipIndex, alert.LabelRequested, alert.AudioReference));
            Assert.True(alert.Score > alert.DecisionThreshold);
        }
        // Events keep their order and normal clips raise no alert: the next alert is the next anomalous clip.
        var noise = await Client.PushClipAsync(machine, "noise-2", TestClips.Noise(2));
        Assert.True(noise.Anomalous);
        Assert.Equal("noise-2", (await Next(alerts)).ClipId);

        var before = await Client.GetStatusAsync(machine);
        var receipt = await Client.SubmitLabelAsync(machine, "noise-1", ClipLabelValue.Anomalous);
        Assert.False(receipt.AlreadyApplied);
        var after = await Client.GetStatusAsync(machine);
        Assert.Equal(before.AnomalySetSize + 1, after.AnomalySetSize);
        Assert.Equal(before.AnomalousLabels + 1, after.AnomalousLabels);
        Assert.Equal(before.PendingLabelRequests - 1, after.PendingLabelRequests);
        Assert.True((await Client.SubmitLabelAsync(machine, "noise-1", ClipLabelValue.Anomalous)).AlreadyApplied);
        // A labeller who cannot tell declines another; each closed request is announced once, in order.
        Assert.False((await Client.DeclineLabelRequestAsync(machine, "c-1", labeller: "ivan")).AlreadyClosed);
        Assert.True((await Client.DeclineLabelRequestAsync(machine, "c-1")).AlreadyClosed);
        await Assert.ThrowsAsync<LabelRequestExpiredException>(() => Client.SubmitLabelAsync(machine, "c-1", ClipLabelValue.Normal));
        Assert.Equal((machine, "noise-1", LabelRequestOutcome.Anomalous, (string?)null), await Next(closed) is var a ? (a.MachineId, a.ClipId, a.Outcome, a.ClosedBy) : default);
        Assert.Equal((machine, "c-1", LabelRequestOutcome.Declined, "ivan"), await Next(closed) is var d ? (d.MachineId, d.ClipId, d.Outcome, d.ClosedBy) : default);

        var plantWide = await Client.GetPendingLabelRequestsAsync(limit: 10_000);
        Assert.DoesNotContain(plantWide, r => r.MachineId == machine && r.ClipId == "noise-1");
        Assert.Contains(plantWide, r => r.MachineId == machine && r.ClipId == "c-0");
        Assert.Contains(machine, await Client.ListMachinesAsync());
    }

    [Fact]
    public async Task A_labelling_service_claims_a_clip_and_sees_the_other_labellers_claims()
    {
        const string machine = "client.claims-7";
        await EnrollAskingForEveryLabel(machine);
        await using var claims = await Client.SubscribeToLabelRequestClaimsAsync(machine);
        await Client.PushClipAsync(machine, "k-0", TestClips.Test[0]);

        var mine = await Client.ClaimLabelRequestAsync(machine, "k-0", "olga", TimeSpan.FromMinutes(1));
        Assert.True(mine.IsHeldBy("olga"));
        Assert.InRange(mine.ClaimedUntil!.Value - DateTimeOffset.UtcNow, TimeSpan.FromSeconds(50), TimeSpan.FromSeconds(61));
        var theirs = await Client.ClaimLabelRequestAsync(machine, "k-0", "pavel");
        Assert.Equal(("olga", false), (theirs.ClaimedBy, theirs.IsHeldBy("pavel"))); // refused: olga's stands
        Assert.Equal("olga", (await Client.GetPendingLabelRequestsAsync(machine)).Single(r => r.ClipId == "k-0").ClaimedBy);
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Client.ClaimLabelRequestAsync(machine, "k-0", "olga", TimeSpan.FromHours(1)));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Client.ClaimLabelRequestAsync(machine, "k-0", ""));
        Assert.Null((await Client.ReleaseLabelRequestAsync(machine, "k-0", "olga")).ClaimedBy);

        var taken = await Next(claims);
        Assert.Equal((machine, "k-0", "olga", mine.ClaimedUntil), (taken.MachineId, taken.ClipId, taken.ClaimedBy, taken.ClaimedUntil));
        Assert.Null((await Next(claims)).ClaimedBy); // released; pavel's refused claim announced nothing
    }

    [Fact]
    public async Task Bad_labels_unknown_clips_and_bad_audio_give_clear_errors_and_change_nothing()
    {
        const string machine = "client.machine-2";
        await EnrollAskingForEveryLabel(machine);
        Assert.True((await Client.PushClipAsync(machine, "c-1", TestClips.Test[0])).LabelRequested);
        var before = await Client.GetStatusAsync(machine);

        var unknown = await Assert.ThrowsAsync<ArgumentException>(() => Client.SubmitLabelAsync(machine, "no-such-clip", ClipLabelValue.Normal));
        Assert.Contains("no label request for clip 'no-such-clip'", unknown.Message);
        var badLabel = await Assert.ThrowsAsync<ArgumentException>(() => Client.SubmitLabelAsync(machine, "c-1", (ClipLabelValue)7));
        Assert.Contains("neither normal nor anomalous", badLabel.Message);
        var notWav = await Assert.ThrowsAsync<ArgumentException>(() => Client.PushClipAsync(machine, "x-1", "not a wav at all"u8.ToArray()));
        Assert.Contains("RIFF", notWav.Message);
        var badId = await Assert.ThrowsAsync<ArgumentException>(() => Client.PushClipAsync(machine, "c 2", TestClips.Test[1]));
        Assert.Contains("clip id", badId.Message);
        // A recent clip id with other audio is refused (as over HTTP, 409); with the same audio it is a repeat.
        var reused = await Assert.ThrowsAsync<ClipIdReusedException>(() => Client.PushClipAsync(machine, "c-1", TestClips.Test[1]));
        Assert.Contains($"clip id 'c-1' of machine {machine} was scored with different audio", reused.Message);
        Assert.True((await Client.PushClipAsync(machine, "c-1", TestClips.Test[0])).Repeated);
        var notEnrolled = await Assert.ThrowsAsync<InvalidOperationException>(() => Client.PushClipAsync("client.never-enrolled", "c-1", TestClips.Test[0]));
        Assert.Contains("not enrolled", notEnrolled.Message);
        // A machine nobody configured or enrolled has no status to read; the refused push above created none.
        var unknownMachine = await Assert.ThrowsAsync<MachineNotFoundException>(() => Client.GetStatusAsync("client.never-enrolled"));
        Assert.Equal("no machine 'client.never-enrolled' is configured or enrolled; configure or enroll it first", unknownMachine.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => Client.GetPendingLabelRequestsAsync(machine, limit: 0));
        Assert.Equal(before, await Client.GetStatusAsync(machine) with { Settings = before.Settings });

        Assert.False((await Client.SubmitLabelAsync(machine, "c-1", ClipLabelValue.Normal)).AlreadyApplied);
        var conflicting = await Assert.ThrowsAsync<LabelConflictException>(() => Client.SubmitLabelAsync(machine, "c-1", ClipLabelValue.Anomalous));
        Assert.Contains("already labelled normal", conflicting.Message);
        Assert.Equal(before.NormalLabels + 1, (await Client.GetStatusAsync(machine)).NormalLabels);
    }

    [Fact]
    public async Task Plant_wide_and_per_machine_subscriptions_and_callbacks_see_the_right_events()
    {
        const string first = "client.machine-3", second = "client.machine-4";
        await EnrollAskingForEveryLabel(first);
        await EnrollAskingForEveryLabel(second);
        var plant = await Client.SubscribeToLabelRequestsAsync();
        var onlyFirst = await Client.SubscribeToLabelRequestsAsync(first);
        var fromSecond = new TaskCompletionSource<LabelRequestEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var callback = await Client.OnLabelRequestAsync(e =>
        {
            if (e.MachineId == second) fromSecond.TrySetResult(e);
            return Task.CompletedTask;
        });

        // The subscriptions live in the deployment's grain storage (here the embedded SQLite file).
        await using (var db = new SqliteConnection($"Data Source={silo.DatabasePath};Mode=ReadOnly"))
        {
            await db.OpenAsync();
            var count = db.CreateCommand();
            count.CommandText = "SELECT COUNT(*) FROM grain_state WHERE grain_id LIKE 'pubsubrendezvous/%' AND payload IS NOT NULL";
            Assert.True(Convert.ToInt64(await count.ExecuteScalarAsync()) > 0, "PubSub state is not in the SQLite grain storage");
        }

        await Client.PushClipAsync(second, "a-1", TestClips.Test[0]);
        await Client.PushClipAsync(first, "b-1", TestClips.Test[1]);
        var seen = new HashSet<(string, string)>();
        while (seen.Count < 2)
        {
            var e = await Next(plant);
            if (e.MachineId is first or second) seen.Add((e.MachineId, e.Request.ClipId));
        }
        Assert.Equal([(first, "b-1"), (second, "a-1")], seen.Order());
        Assert.Equal("a-1", (await fromSecond.Task.WaitAsync(EventWait)).Request.ClipId);
        Assert.Equal((first, "b-1"), (await Next(onlyFirst)) is var f ? (f.MachineId, f.Request.ClipId) : default);
        await Client.PushClipAsync(second, "a-2", TestClips.Test[2]);
        await Client.PushClipAsync(first, "b-2", TestClips.Test[3]);
        Assert.Equal("b-2", (await Next(onlyFirst)).Request.ClipId); // a-2 was filtered out

        // Disposed: unsubscribed, and enumeration ends after what was buffered.
        await onlyFirst.DisposeAsync();
        await Client.PushClipAsync(first, "b-3", TestClips.Test[4]);
        await foreach (var e in onlyFirst)
            Assert.Fail($"event {e} after the subscription was disposed");
        await plant.DisposeAsync();
    }

    [Fact]
    public async Task A_clip_pushed_over_http_reaches_the_subscriber_and_a_client_label_removes_its_stored_audio()
    {
        const string machine = "client.machine-6";
        await EnrollAskingForEveryLabel(machine);
        await using var requests = await Client.SubscribeToLabelRequestsAsync(machine);
        using var wav = new ByteArrayContent(TestClips.Test[5]);
        wav.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("audio/wav");
        var pushed = await silo.Http.PostAsync($"/api/machines/{machine}/clips?clipId=h-1", wav);
        Assert.True(pushed.IsSuccessStatusCode, await pushed.Content.ReadAsStringAsync());

        var request = (await Next(requests)).Request;
        Assert.Equal("h-1", request.ClipId);
        Assert.True(File.Exists(request.AudioReference), $"the event should point at the stored audio, got '{request.AudioReference}'");
        Assert.Equal(TestClips.Test[5], await File.ReadAllBytesAsync(request.AudioReference!));

        await Client.SubmitLabelAsync(machine, "h-1", ClipLabelValue.Normal);
        Assert.False(File.Exists(request.AudioReference), "a label through the client removes the stored audio, as one over HTTP does");
    }

    [Fact]
    public async Task Clips_are_processed_when_nobody_listens()
    {
        const string machine = "client.machine-5";
        await EnrollAskingForEveryLabel(machine);
        for (int i = 0; i < 4; i++)
            Assert.True((await Client.PushClipAsync(machine, $"c-{i}", i == 3 ? TestClips.Noise(3) : TestClips.Test[i])).LabelRequested);
        var status = await Client.GetStatusAsync(machine);
        Assert.Equal((4L, 4), (status.ClipsSeen, status.PendingLabelRequests));
    }

    [Fact]
    public async Task Connecting_to_a_port_without_a_gateway_is_a_clear_error()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            AsdClusterClient.ConnectAsync(new AsdClientOptions { GatewayPort = Silo.SiloApp.FreeLoopbackPort(), ConnectTimeout = TimeSpan.FromSeconds(3) }));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"gave up after {clock.Elapsed}, not within the 3 s connect timeout");
        Assert.Contains("cannot connect to the silo gateway on localhost", e.Message);
    }
}
