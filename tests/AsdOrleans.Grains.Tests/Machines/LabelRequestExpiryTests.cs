using AsdOrleans.Abstractions;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Storage.Sqlite;
using AsdOrleans.Grains.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;
using Orleans.TestingHost;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>The expiry rule in plain code, and expiry driven by a durable reminder in a real in-process silo.</summary>
public sealed class LabelRequestExpiryTests : IDisposable
{
    private const string Model = "enc-expiry01";
    private static readonly EmbeddingTable Plant = SyntheticEmbeddings.Generate(new SyntheticEmbeddingSettings { Machines = 1, Seed = 8, SourceTrain = 120 });
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static PendingLabel Request(string clip, DateTimeOffset at) => new() { ClipId = clip, Embedding = [1f], Score = 0.5, RequestedAt = at };

    [Fact]
    public void Requests_past_their_TTL_move_to_the_expired_memory_and_are_counted()
    {
        var t0 = new DateTimeOffset(2026, 11, 25, 8, 0, 0, TimeSpan.Zero);
        var ttl = TimeSpan.FromHours(1);
        var state = new MachineGrainState();
        state.Pending["old"] = Request("old", t0);
        state.Pending["edge"] = Request("edge", t0.AddMinutes(30));
        state.Pending["new"] = Request("new", t0.AddMinutes(59));
        var now = t0.AddMinutes(90);

        var due = LabelRequestExpiry.Due(state, now, ttl);
        Assert.Equal(["old", "edge"], due.Select(d => d.ClipId)); // exactly one TTL old counts as expired
        Assert.Equal(t0.AddMinutes(60), LabelRequestExpiry.NextExpiry(state, ttl));
        LabelRequestExpiry.CloseUnanswered(state, due, now);
        LabelRequestExpiry.CloseUnanswered(state, due, now); // a second pass over the same requests changes nothing
        Assert.Equal(["new"], state.Pending.Keys);
        Assert.Equal(2, state.ExpiredCount);
        Assert.True(state.ExpiredClips.TryGet("old", out var expiredAt));
        Assert.Equal(now.UtcTicks, expiredAt);
        Assert.Equal(t0.AddMinutes(119), LabelRequestExpiry.NextExpiry(state, ttl));

        var late = Assert.Throws<LabelRequestExpiredException>(() => LabelRequestExpiry.ThrowIfExpired(state, "m1", "old"));
        Assert.Contains("expired", late.Message);
        LabelRequestExpiry.ThrowIfExpired(state, "m1", "new");
        LabelRequestExpiry.ThrowIfExpired(state, "m1", "never-asked");
        LabelRequestExpiry.CloseUnanswered(state, [state.Pending["new"]], now);
        Assert.Null(LabelRequestExpiry.NextExpiry(state, ttl));
    }

    [Fact]
    public void The_expired_memory_is_bounded_but_the_count_is_not()
    {
        var state = new MachineGrainState();
        var t0 = DateTimeOffset.UnixEpoch;
        int requests = MachineGrainState.ExpiredMemory + 50;
        for (int i = 0; i < requests; i++)
            state.Pending[$"c{i}"] = Request($"c{i}", t0);
        LabelRequestExpiry.CloseUnanswered(state, LabelRequestExpiry.Due(state, t0.AddDays(8), TimeSpan.FromDays(7)), t0.AddDays(8));
        Assert.Equal(requests, state.ExpiredCount);
        Assert.Equal(MachineGrainState.ExpiredMemory, state.ExpiredClips.Count);
        Assert.False(state.ExpiredClips.Contains("c49")); // the oldest are forgotten
        Assert.True(state.ExpiredClips.Contains("c50"));
        Assert.Empty(state.Pending);
    }

    [Fact]
    public void The_oldest_requests_beyond_the_limit_are_over_it()
    {
        var t0 = DateTimeOffset.UnixEpoch;
        var state = new MachineGrainState();
        foreach (var (clip, minute) in new[] { ("b", 2), ("a", 1), ("d", 4), ("c", 2) })
            state.Pending[clip] = Request(clip, t0.AddMinutes(minute));

        Assert.Empty(LabelRequestExpiry.OverLimit(state, 4));
        Assert.Equal(["a", "b"], LabelRequestExpiry.OverLimit(state, 2).Select(p => p.ClipId)); // same time: by clip id
        Assert.Contains("MaxPendingLabelRequests", new LabelRequestExpiryOptions { MaxPendingLabelRequests = 0 }.Problem());
        Assert.Null(new LabelRequestExpiryOptions { MaxPendingLabelRequests = 1 }.Problem());
        Assert.Equal(100, new LabelRequestExpiryOptions().MaxPendingLabelRequests);
    }

