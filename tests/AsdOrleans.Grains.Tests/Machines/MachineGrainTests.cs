using AsdOrleans.Abstractions;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Strategies;
using AsdOrleans.Grains;
using CoreEnrollmentClip = AsdOrleans.Method.Enrollment.EnrollmentClip;

namespace AsdOrleans.Grains.Tests.Machines;

public sealed class MachineGrainTests(MachineClusterFixture fixture) : IClassFixture<MachineClusterFixture>
{
    private const string Model = "enc-test0001";
    private static readonly EmbeddingTable Plant = SyntheticEmbeddings.Generate(new SyntheticEmbeddingSettings { Machines = 1, Seed = 5, SourceTrain = 200 });
    private static readonly List<EmbeddingRecord> Train = Plant.Records.Where(r => !r.IsTest).ToList();
    private static readonly List<EmbeddingRecord> Test = Plant.Records.Where(r => r.IsTest).ToList();

    private IMachineGrain Machine(string id) => fixture.Cluster.GrainFactory.GetGrain<IMachineGrain>(id);

    private static EnrollmentRequest Enrollment() =>
        new(Train.Select(r => new Abstractions.EnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model);

    private async Task<IMachineGrain> Enrolled(string id, MachineSettings settings)
    {
        var grain = Machine(id);
        await grain.Configure(settings);
        await grain.Enroll(Enrollment());
        return grain;
    }

    [Theory]
    [InlineData("hybrid")]
    [InlineData("qbc")]
    [InlineData("random")]
    public async Task The_grain_gives_the_same_scores_and_decisions_as_Core_for_the_same_seed(string strategy)
    {
        var settings = new MachineSettings { Strategy = strategy, Budget = 0.2, Seed = 11 };
        var grain = await Enrolled($"equivalence.{strategy}", settings);
        var core = MachineModel.Enroll(settings.ToConfig("ignored") with { Seed = 11 }, Train.Select(r => new CoreEnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model);
        var reasons = new List<string>();
        var thresholds = new List<double>();

        for (int i = 0; i < Test.Count; i++)
        {
            var clip = Test[i];
            var submission = new ClipSubmission($"clip-{i}", clip.Embedding, Model);
            var verdict = await grain.ProcessClip(submission);
            var expected = core.Process(clip.Embedding);
            thresholds.Add(expected.DecisionThreshold);
            Assert.Equal(expected.Score, verdict.Score);
            Assert.Equal(expected.LabelRequested, verdict.LabelRequested);
            Assert.Equal(expected.LabelRequested ? expected.QueryReason.ToName() : null, verdict.QueryReason);
            Assert.Equal(expected.Anomalous, verdict.Anomalous);
            if (verdict.LabelRequested)
            {
                // Why it asked reaches the labeller's queue, and a device's retry hears it again.
                reasons.Add(verdict.QueryReason!);
                var pending = Assert.Single(await grain.GetPendingLabelRequests(100));
                Assert.Equal((submission.ClipId, verdict.QueryReason), (pending.ClipId, pending.QueryReason));
                Assert.Equal(verdict with { Repeated = true }, await grain.ProcessClip(submission));
                var label = clip.IsAnomaly ? ClipLabelValue.Anomalous : ClipLabelValue.Normal;
                await grain.SubmitLabel($"clip-{i}", label);
                core.ApplyLabel(clip.Embedding, expected.Score, clip.IsAnomaly ? ClipLabel.Anomalous : ClipLabel.Normal);
            }
        }
        Assert.Contains(strategy == "qbc" ? "committee" : strategy == "random" ? "random" : "uncertain", reasons);
        Assert.Subset(new HashSet<string> { "uncertain", "random", "committee", "budget-floor" }, reasons.ToHashSet());
        var status = await grain.GetStatus();
        Assert.Equal(core.Queries, status.Queries);
        Assert.Equal(core.ForcedQueries, status.ForcedQueries);
        Assert.Equal(reasons.Count(r => r == "budget-floor"), status.ForcedQueries);
        Assert.Equal(core.ReferenceSet.Count, status.ReferenceSetSize);
        Assert.Equal(0, status.PendingLabelRequests);
        // Each clip's φ in the history is the one Core compared it with: per domain here (both domains enrolled).
        Assert.Equal(core.DecisionThresholdTarget, status.DecisionThresholdTarget);
        Assert.NotNull(status.DecisionThresholdTarget);
        var history = await fixture.Cluster.GrainFactory.GetGrain<IScoreHistoryGrain>($"equivalence.{strategy}").Get(null, Test.Count);
        var thresholdOf = Enumerable.Range(0, Test.Count).ToDictionary(i => $"clip-{i}", i => thresholds[i]);
        Assert.Equal(thresholdOf.Keys, history.Select(p => p.ClipId)); // every clip, its first page too (read back after a flush under load)
        Assert.All(history, p => Assert.Equal(thresholdOf[p.ClipId], p.DecisionThreshold));
        Assert.True(history.Select(p => p.ClipId).SequenceEqual(Enumerable.Range(0, Test.Count).Select(i => $"clip-{i}")), $"history of {history.Count} clips, {Test.Count} streamed: {string.Join(" ", history.Take(3).Select(p => p.ClipId))} … {string.Join(" ", history.TakeLast(2).Select(p => p.ClipId))}");
        Assert.Equal(2, thresholds.Distinct().Count());

        // One φ for both domains, set on the enrolled machine at once, as Core refits it; and back.
        status = await grain.Configure(settings with { DecisionThresholds = "single" });
        Assert.Equal("single", status.DecisionThresholds);
        Assert.Null(status.DecisionThresholdTarget);
        var single = core.WithConfig(core.Config with { DecisionThresholds = DecisionThresholdKind.Single });
        Assert.Equal(single.DecisionThreshold, status.DecisionThreshold);
        status = await grain.Configure(settings);
        Assert.Equal("per-domain", status.DecisionThresholds);
        Assert.Equal(core.DecisionThresholdTarget, status.DecisionThresholdTarget);
    }

    [Fact]
    public async Task A_histories_first_page_reads_back_after_it_left_memory()
    {
        // This cluster's memory storage writes JSON, which leaves out a field at its default: page 0's number (0). Read
        // back, the record must still be page 0, or a machine's first 100 clips leave its history.
        var history = fixture.Cluster.GrainFactory.GetGrain<IScoreHistoryGrain>("history.first-page");
        Assert.Empty(await history.Get(null, 1));
        var epoch = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
        for (int i = 0; i < 150; i++)
            await history.Record(new ScorePoint(epoch.AddSeconds(i), $"clip-{i}", i, i / 1000.0, 0.5, false, false));
        // One-way calls may arrive out of order: wait for all of them, and compare the clips as a set.
        await Waiting.Until(async () => (await history.Get(null, 1000)).Count == 150, "the one-way records applied");
        await fixture.Cluster.GrainFactory.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero); // writes the pages; the next read loads them
        Assert.Equal(Enumerable.Range(0, 150).Select(i => $"clip-{i}"), (await history.Get(null, 1000)).OrderBy(p => p.ClipIndex).Select(p => p.ClipId));
    }

    [Fact]
    public async Task Labels_are_idempotent_and_unknown_or_conflicting_labels_are_refused_without_change()
    {
        var grain = await Enrolled("labels.machine-1", new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 1 });
        var verdict = await grain.ProcessClip(new ClipSubmission("c1", Test[0].Embedding, Model, "/audio/c1.wav"));
        Assert.True(verdict.LabelRequested); // b = 1: the random strategy asks about every clip while b̂ < 1
        var pending = await grain.GetPendingLabelRequests(10);
        Assert.Equal("c1", Assert.Single(pending).ClipId);
        Assert.Equal("/audio/c1.wav", pending[0].AudioReference);

        var first = await grain.SubmitLabel("c1", ClipLabelValue.Anomalous);
        var again = await grain.SubmitLabel("c1", ClipLabelValue.Anomalous);
        Assert.False(first.AlreadyApplied);
        Assert.True(again.AlreadyApplied);
        Assert.Equal(1, again.AnomalySetSize);

        var before = await grain.GetStatus();
        Assert.Contains("already labelled anomalous", (await Assert.ThrowsAsync<LabelConflictException>(() => grain.SubmitLabel("c1", ClipLabelValue.Normal))).Message);
        Assert.Contains("no label request for clip 'nope'", (await Assert.ThrowsAsync<ArgumentException>(() => grain.SubmitLabel("nope", ClipLabelValue.Normal))).Message);
        Assert.Equal(before, await grain.GetStatus());
        Assert.Empty(await grain.GetPendingLabelRequests(10));
    }

