using AsdOrleans.Abstractions;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Strategies;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using CoreEnrollmentClip = AsdOrleans.Method.Enrollment.EnrollmentClip;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>Issue 13: a clip writes the machine's journal (what changed), not its whole state; a reload replays it.
/// Registrations that arrive together share the registry's writes.</summary>
public sealed class MachineJournalTests : SqliteMachineClusterTest
{
    private const string Model = "enc-journal1";
    private static readonly EmbeddingTable Plant = SyntheticEmbeddings.Generate(new SyntheticEmbeddingSettings { Machines = 1, Seed = 11, SourceTrain = 120 });
    private static readonly List<EmbeddingRecord> Train = Plant.Records.Where(r => !r.IsTest).ToList();
    private static readonly List<EmbeddingRecord> Test = Plant.Records.Where(r => r.IsTest).ToList();

    /// <summary>(writes so far, payload bytes) of one state row of the machine.</summary>
    private (long Version, long Bytes) Row(string stateName, string machineId)
    {
        using var connection = OpenDatabase();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT version, length(payload) FROM grain_state WHERE state_name = $state AND grain_id LIKE $grain";
        command.Parameters.AddWithValue("$state", stateName);
        command.Parameters.AddWithValue("$grain", $"%{machineId}%");
        using var reader = command.ExecuteReader();
        return reader.Read() ? (reader.GetInt64(0), reader.IsDBNull(1) ? 0 : reader.GetInt64(1)) : (0, 0);
    }

    /// <summary>The stored payload of one state row of the machine (empty when there is none).</summary>
    private byte[] Payload(string stateName, string machineId)
    {
        using var connection = OpenDatabase();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT payload FROM grain_state WHERE state_name = $state AND grain_id LIKE $grain";
        command.Parameters.AddWithValue("$state", stateName);
        command.Parameters.AddWithValue("$grain", $"%{machineId}%");
        return command.ExecuteScalar() as byte[] ?? [];
    }