    [Fact]
    public async Task A_request_beyond_the_limit_drops_the_oldest_with_its_audio_and_the_journal_keeps_that_across_a_restart()
    {
        const string machine = "expiry.limit-1";
        var audio = new FolderAudio(_folder.File("clips"));
        var clips = Plant.Records.Where(r => r.IsTest).Take(5).ToList();
        var first = await StartSilo(TimeSpan.FromHours(1), audio, maxPending: 3);
        try
        {
            var grain = first.Client.GetGrain<IMachineGrain>(machine);
            await grain.Configure(new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 5 });
            await grain.Enroll(new EnrollmentRequest(Plant.Records.Where(r => !r.IsTest).Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model));
            Directory.CreateDirectory(Path.GetDirectoryName(audio.PathOf(machine, "c-0"))!);
            for (int i = 0; i < clips.Count; i++)
            {
                await File.WriteAllBytesAsync(audio.PathOf(machine, $"c-{i}"), [1, 2, 3]);
                Assert.True((await grain.ProcessClip(new ClipSubmission($"c-{i}", clips[i].Embedding, Model, audio.PathOf(machine, $"c-{i}")))).LabelRequested);
                await Task.Delay(5); // distinct request times
            }

            Assert.Equal(["c-2", "c-3", "c-4"], (await grain.GetPendingLabelRequests(10)).Select(r => r.ClipId));
            Assert.False(File.Exists(audio.PathOf(machine, "c-0")), "a dropped request's audio is removed");
            Assert.False(File.Exists(audio.PathOf(machine, "c-1")));
            Assert.True(File.Exists(audio.PathOf(machine, "c-2")));
            Assert.Equal(2, (await grain.GetStatus()).ExpiredLabelRequests);
            var history = await first.Client.GetGrain<IScoreHistoryGrain>(machine).Get(null, 10);
            Assert.Equal(new LabelRequestOutcome?[] { LabelRequestOutcome.Withdrawn, LabelRequestOutcome.Withdrawn, null, null, null }, history.Select(p => p.RequestOutcome));
        }
        finally
        {
            await Stop(first); // the clips were journal writes: the restart replays them
        }