    [Fact]
    public async Task A_machine_that_spends_past_its_budget_says_so_from_its_hundredth_clip_and_a_paced_one_does_not()
    {
        // The paper's start (b̂ = 0) lets hybrid query most early clips; the paced default keeps to b.
        var paper = await Enrolled("overspend.paper", new MachineSettings { Strategy = "hybrid", Budget = 0.1, BudgetStart = "paper", Seed = 4 });
        var paced = await Enrolled("overspend.paced", new MachineSettings { Strategy = "hybrid", Budget = 0.1, Seed = 4 });
        for (int i = 0; i < 120; i++)
        {
            foreach (var grain in new[] { paper, paced })
            {
                var verdict = await grain.ProcessClip(new ClipSubmission($"clip-{i}", Test[i].Embedding, Model));
                if (verdict.LabelRequested)
                    await grain.SubmitLabel($"clip-{i}", Test[i].IsAnomaly ? ClipLabelValue.Anomalous : ClipLabelValue.Normal);
            }
            if (i == 98)
            {
                var early = await paper.GetStatus();
                Assert.True(early.RealisedBudget > 0.12, $"realised {early.RealisedBudget} after 99 clips");
                Assert.False(early.Overspent); // fewer than 100 clips: too early to judge
            }
        }
        var spent = await paper.GetStatus();
        Assert.Equal("paper", spent.BudgetStart);
        Assert.True(spent.RealisedBudget > 0.12, $"realised {spent.RealisedBudget}");
        Assert.True(spent.Overspent);
        var kept = await paced.GetStatus();
        Assert.Equal("paced", kept.BudgetStart);
        Assert.InRange(kept.RealisedBudget, 0.05, 0.12);
        Assert.False(kept.Overspent);
    }