    private static bool Holds(byte[] payload, string text) => payload.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(text)) >= 0;

    /// <summary>Writes and rows of <paramref name="stateName"/> over every registry shard.</summary>
    private (long Writes, int Rows) ShardRows(string stateName)
    {
        using var connection = OpenDatabase();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT coalesce(sum(version), 0), count(*) FROM grain_state WHERE state_name = $state AND grain_id LIKE '%registryshard%'";
        command.Parameters.AddWithValue("$state", stateName);
        using var reader = command.ExecuteReader();
        reader.Read();
        return (reader.GetInt64(0), reader.GetInt32(1));
    }

    /// <summary>Ids that one registry shard holds (the group commit is per shard).</summary>
    private static List<string> OneShardIds(string prefix, int count)
        => Enumerable.Range(0, 100 * count).Select(i => $"{prefix}{i:00000}").Where(id => MachineRegistryShards.Of(id) == 0).Take(count).ToList();

    /// <summary>The machine configured and enrolled on the training clips, and Core's model of the same enrollment.</summary>
    private async Task<(IMachineGrain Grain, MachineModel Core)> Enrolled(string id, MachineSettings settings)
    {
        var grain = Cluster.Client.GetGrain<IMachineGrain>(id);
        await grain.Configure(settings);
        await grain.Enroll(new EnrollmentRequest(Train.Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model));
        return (grain, MachineModel.Enroll(settings.ToConfig(id), Train.Select(r => new CoreEnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model));
    }

    private async Task Deactivate() => await Cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

    [Fact]
    public async Task Clips_write_the_journal_not_the_state_and_a_reload_continues_exactly()
    {
        const string id = "journal.m1";
        var settings = new MachineSettings { Strategy = "hybrid", Budget = 0.1, Seed = 5 };
        var (grain, core) = await Enrolled(id, settings);
        var afterEnroll = Row("machine", id);

        // Fewer clips than the journal's limits, no labels: the full state is not rewritten, however often it flushes.
        int clips = 30, requests = 0;
        for (int i = 0; i < clips; i++)
        {
            var verdict = await grain.ProcessClip(new ClipSubmission($"c{i}", Test[i].Embedding, Model));
            var expected = core.Process(Test[i].Embedding);
            Assert.Equal(expected.Score, verdict.Score);
            Assert.Equal(expected.LabelRequested, verdict.LabelRequested);
            if (verdict.LabelRequested) requests++;
        }
        Assert.InRange(requests, 1, MachineGrain.JournalLimits.Requests - 1);
        await Deactivate(); // flushes
        var machine = Row("machine", id);
        var journal = Row("journal", id);
        Assert.Equal(afterEnroll.Version, machine.Version);
        Assert.True(journal.Version >= 1 + requests, $"the journal was written {journal.Version} times for {requests} requests and a flush");
        Assert.True(journal.Bytes * 4 < machine.Bytes, $"journal {journal.Bytes} bytes against the state's {machine.Bytes}");

        // A new activation replays the journal: the same counters, requests and recent verdicts, and the same next decisions.
        var status = await grain.GetStatus();
        Assert.Equal(clips, status.ClipsSeen);
        Assert.Equal(requests, (await grain.GetPendingLabelRequests(100)).Count);
        var retry = await grain.ProcessClip(new ClipSubmission("c7", Test[7].Embedding, Model));
        Assert.True(retry.Repeated);
        Assert.Equal(clips, (await grain.GetStatus()).ClipsSeen);
        for (int i = clips; i < Test.Count; i++)
        {
            var verdict = await grain.ProcessClip(new ClipSubmission($"c{i}", Test[i].Embedding, Model));
            var expected = core.Process(Test[i].Embedding);
            Assert.Equal(expected.Score, verdict.Score);
            Assert.Equal(expected.LabelRequested, verdict.LabelRequested);
        }
        // Past the limits the journal folds into a new full state, and a reload still continues where it stopped.
        Assert.True(Row("machine", id).Version > afterEnroll.Version);
        await Deactivate();
        Assert.Equal(core.ClipsSeen, (await grain.GetStatus()).ClipsSeen);
        var next = core.Process(Test[0].Embedding);
        Assert.Equal(next.Score, (await grain.ProcessClip(new ClipSubmission("again-0", Test[0].Embedding, Model))).Score);
    }

    [Fact]
    public async Task The_count_of_forced_queries_survives_a_reload_through_the_journal_and_the_full_write()
    {
        const string id = "journal.floor";
        // Random: its draws leave gaps that the paced budget's floor fills (7.5 % of its labels at b = 0.3 on the plants).
        var settings = new MachineSettings { Strategy = "random", Budget = 0.3, Seed = 3 };
        var (grain, core) = await Enrolled(id, settings);
        for (int i = 0; i < Test.Count; i++)
        {
            var verdict = await grain.ProcessClip(new ClipSubmission($"f{i}", Test[i].Embedding, Model));
            var expected = core.Process(Test[i].Embedding);
            Assert.Equal((expected.LabelRequested, expected.QueryReason.ToName()), (verdict.LabelRequested, verdict.QueryReason ?? "none"));
            if (i == Test.Count / 2)
            {
                await Deactivate(); // mid-stream: the journal (or the full write the first forced query caused) is replayed
                Assert.Equal(core.ForcedQueries, (await grain.GetStatus()).ForcedQueries);
            }
        }
        Assert.True(core.ForcedQueries > 0, $"the floor forced none of {core.Queries} queries over {Test.Count} clips; the test needs some");
        await Deactivate();
        var status = await grain.GetStatus();
        Assert.Equal((core.Queries, core.ForcedQueries), (status.Queries, status.ForcedQueries));
    }

    [Fact]
    public async Task Labels_that_merge_into_capped_sets_write_the_journal_and_a_reload_continues_exactly()
    {
        const string id = "journal.m2";
        // Caps below what enrollment fills: every label merges into N, A and M in place, so the model keeps its length.
        // fp32 rows: six labels' patches stay under a quarter of the model (fp16 halves the model, not the patches).
        var settings = new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 9, ReferenceCap = 40, AnomalyCap = 1, ScoreCap = 40, EmbeddingPrecision = "fp32" };
        var (grain, core) = await Enrolled(id, settings);
        Assert.Equal(40, core.ReferenceSet.Count); // at the cap from the start

        // One anomalous label first: A grows from empty to its cap, a full write. Every later label merges.
        int labels = 0, clip = 0;
        var labelled = new List<(string ClipId, ClipLabelValue Label)>();
        async Task<int> LabelNextRequest(ClipLabelValue label)
        {
            while (true)
            {
                var embedding = Test[clip % Test.Count].Embedding;
                var verdict = await grain.ProcessClip(new ClipSubmission($"c{clip++}", embedding, Model));
                var expected = core.Process(embedding);
                Assert.Equal(expected.Score, verdict.Score);
                Assert.Equal(expected.LabelRequested, verdict.LabelRequested);
                if (!verdict.LabelRequested) continue;
                var receipt = await grain.SubmitLabel(verdict.ClipId, label);
                Assert.False(receipt.AlreadyApplied);
                labelled.Add((verdict.ClipId, label));
                core.ApplyLabel(embedding, expected.Score, label == ClipLabelValue.Anomalous ? ClipLabel.Anomalous : ClipLabel.Normal);
                return ++labels;
            }
        }
        await LabelNextRequest(ClipLabelValue.Anomalous);
        var afterFirst = Row("machine", id);
        for (int i = 0; i < 6; i++)
            await LabelNextRequest(i % 3 == 2 ? ClipLabelValue.Anomalous : ClipLabelValue.Normal);

        Assert.Equal(afterFirst.Version, Row("machine", id).Version); // six labels, no full write
        var (journalBytes, stateBytes) = (Row("journal", id).Bytes, Row("machine", id).Bytes);
        Assert.True(journalBytes * 2 < stateBytes, $"journal {journalBytes} bytes (six labels' patches and the verdicts since the base) against the state's {stateBytes}");
        var status = await grain.GetStatus();
        Assert.Equal(core.NormalLabels, status.NormalLabels);
        Assert.Equal(core.AnomalousLabels, status.AnomalousLabels);

        // A new activation replays the labels: the same counts, the answered clips still recognised, the same scores next.
        await Deactivate();
        status = await grain.GetStatus();
        Assert.Equal(core.NormalLabels, status.NormalLabels);
        Assert.Equal(core.AnomalousLabels, status.AnomalousLabels);
        Assert.Equal(core.ClipsSeen, status.ClipsSeen);
        Assert.Empty(await grain.GetPendingLabelRequests(100));
        foreach (var (clipId, label) in labelled) // answered before the reload: a repeat is recognised, and changes nothing
            Assert.True((await grain.SubmitLabel(clipId, label)).AlreadyApplied);
        Assert.Equal(core.NormalLabels, (await grain.GetStatus()).NormalLabels);
        await LabelNextRequest(ClipLabelValue.Normal);
        Assert.Equal(core.NormalLabels, (await grain.GetStatus()).NormalLabels);
        for (int i = 0; i < 10; i++, clip++)
        {
            var embedding = Test[clip % Test.Count].Embedding;
            Assert.Equal(core.Process(embedding).Score, (await grain.ProcessClip(new ClipSubmission($"c{clip}", embedding, Model))).Score);
        }
    }

    [Fact]
    public async Task A_machine_at_its_default_caps_writes_a_label_as_a_journal_a_small_fraction_of_its_state()
    {
        const string id = "journal.m3";
        var settings = new MachineSettings { Strategy = "random", Budget = 0.9, Seed = 3 };
        var (grain, _) = await Enrolled(id, settings);
        var config = settings.ToConfig(id);
        int clip = 0;
        async Task LabelNextRequest()
        {
            while (true)
            {
                var verdict = await grain.ProcessClip(new ClipSubmission($"c{clip}", Test[clip++ % Test.Count].Embedding, Model));
                if (!verdict.LabelRequested) continue;
                await grain.SubmitLabel(verdict.ClipId, ClipLabelValue.Normal);
                return;
            }
        }
        // Normal labels grow N and M (full writes) up to their caps: a machine that has run a few weeks.
        int normalsToCaps = Math.Max(config.ReferenceCap, config.ScoreCap) - Train.Count / 2;
        for (int i = 0; i < normalsToCaps + 50; i++)
            await LabelNextRequest();
        var status = await grain.GetStatus();
        Assert.Equal(config.ReferenceCap, status.ReferenceSetSize);
        var state = Row("machine", id);
        var journalBefore = Row("journal", id);

        await LabelNextRequest();

        Assert.Equal(state.Version, Row("machine", id).Version); // no full write
        var journal = Row("journal", id);
        Assert.True(journal.Version > journalBefore.Version);
        Assert.True(journal.Bytes * 20 < state.Bytes, $"a label's journal {journal.Bytes} bytes against the full state's {state.Bytes}");
    }

    [Fact]
    public async Task Registrations_arriving_together_share_the_registry_writes_and_all_are_durable()
    {
        var registry = Cluster.Client.GetGrain<IMachineRegistryGrain>(0);
        var ids = OneShardIds("reg.m", 300);
        await Task.WhenAll(ids.Select(id => registry.Register(id)));
        await Task.WhenAll(ids.Take(50).Select(id => registry.Register(id))); // already listed: no write
        var (writes, shards) = ShardRows("registry");
        Assert.Equal(1, shards);
        Assert.InRange(writes, 1, ids.Count / 5);
        await Deactivate();
        var listed = await registry.List();
        Assert.Equal(ids, listed.Where(id => id.StartsWith("reg.", StringComparison.Ordinal)).ToList());
        Assert.Equal(listed.Count, await registry.Count());
        await registry.Register("reg.late");
        Assert.Equal(writes + 1, ShardRows("registry").Writes);
        Assert.Contains("reg.late", await registry.List());
    }

    [Fact]
    public async Task Pending_flags_arriving_together_share_the_registry_writes_and_repeats_write_nothing()
    {
        var registry = Cluster.Client.GetGrain<IMachineRegistryGrain>(0);
        var ids = OneShardIds("flag.m", 300);
        await Task.WhenAll(ids.Select(id => registry.SetPending(id, true)));
        var (writes, shards) = ShardRows("pending-machines");
        Assert.Equal(1, shards);
        Assert.InRange(writes, 1, ids.Count / 5);
        await Task.WhenAll(ids.Select(id => registry.SetPending(id, true))); // already flagged: no write
        Assert.Equal(writes, ShardRows("pending-machines").Writes);
        await Task.WhenAll(ids.Take(100).Select(id => registry.SetPending(id, false)).Concat(ids.Skip(100).Take(10).Select(id => registry.SetPending(id, true))));
        Assert.InRange(ShardRows("pending-machines").Writes, writes + 1, writes + 100 / 5);
    }

    [Fact]
    public async Task A_registry_written_before_the_shards_moves_into_them_once()
    {
        var front = Cluster.Client.GetGrain<IMachineRegistryGrain>(0);
        var ids = Enumerable.Range(0, 40).Select(i => $"old.m{i:00}").ToList();
        // The previous build's records: every id under the front's own key.
        var storage = Cluster.Silos[0].ServiceProvider.GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(MachineGrain.StorageName);
        await Cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        await storage.WriteStateAsync("registry", front.GetGrainId(), new GrainState<MachineRegistryState>(new MachineRegistryState { Machines = new(ids, StringComparer.Ordinal) }));
        await storage.WriteStateAsync("pending-machines", front.GetGrainId(), new GrainState<MachineRegistryState>(new MachineRegistryState { Machines = new(ids.Take(3), StringComparer.Ordinal) }));

        Assert.Equal(ids, (await front.List()).Where(id => id.StartsWith("old.", StringComparison.Ordinal)).ToList());
        Assert.InRange(ShardRows("registry").Rows, 10, MachineRegistryShards.Count); // 40 ids spread over the shards
        foreach (var id in ids.Take(5))
        {
            var shardIds = await MachineRegistryShards.For(Cluster.Client, id).List();
            Assert.Contains(id, shardIds);
            Assert.All(shardIds, other => Assert.Equal(MachineRegistryShards.Of(id), MachineRegistryShards.Of(other)));
        }
        var moved = new GrainState<MachineRegistryState>(new MachineRegistryState());
        await storage.ReadStateAsync("registry", front.GetGrainId(), moved);
        Assert.False(moved.RecordExists); // cleared: the next activation moves nothing
        await Deactivate();
        Assert.Equal(ids, (await front.List()).Where(id => id.StartsWith("old.", StringComparison.Ordinal)).ToList());
    }

    [Fact]
    public void Byte_patches_reproduce_the_new_buffer_and_refuse_other_lengths()
    {
        var random = new Random(4);
        for (int trial = 0; trial < 200; trial++)
        {
            var before = new byte[random.Next(0, 400)];
            random.NextBytes(before);
            var after = (byte[])before.Clone();
            for (int k = random.Next(0, 6); k > 0 && after.Length > 0; k--)
            {
                int at = random.Next(after.Length), length = Math.Min(random.Next(1, 40), after.Length - at);
                random.NextBytes(after.AsSpan(at, length));
            }
            // Digests of the base's chunks instead of its bytes; whole changed chunks go in the patch, and only those.
            var chunked = ChunkDigest.Of(before).Diff(after);
            Assert.Equal(after, BytePatches.Apply(before, chunked));
            // A digest handed to a migrated activation diffs as the original does.
            var handedOver = ChunkDigest.FromBytes(ChunkDigest.Of(before).ToBytes());
            Assert.Equal(chunked.Select(p => (p.Offset, Convert.ToHexString(p.Bytes))), handedOver.Diff(after).Select(p => (p.Offset, Convert.ToHexString(p.Bytes))));
            Assert.True(chunked.Sum(p => p.Bytes.Length) <= after.Length);
            foreach (var p in chunked)
                for (int at = p.Offset; at < p.Offset + p.Bytes.Length; at += ChunkDigest.ChunkSize)
                {
                    Assert.Equal(0, at % ChunkDigest.ChunkSize);
                    int length = Math.Min(ChunkDigest.ChunkSize, after.Length - at);
                    Assert.False(before.AsSpan(at, length).SequenceEqual(after.AsSpan(at, length)), $"chunk at {at} is unchanged");
                }
            if (before.AsSpan().SequenceEqual(after)) Assert.Empty(chunked);
        }
        Assert.Throws<ArgumentException>(() => ChunkDigest.Of(new byte[3]).Diff(new byte[4]));
        var digest = ChunkDigest.Of(new byte[300]).ToBytes();
        Assert.Throws<InvalidDataException>(() => ChunkDigest.FromBytes(digest.AsSpan(0, digest.Length - 1)));
        Assert.Throws<InvalidDataException>(() => ChunkDigest.FromBytes(new byte[2]));
        Assert.Throws<InvalidDataException>(() => BytePatches.Apply(new byte[3], [new BytePatch(2, new byte[2])]));
    }

    [Fact]
    public async Task A_declined_request_closes_for_every_labeller_leaves_the_sets_alone_and_stays_closed_after_a_reload()
    {
        const string id = "journal.decline";
        var settings = new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 4 };
        var (grain, _) = await Enrolled(id, settings);
        var asked = new List<string>();
        for (int i = 0; asked.Count < 3 && i < Test.Count; i++)
            if ((await grain.ProcessClip(new ClipSubmission($"d{i}", Test[i].Embedding, Model))).LabelRequested)
                asked.Add($"d{i}");
        Assert.Equal(3, asked.Count);
        var before = await grain.GetStatus();
        var journalWrites = Row("journal", id).Version;

        // A labeller's name that breaks the rule is bad input: refused, nothing closed.
        await Assert.ThrowsAsync<ArgumentException>(() => grain.DeclineLabelRequest(asked[0], "carol smith"));
        Assert.Equal(3, (await grain.GetPendingLabelRequests(100)).Count);

        // Declined: written before the answer (a journal entry, not the whole state), gone from the list, the sets unchanged.
        var receipt = await grain.DeclineLabelRequest(asked[0], "carol");
        Assert.Equal(new DeclineReceipt(asked[0], AlreadyClosed: false), receipt);
        Assert.True(Row("journal", id).Version > journalWrites, "the decline was not written");
        Assert.True(Holds(Payload("journal", id), "carol"), "the journal's entry names who declined");
        Assert.False(Holds(Payload("machine", id), "carol"));
        Assert.Equal(asked.Skip(1), (await grain.GetPendingLabelRequests(100)).Select(r => r.ClipId).Order());
        var after = await grain.GetStatus();
        Assert.Equal((before.ReferenceSetSize, before.AnomalySetSize, before.Queries), (after.ReferenceSetSize, after.AnomalySetSize, after.Queries));
        Assert.Equal((before.DeclinedLabelRequests + 1, before.ExpiredLabelRequests), (after.DeclinedLabelRequests, after.ExpiredLabelRequests));

        // The journal's entry says it was a decline: a new activation that replays it counts a decline, not an expiry.
        await Deactivate();
        var replayed = await grain.GetStatus();
        Assert.Equal((after.DeclinedLabelRequests, after.ExpiredLabelRequests), (replayed.DeclinedLabelRequests, replayed.ExpiredLabelRequests));

        // Declining again changes nothing; a label after it is refused; a labelled clip cannot be declined; an unknown clip is bad input.
        Assert.True((await grain.DeclineLabelRequest(asked[0])).AlreadyClosed);
        var late = await Assert.ThrowsAsync<LabelRequestExpiredException>(() => grain.SubmitLabel(asked[0], ClipLabelValue.Normal));
        Assert.Contains("was declined at", late.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => grain.SubmitLabel(asked[1], ClipLabelValue.Anomalous, new string('d', 65)));
        await grain.SubmitLabel(asked[1], ClipLabelValue.Anomalous, "dave@plant-a");
        // A's first label is a full write: the state it writes names both, carol's from the journal the activation replayed
        // (the names a crash would otherwise lose with the history's marks written behind).
        Assert.True(Holds(Payload("machine", id), "carol") && Holds(Payload("machine", id), "dave@plant-a"), "the state keeps who closed its newest requests");
        var conflict = await Assert.ThrowsAsync<LabelConflictException>(() => grain.DeclineLabelRequest(asked[1]));
        Assert.Contains("cannot be declined", conflict.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => grain.DeclineLabelRequest("never-asked"));

        // A new activation replays the journal: still declined, still counted, the other request still open.
        await Deactivate();
        Assert.Equal([asked[2]], (await grain.GetPendingLabelRequests(100)).Select(r => r.ClipId));
        var reloaded = await grain.GetStatus();
        Assert.Equal((after.DeclinedLabelRequests, after.ExpiredLabelRequests), (reloaded.DeclinedLabelRequests, reloaded.ExpiredLabelRequests));
        await Assert.ThrowsAsync<LabelRequestExpiredException>(() => grain.SubmitLabel(asked[0], ClipLabelValue.Anomalous));
        Assert.True((await grain.DeclineLabelRequest(asked[0])).AlreadyClosed);

        // The score history says how each request ended, and who said so: declined, labelled, still open.
        var history = (await Cluster.Client.GetGrain<IScoreHistoryGrain>(id).Get(null, 1000)).ToDictionary(p => p.ClipId);
        Assert.Equal(((LabelRequestOutcome?)LabelRequestOutcome.Declined, "carol"), (history[asked[0]].RequestOutcome, history[asked[0]].ClosedBy));
        Assert.Null(history[asked[0]].Label);
        Assert.Equal((LabelRequestOutcome.Anomalous, ClipLabelValue.Anomalous, "dave@plant-a"),
            (history[asked[1]].RequestOutcome!.Value, history[asked[1]].Label!.Value, history[asked[1]].ClosedBy));
        Assert.Null(history[asked[2]].RequestOutcome);
    }
}