        var second = await StartSilo(TimeSpan.FromHours(1), audio, maxPending: 3);
        try
        {
            var grain = second.Client.GetGrain<IMachineGrain>(machine);
            Assert.Equal(["c-2", "c-3", "c-4"], (await grain.GetPendingLabelRequests(10)).Select(r => r.ClipId));
            var status = await grain.GetStatus();
            Assert.Equal(2, status.ExpiredLabelRequests);
            Assert.Equal(3, status.PendingLabelRequests);
            var late = await Assert.ThrowsAsync<LabelRequestExpiredException>(() => grain.SubmitLabel("c-0", ClipLabelValue.Normal));
            Assert.Contains("limit of open ones", late.Message);
            Assert.False((await grain.SubmitLabel("c-2", ClipLabelValue.Normal)).AlreadyApplied);
            Assert.Equal(2, (await grain.GetStatus()).PendingLabelRequests);
        }
        finally
        {
            await Stop(second);
        }
    }

    [Theory]
    [InlineData("7.00:00:00", null, 3600)]
    [InlineData("00:00:02", null, 1)]
    [InlineData("00:20:00", null, 300)]
    [InlineData("00:00:00", "between", 0)]
    [InlineData("-00:01:00", "between", 0)]
    [InlineData("400.00:00:00", "between", 0)]
    public void The_TTL_is_validated_and_sets_how_often_a_machine_checks(string ttl, string? problem, int checkSeconds)
    {
        var options = new LabelRequestExpiryOptions { LabelRequestTtl = TimeSpan.Parse(ttl, System.Globalization.CultureInfo.InvariantCulture) };
        if (problem is null)
        {
            Assert.Null(options.Problem());
            Assert.Equal(TimeSpan.FromSeconds(checkSeconds), options.CheckPeriod);
        }
        else
        {
            Assert.Contains(problem, options.Problem());
        }
        Assert.Equal(TimeSpan.FromDays(7), new LabelRequestExpiryOptions().LabelRequestTtl);
    }

    /// <summary>Removes a stored clip as the silo's audio store does: one file per machine and clip under a folder.</summary>
    private sealed class FolderAudio(string root) : IClipAudioRemover
    {
        public string PathOf(string machine, string clip) => Path.Combine(root, machine, clip + ".wav");
        public void Remove(string machineId, string clipId) => File.Delete(PathOf(machineId, clipId));
    }

    private Task<InProcessTestCluster> StartSilo(TimeSpan ttl, FolderAudio audio, int maxPending = LabelRequestExpiryOptions.DefaultMaxPending)
        => SqliteMachineCluster.StartAsync(_folder.File("grains.db"), silo: silo =>
        {
            silo.UseSqliteReminderService(o => o.DatabasePath = _folder.File("reminders.db"));
            silo.Services.Configure<LabelRequestExpiryOptions>(o => { o.LabelRequestTtl = ttl; o.MaxPendingLabelRequests = maxPending; });
            silo.Services.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
            silo.Services.AddSingleton<IClipAudioRemover>(audio);
        });

    private static async Task Stop(InProcessTestCluster cluster)
    {
        await cluster.StopAllSilosAsync();
        await cluster.DisposeAsync();
    }

    private long ReminderRows(string machine) => StoredReminders.Count(_folder.Path, machine);

    [Fact]
    public async Task A_pending_request_expires_through_its_reminder_after_a_silo_restart_without_any_call()
    {
        const string machine = "expiry.restart-1";
        var audio = new FolderAudio(_folder.File("clips"));
        var ttl = TimeSpan.FromSeconds(4);
        var first = await StartSilo(ttl, audio);
        string asked;
        try
        {
            var grain = first.Client.GetGrain<IMachineGrain>(machine);
            await grain.Configure(new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 });
            await grain.Enroll(new EnrollmentRequest(Plant.Records.Where(r => !r.IsTest).Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model));
            var clip = Plant.Records.First(r => r.IsTest);
            Directory.CreateDirectory(Path.GetDirectoryName(audio.PathOf(machine, "c-1"))!);
            await File.WriteAllBytesAsync(audio.PathOf(machine, "c-1"), [1, 2, 3]);
            var verdict = await grain.ProcessClip(new ClipSubmission("c-1", clip.Embedding, Model, audio.PathOf(machine, "c-1")));
            Assert.True(verdict.LabelRequested); // budget 1
            asked = verdict.ClipId;
            await Waiting.Until(() => ReminderRows(machine) == 1, "the reminder registered, right after the clip's call (MachineGrain.RunFollowUp)");
        }
        finally
        {
            await Stop(first);
        }

        // The silo is down past the TTL; the restarted silo's reminder service reads the table and wakes the machine.
        await Task.Delay(ttl);
        Assert.True(File.Exists(audio.PathOf(machine, asked)));
        var second = await StartSilo(ttl, audio);
        try
        {
            await Waiting.Until(() => !File.Exists(audio.PathOf(machine, asked)), "the reminder removed the expired clip's audio");
            await Waiting.Until(() => ReminderRows(machine) == 0, "the machine dropped its reminder with nothing pending");

            var grain = second.Client.GetGrain<IMachineGrain>(machine);
            Assert.Empty(await grain.GetPendingLabelRequests(10));
            var status = await grain.GetStatus();
            Assert.Equal(0, status.PendingLabelRequests);
            Assert.Equal(1, status.ExpiredLabelRequests);
            Assert.Equal(LabelRequestOutcome.Expired, (await second.Client.GetGrain<IScoreHistoryGrain>(machine).Get(null, 10)).Single(p => p.ClipId == asked).RequestOutcome);
            var late = await Assert.ThrowsAsync<LabelRequestExpiredException>(() => grain.SubmitLabel(asked, ClipLabelValue.Anomalous));
            Assert.Contains("expired", late.Message);
            var unknown = await Assert.ThrowsAsync<ArgumentException>(() => grain.SubmitLabel("never-asked", ClipLabelValue.Normal));
            Assert.IsNotType<LabelRequestExpiredException>(unknown);
            Assert.Equal(status, await grain.GetStatus()); // the late label changed nothing
        }
        finally
        {
            await Stop(second);
        }
    }

    [Fact]
    public async Task Re_enrollment_drops_pending_requests_with_their_audio_and_the_reminder()
    {
        const string machine = "expiry.reenroll-1";
        var audio = new FolderAudio(_folder.File("clips"));
        var cluster = await StartSilo(TimeSpan.FromHours(1), audio);
        try
        {
            var grain = cluster.Client.GetGrain<IMachineGrain>(machine);
            var enrollment = new EnrollmentRequest(Plant.Records.Where(r => !r.IsTest).Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model);
            await grain.Configure(new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 6 });
            await grain.Enroll(enrollment);
            Directory.CreateDirectory(Path.GetDirectoryName(audio.PathOf(machine, "c-1"))!);
            await File.WriteAllBytesAsync(audio.PathOf(machine, "c-1"), [1, 2, 3]);
            Assert.True((await grain.ProcessClip(new ClipSubmission("c-1", Plant.Records.First(r => r.IsTest).Embedding, Model, audio.PathOf(machine, "c-1")))).LabelRequested);
            await Waiting.Until(() => ReminderRows(machine) == 1, "the reminder registered, right after the clip's call");

            await grain.Enroll(enrollment);
            Assert.False(File.Exists(audio.PathOf(machine, "c-1")), "a re-enrollment removes the audio of the requests it drops");
            Assert.Equal(0, ReminderRows(machine));
            Assert.Empty(await grain.GetPendingLabelRequests(10));
            // A labeller still answering the withdrawn request is told it closed (410), not that it was never asked.
            var late = await Assert.ThrowsAsync<LabelRequestExpiredException>(() => grain.SubmitLabel("c-1", ClipLabelValue.Anomalous));
            Assert.Contains("re-enrolled", late.Message);
            Assert.Equal(0, (await grain.GetStatus()).AnomalousLabels);
        }
        finally
        {
            await Stop(cluster);
        }
    }

    [Fact]
    public async Task An_expired_request_is_never_listed_even_before_its_reminder_ticks()
    {
        const string machine = "expiry.listing-1";
        var audio = new FolderAudio(_folder.File("clips"));
        // A long TTL for registration, then a silo with a short one: the activation check alone must hide the request.
        var first = await StartSilo(TimeSpan.FromHours(1), audio);
        try
        {
            var grain = first.Client.GetGrain<IMachineGrain>(machine);
            await grain.Configure(new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 4 });
            await grain.Enroll(new EnrollmentRequest(Plant.Records.Where(r => !r.IsTest).Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model));
            foreach (var (clip, i) in Plant.Records.Where(r => r.IsTest).Take(3).Select((c, i) => (c, i)))
                Assert.True((await grain.ProcessClip(new ClipSubmission($"c-{i}", clip.Embedding, Model))).LabelRequested);
            Assert.Equal(3, (await grain.GetPendingLabelRequests(10)).Count);
            await grain.SubmitLabel("c-0", ClipLabelValue.Normal);
        }
        finally
        {
            await Stop(first);
        }

        await Task.Delay(TimeSpan.FromSeconds(1.5)); // the requests are now older than the second silo's TTL
        var second = await StartSilo(TimeSpan.FromSeconds(1), audio);
        try
        {
            var grain = second.Client.GetGrain<IMachineGrain>(machine);
            Assert.Empty(await grain.GetPendingLabelRequests(10));
            var status = await grain.GetStatus();
            Assert.Equal(2, status.ExpiredLabelRequests);
            Assert.Equal(1, status.NormalLabels);
            Assert.True((await grain.SubmitLabel("c-0", ClipLabelValue.Normal)).AlreadyApplied); // answered before: still idempotent
            await Assert.ThrowsAsync<LabelRequestExpiredException>(() => grain.SubmitLabel("c-1", ClipLabelValue.Normal));
            await Waiting.Until(() => ReminderRows(machine) == 0, "the machine dropped its reminder with nothing pending");
        }
        finally
        {
            await Stop(second);
        }
    }
}