    [Fact]
    public async Task The_earlier_verdict_of_a_recent_clip_is_read_without_scoring_anything()
    {
        // What an ingest asks before decoding: a retry's first verdict, or null for a new id; refusals as ProcessClip's.
        const uint audio = 0x5eed;
        var missing = await Assert.ThrowsAsync<InvalidOperationException>(() => Machine("earlier.never-enrolled").EarlierVerdict("c-0", audio));
        Assert.Contains("not enrolled", missing.Message);
        var grain = await Enrolled("earlier.m", new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 3 });
        await Assert.ThrowsAsync<ArgumentException>(() => grain.EarlierVerdict("not a clip id!", audio));
        Assert.Null(await grain.EarlierVerdict("c-0", audio));
        var verdict = await grain.ProcessClip(new ClipSubmission("c-0", Test[0].Embedding, Model, AudioFingerprint: audio));
        var before = await grain.GetStatus();
        Assert.Equal(verdict with { Repeated = true }, await grain.EarlierVerdict("c-0", audio));
        Assert.Equal(verdict with { Repeated = true }, await grain.EarlierVerdict("c-0", ClipAudioFingerprint.Unknown)); // no audio to compare
        Assert.Equal(verdict with { Repeated = true }, await grain.EarlierVerdict("c-0")); // an older silo's call, which has none
        Assert.Null(await grain.EarlierVerdict("c-1", audio));
        Assert.Equal(before, await grain.GetStatus());
    }

    [Fact]
    public async Task Bad_input_is_refused_and_changes_nothing()
    {
        var grain = await Enrolled("bad-input.machine", new MachineSettings { Seed = 2 });
        var original = await grain.ProcessClip(new ClipSubmission("ok-1", Test[0].Embedding, Model));
        var before = await grain.GetStatus();
        Assert.Equal(original with { Repeated = true }, await grain.ProcessClip(new ClipSubmission("ok-1", Test[0].Embedding, Model))); // a retry: same answer, marked
        Assert.Equal(before, await grain.GetStatus());

        var nan = (float[])Test[1].Embedding.Clone();
        nan[3] = float.NaN;
        await Assert.ThrowsAsync<ArgumentException>(() => grain.ProcessClip(new ClipSubmission("x1", nan, Model)));
        await Assert.ThrowsAsync<ArgumentException>(() => grain.ProcessClip(new ClipSubmission("x2", new float[7], Model)));
        Assert.Contains("re-enroll", (await Assert.ThrowsAsync<ArgumentException>(() => grain.ProcessClip(new ClipSubmission("x3", Test[1].Embedding, "enc-other")))).Message);
        await Assert.ThrowsAsync<ArgumentException>(() => grain.ProcessClip(new ClipSubmission("has space", Test[1].Embedding, Model)));
        await Assert.ThrowsAsync<ArgumentException>(() => grain.Configure(new MachineSettings { Budget = 1.5 }));
        await Assert.ThrowsAsync<ArgumentException>(() => grain.Configure(new MachineSettings { Strategy = "psychic" }));
        await Assert.ThrowsAsync<ArgumentException>(() => grain.Enroll(new EnrollmentRequest([], Model)));
        Assert.Equal(before, await grain.GetStatus());

        Assert.Contains("not a valid machine id", (await Assert.ThrowsAsync<ArgumentException>(() => Machine("bad id/../x").GetStatus())).Message);
        // ".." names the data directory where a machine's audio folders are: it is no machine (stop 52's review).
        foreach (var dotPath in new[] { ".", ".." })
            Assert.Contains("not a valid machine id", (await Assert.ThrowsAsync<ArgumentException>(() => Machine(dotPath).Enroll(Enrollment()))).Message);
        Assert.Contains("not enrolled", (await Assert.ThrowsAsync<InvalidOperationException>(() => Machine("fresh.machine").ProcessClip(new ClipSubmission("a", Test[0].Embedding, Model)))).Message);
    }

    [Fact]
    public async Task State_survives_deactivation_and_the_stream_continues_where_it_stopped()
    {
        var settings = new MachineSettings { Strategy = "hybrid", Budget = 0.2, Seed = 3 };
        var grain = await Enrolled("restart.machine", settings);
        var core = MachineModel.Enroll(settings.ToConfig("x") with { Seed = 3 }, Train.Select(r => new CoreEnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model);
        Task Run(int from, int to) => RunInLockstep(grain, core, "r", Test, Test, from, to);
        await Run(0, 80);
        var before = await grain.GetStatus();
        var management = fixture.Cluster.GrainFactory.GetGrain<IManagementGrain>(0);
        await management.ForceActivationCollection(TimeSpan.Zero); // deactivates every idle grain: state is flushed
        Assert.Equal(before, await grain.GetStatus());
        await Run(80, Test.Count);
        Assert.Equal(core.ClipsSeen, (await grain.GetStatus()).ClipsSeen);
    }

    [Fact]
    public async Task A_machine_enrolled_with_raw_features_standardises_every_clip_as_the_harness_does_and_keeps_it_across_restarts()
    {
        // Raw features far from zero mean and unit spread, as the baseline's log-mel statistics are: standardising changes the cosines.
        static float[] Raw(float[] e) => e.Select((v, j) => 3f * v + 10f + j).ToArray();
        var raw = new EmbeddingTable(Plant.Records.Select(r => r with { Embedding = Raw(r.Embedding) }).ToList(), Plant.Dimension);
        var standardised = EmbeddingStandardization.PerMachine(raw); // the harness's fit: the machine's training clips
        var train = standardised.Records.Where(r => !r.IsTest).ToList();
        var test = standardised.Records.Where(r => r.IsTest).ToList();
        var rawTest = raw.Records.Where(r => r.IsTest).ToList();
        var settings = new MachineSettings { Strategy = "hybrid", Budget = 0.2, Seed = 6 };
        var core = MachineModel.Enroll(settings.ToConfig("x") with { Seed = 6 }, train.Select(r => new CoreEnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model);

        var grain = Machine("standardised.machine");
        await grain.Configure(settings);
        await grain.Enroll(new EnrollmentRequest(raw.Records.Where(r => !r.IsTest).Select(r => new Abstractions.EnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model, Standardize: true));
        // The label applies to the standardised embedding the machine scored.
        Task Run(int from, int to) => RunInLockstep(grain, core, "s", rawTest, test, from, to);
        await Run(0, 60);
        await fixture.Cluster.GrainFactory.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero); // the standardiser is reloaded from state
        await Run(60, test.Count);
        Assert.Equal(core.AnomalySet.Count, (await grain.GetStatus()).AnomalySetSize);
        Assert.Contains("values", (await Assert.ThrowsAsync<ArgumentException>(() => grain.ProcessClip(new ClipSubmission("short", new float[7], Model)))).Message);

        // Re-enrolling with a trained encoder's embeddings drops the standardiser: clips are scored as they come.
        await grain.Enroll(Enrollment());
        var plain = MachineModel.Enroll(settings.ToConfig("x") with { Seed = 6 }, Train.Select(r => new CoreEnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model);
        Assert.Equal(plain.Process(Test[0].Embedding).Score, (await grain.ProcessClip(new ClipSubmission("plain-0", Test[0].Embedding, Model))).Score);
    }

    [Fact]
    public async Task A_machine_enrolled_to_whiten_raw_features_whitens_every_clip_as_the_harness_does_and_keeps_it_across_restarts()
    {
        static float[] Raw(float[] e) => e.Select((v, j) => 3f * v + 10f + j + (j % 5) * e[0]).ToArray(); // correlated dimensions
        var raw = new EmbeddingTable(Plant.Records.Select(r => r with { Embedding = Raw(r.Embedding) }).ToList(), Plant.Dimension);
        var whitened = EmbeddingStandardization.WhitenedPerMachine(raw); // the harness's fit: the machine's training clips and domains
        var train = whitened.Records.Where(r => !r.IsTest).ToList();
        var test = whitened.Records.Where(r => r.IsTest).ToList();
        var rawTest = raw.Records.Where(r => r.IsTest).ToList();
        var settings = new MachineSettings { Strategy = "hybrid", Budget = 0.2, Seed = 7 };
        Assert.All(train, r => Assert.NotNull(r.HeldOutDistance)); // the harness's held-out distances, which the grain computes too
        var core = MachineModel.Enroll(settings.ToConfig("x") with { Seed = 7 }, train.Select(r => new CoreEnrollmentClip(r.Embedding, r.IsTarget, r.HeldOutDistance)).ToList(), Model);

        var grain = Machine("whitened.machine");
        await grain.Configure(settings);
        var rawTrain = raw.Records.Where(r => !r.IsTest).Select(r => new Abstractions.EnrollmentClip(r.Embedding, r.IsTarget)).ToList();
        Assert.Contains("not both", (await Assert.ThrowsAsync<ArgumentException>(() => grain.Enroll(new EnrollmentRequest(rawTrain, Model, Standardize: true, Whiten: true)))).Message);
        await grain.Enroll(new EnrollmentRequest(rawTrain, Model, Whiten: true));
        var status = await grain.GetStatus();
        Assert.True(status.WhitensFeatures);
        Assert.False(status.StandardizesFeatures);
        Task Run(int from, int to) => RunInLockstep(grain, core, "w", rawTest, test, from, to);
        await Run(0, 60);
        await fixture.Cluster.GrainFactory.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero); // the whitener is reloaded from state
        await Run(60, test.Count);
        Assert.Equal(core.AnomalySet.Count, (await grain.GetStatus()).AnomalySetSize);
    }

    [Fact]
    public async Task A_whitened_machine_enrolled_on_an_earlier_embedder_version_scores_a_later_versions_clips_by_their_prefix_and_keeps_its_labels()
    {
        // The spectral embedder grows by appending values and names the new version by extending the old id
        // (AppendedFeatures): a machine enrolled on the earlier values reads the prefix, so an upgraded silo scores it
        // exactly as before, labels included.
        const int earlier = 512, later = 528;
        const string earlierVersion = "spectral-test-v1", laterVersion = "spectral-test-v1-envmod";
        static float[] Raw(float[] e, int d) => Enumerable.Range(0, d).Select(j => 3f * e[j % e.Length] + 10f + j % 7 + (j % 5) * e[0]).ToArray();
        static float[] Extended(float[] e) => [.. e, .. Enumerable.Range(0, later - e.Length).Select(j => 50f + j)];
        var train = Train.Select(r => new Abstractions.EnrollmentClip(Raw(r.Embedding, earlier), r.IsTarget)).ToList();
        var settings = new MachineSettings { Strategy = "random", Budget = 0.3, Seed = 8 };
        var upgraded = Machine("earlier.spectral.upgraded");
        var twin = Machine("earlier.spectral.twin");
        foreach (var grain in new[] { upgraded, twin })
        {
            await grain.Configure(settings);
            await grain.Enroll(new EnrollmentRequest(train, earlierVersion, Whiten: true));
        }
        int labels = 0;
        for (int i = 0; i < 40; i++)
        {
            var raw = Raw(Test[i].Embedding, earlier);
            var verdict = await upgraded.ProcessClip(new ClipSubmission($"u{i}", Extended(raw), laterVersion));
            var expected = await twin.ProcessClip(new ClipSubmission($"u{i}", raw, earlierVersion));
            Assert.Equal(expected.Score, verdict.Score);
            Assert.Equal(expected.LabelRequested, verdict.LabelRequested);
            if (!verdict.LabelRequested) continue;
            var label = Test[i].IsAnomaly ? ClipLabelValue.Anomalous : ClipLabelValue.Normal;
            await upgraded.SubmitLabel($"u{i}", label);
            await twin.SubmitLabel($"u{i}", label);
            labels++;
        }
        Assert.True(labels > 0);
        var (after, twinAfter) = (await upgraded.GetStatus(), await twin.GetStatus());
        Assert.Equal((twinAfter.ReferenceSetSize, twinAfter.AnomalySetSize, twinAfter.NormalLabels + twinAfter.AnomalousLabels),
            (after.ReferenceSetSize, after.AnomalySetSize, after.NormalLabels + after.AnomalousLabels));
        // Nothing else passes, and a refused clip changes nothing: another version, the same values under an unrelated
        // id, or a later id with no more values than the machine's.
        foreach (var (values, version) in new[] { (Extended(Raw(Test[0].Embedding, earlier)), "spectral-test-v2"),
                     (Extended(Raw(Test[0].Embedding, earlier)), "spectral-test-v1envmod"), (Raw(Test[0].Embedding, earlier), laterVersion) })
        {
            var refused = await Assert.ThrowsAsync<ArgumentException>(() => upgraded.ProcessClip(new ClipSubmission($"r-{version}-{values.Length}", values, version)));
            Assert.Contains("re-enroll", refused.Message);
        }
        Assert.Equal(after.ClipsSeen, (await upgraded.GetStatus()).ClipsSeen);
        // A machine that does not whiten takes no later version either: its embeddings are a trained model's, which do
        // not grow by appending.
        var plain = Machine("earlier.model");
        await plain.Configure(settings);
        await plain.Enroll(Enrollment());
        Assert.Contains("re-enroll", (await Assert.ThrowsAsync<ArgumentException>(() =>
            plain.ProcessClip(new ClipSubmission("m", [.. Test[0].Embedding, 1f], Model + "-more")))).Message);
    }

    /// <summary>Clips <paramref name="from"/>…<paramref name="to"/>: the grain gets <paramref name="sent"/>, Core
    /// <paramref name="coreSees"/> (the same clips as the machine should see them); scores and decisions must agree, and
    /// every request is answered by the oracle on both.</summary>
    private static async Task RunInLockstep(IMachineGrain grain, MachineModel core, string prefix,
        IReadOnlyList<EmbeddingRecord> sent, IReadOnlyList<EmbeddingRecord> coreSees, int from, int to)
    {
        for (int i = from; i < to; i++)
        {
            var verdict = await grain.ProcessClip(new ClipSubmission($"{prefix}{i}", sent[i].Embedding, Model));
            var expected = core.Process(coreSees[i].Embedding);
            Assert.Equal(expected.Score, verdict.Score);
            Assert.Equal(expected.LabelRequested, verdict.LabelRequested);
            if (verdict.LabelRequested)
            {
                await grain.SubmitLabel($"{prefix}{i}", coreSees[i].IsAnomaly ? ClipLabelValue.Anomalous : ClipLabelValue.Normal);
                core.ApplyLabel(coreSees[i].Embedding, expected.Score, coreSees[i].IsAnomaly ? ClipLabel.Anomalous : ClipLabel.Normal);
            }
        }
    }
}
