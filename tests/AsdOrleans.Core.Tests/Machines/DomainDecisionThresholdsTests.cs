using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Enrollment;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Scoring;

namespace AsdOrleans.Core.Tests.Machines;

/// <summary>φ per domain under the <c>domain</c> scoring (<see cref="DomainDecisionThresholds"/>).</summary>
public class DomainDecisionThresholdsTests
{
    private static readonly (List<EnrollmentClip> Train, List<EmbeddingRecord> Test) Data = TestData.Machine(seed: 33, testPerDomainAndLabel: 200);

    private static List<double> EnrollmentScores(MachineModel model, bool target) =>
        model.NormalScores.Where((_, i) => Data.Train[i].IsTargetDomain == target).ToList();

    /// <summary>The row of N a clip's distance comes from, computed apart from the machine.</summary>
    private static int Nearest(MachineModel model, float[] embedding)
    {
        var cosines = new float[model.ReferenceSet.Count];
        var scales = model.ReferenceScales.ToArray();
        return ScaledScore.Distance(model.ReferenceSet, scales, EmbeddingMath.Normalized(embedding), cosines).Nearest;
    }

    [Fact]
    public void Each_domain_gets_the_gamma_fit_of_its_own_enrollment_scores()
    {
        var model = MachineModel.Enroll(new MachineConfig(), Data.Train);
        Assert.Equal(Data.Train.Count, model.NormalScores.Count); // M in enrollment order
        Assert.Equal(ScoreQuantiles.GammaFitQuantile(EnrollmentScores(model, target: false), 0.9), model.DecisionThreshold);
        Assert.Equal(ScoreQuantiles.GammaFitQuantile(EnrollmentScores(model, target: true), 0.9), model.DecisionThresholdTarget);
        Assert.NotEqual(model.DecisionThreshold, model.DecisionThresholdTarget!.Value);
    }

    [Fact]
    public void A_clip_is_compared_with_the_phi_of_its_nearest_references_domain()
    {
        var model = MachineModel.Enroll(new MachineConfig { Strategy = AsdOrleans.Method.Strategies.QueryStrategyKind.None }, Data.Train);
        int sourceRows = Data.Train.Count(c => !c.IsTargetDomain); // the default keeps every source clip, target rows after them
        int seenTarget = 0, seenSource = 0;
        foreach (var clip in Data.Test)
        {
            int nearest = Nearest(model, clip.Embedding);
            var outcome = model.Process(clip.Embedding);
            double expected = nearest >= sourceRows ? model.DecisionThresholdTarget!.Value : model.DecisionThreshold;
            Assert.Equal(expected, outcome.DecisionThreshold);
            Assert.Equal(outcome.Score > expected, outcome.Anomalous);
            if (nearest >= sourceRows) seenTarget++; else seenSource++;
        }
        Assert.True(seenTarget > 50 && seenSource > 50, $"{seenTarget} clips nearest a target row, {seenSource} a source row");
    }

    [Fact]
    public void Target_normals_raise_alerts_about_as_often_as_source_normals_where_one_pooled_phi_flagged_them_more()
    {
        // Two domains on the unit sphere: 200 source clips near one centre, and 10 target clips of a new operating
        // condition that vary less among themselves than its later clips do (as ten clips of a domain cover few of its
        // conditions). Each training clip's held-out distance is where a fresh normal of its domain lands (what
        // HeldOutWhitening measures); the domain scale balances it against the in-sample distance, so target normals
        // score higher than source normals, and a φ fitted on mostly source scores flags them far more often.
        var random = new Random(11);
        const int dimension = 32;
        float[] Centre() => Enumerable.Range(0, dimension).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        float[] Near(float[] centre, double spread) => centre.Select(v => v + (float)(spread * Gaussian(random))).ToArray();
        float[] source = Centre(), target = Centre();
        const double sourceSpread = 0.03, targetTrainSpread = 0.05, targetSpread = 0.09;
        var sourceClips = Enumerable.Range(0, 200).Select(_ => Near(source, sourceSpread)).ToList();
        var targetClips = Enumerable.Range(0, 10).Select(_ => Near(target, targetTrainSpread)).ToList();
        var everyClip = new EmbeddingSet(dimension);
        foreach (var clip in sourceClips.Concat(targetClips)) everyClip.AddNormalized(EmbeddingMath.Normalized(clip));
        double Lands(float[] fresh) => 1.0 - everyClip.MaxCosine(EmbeddingMath.Normalized(fresh));
        var train = sourceClips.Select(c => new EnrollmentClip(c, false, Lands(Near(source, sourceSpread))))
            .Concat(targetClips.Select(c => new EnrollmentClip(c, true, Lands(Near(target, targetSpread))))).ToList();
        var model = MachineModel.Enroll(new MachineConfig { Strategy = AsdOrleans.Method.Strategies.QueryStrategyKind.None }, train);
        double pooled = ScoreQuantiles.GammaFitQuantile(model.NormalScores, 0.9);
        double Rate(float[] centre, double spread, Func<ClipOutcome, bool> alert) =>
            Enumerable.Range(0, 400).Average(_ => alert(model.Process(Near(centre, spread))) ? 1.0 : 0.0);
        double targetPerDomain = Rate(target, targetSpread, o => o.Anomalous), targetPooled = Rate(target, targetSpread, o => o.Score > pooled);
        double sourcePerDomain = Rate(source, sourceSpread, o => o.Anomalous);
        Assert.True(targetPooled > 0.3, $"one pooled φ flags {targetPooled:F3} of target normals");
        Assert.InRange(targetPerDomain, 0.02, 0.25);
        Assert.InRange(sourcePerDomain, 0.02, 0.25);
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    [Fact]
    public void The_paper_method_keeps_one_phi_for_every_clip()
    {
        var model = MachineModel.Enroll(MachineConfig.Paper with { Strategy = AsdOrleans.Method.Strategies.QueryStrategyKind.None }, Data.Train);
        Assert.Null(model.DecisionThresholdTarget);
        Assert.Equal(ScoreQuantiles.GammaFitQuantile(model.NormalScores, 0.9), model.DecisionThreshold);
        Assert.All(Data.Test.Take(50), clip => Assert.Equal(model.DecisionThreshold, model.Process(clip.Embedding).DecisionThreshold));
    }

    [Fact]
    public void One_domain_only_keeps_one_phi()
    {
        var sourceOnly = Data.Train.Where(c => !c.IsTargetDomain).ToList();
        var model = MachineModel.Enroll(new MachineConfig(), sourceOnly);
        Assert.Null(model.DecisionThresholdTarget);
        Assert.Equal(ScoreQuantiles.GammaFitQuantile(model.NormalScores, 0.9), model.DecisionThreshold);
    }

    [Fact]
    public void The_thresholds_survive_a_round_trip_and_a_new_decision_quantile_refits_both_from_the_enrollment()
    {
        var model = MachineModel.Enroll(new MachineConfig { Seed = 5 }, Data.Train);
        var sourceFit = GammaFit.Of(EnrollmentScores(model, target: false));
        var targetFit = GammaFit.Of(EnrollmentScores(model, target: true));
        TestData.StreamWithOracle(model, Data.Test.Take(150)); // labelled normals join M; the fits stay the enrollment's
        var bytes = model.Serialize();
        var restored = MachineModel.Deserialize(bytes);
        Assert.Equal(bytes, restored.Serialize());
        Assert.Equal(model.DecisionThresholdTarget, restored.DecisionThresholdTarget);
        Assert.Equal(TestData.StreamWithOracle(model, Data.Test.Skip(150)), TestData.StreamWithOracle(restored, Data.Test.Skip(150)));

        var stricter = model.WithConfig(model.Config with { DecisionQuantile = 0.99 });
        Assert.Equal(sourceFit.Quantile(0.99), stricter.DecisionThreshold);
        Assert.Equal(targetFit.Quantile(0.99), stricter.DecisionThresholdTarget);
        var back = stricter.WithConfig(stricter.Config with { DecisionQuantile = 0.9 });
        Assert.Equal(model.DecisionThreshold, back.DecisionThreshold);
        Assert.Equal(model.DecisionThresholdTarget, back.DecisionThresholdTarget);
    }

    [Fact]
    public void The_single_setting_keeps_one_phi_from_every_enrollment_score_and_can_change_back()
    {
        var single = MachineModel.Enroll(new MachineConfig { Seed = 5, DecisionThresholds = DecisionThresholdKind.Single }, Data.Train);
        var perDomain = MachineModel.Enroll(new MachineConfig { Seed = 5 }, Data.Train);
        Assert.Null(single.DecisionThresholdTarget);
        Assert.Equal(ScoreQuantiles.GammaFitQuantile(single.NormalScores, 0.9), single.DecisionThreshold);
        Assert.NotEqual(perDomain.DecisionThreshold, single.DecisionThreshold);
        foreach (var clip in Data.Test.Take(60))
        {
            var outcome = single.Process(clip.Embedding);
            var other = perDomain.Process(clip.Embedding);
            Assert.Equal(other.Score, outcome.Score); // the setting moves the alerts, never the scores
            Assert.Equal(single.DecisionThreshold, outcome.DecisionThreshold);
            Assert.Equal(outcome.Score > single.DecisionThreshold, outcome.Anomalous);
        }

        // Set at once on an enrolled machine, both ways: the domains' fits are kept.
        var fresh = MachineModel.Enroll(new MachineConfig { Seed = 5 }, Data.Train);
        var toSingle = fresh.WithConfig(fresh.Config with { DecisionThresholds = DecisionThresholdKind.Single });
        Assert.Null(toSingle.DecisionThresholdTarget);
        Assert.Equal(ScoreQuantiles.GammaFitQuantile(fresh.NormalScores, 0.9), toSingle.DecisionThreshold);
        var back = toSingle.WithConfig(toSingle.Config with { DecisionThresholds = DecisionThresholdKind.PerDomain });
        Assert.Equal(fresh.DecisionThreshold, back.DecisionThreshold);
        Assert.Equal(fresh.DecisionThresholdTarget, back.DecisionThresholdTarget);
    }

    [Fact]
    public void A_machine_set_to_one_phi_is_written_in_format_7_and_keeps_its_fits_across_a_round_trip()
    {
        var model = MachineModel.Enroll(new MachineConfig { Seed = 5, DecisionThresholds = DecisionThresholdKind.Single }, Data.Train);
        TestData.StreamWithOracle(model, Data.Test.Take(100));
        var bytes = model.Serialize();
        Assert.Equal(7, BitConverter.ToUInt16(bytes, 4));
        var restored = MachineModel.Deserialize(bytes);
        Assert.Equal(bytes, restored.Serialize());
        Assert.Equal(DecisionThresholdKind.Single, restored.Config.DecisionThresholds);
        Assert.Null(restored.DecisionThresholdTarget);
        Assert.Equal(model.DecisionThreshold, restored.DecisionThreshold);
        Assert.Equal(TestData.StreamWithOracle(model, Data.Test.Skip(100)), TestData.StreamWithOracle(restored, Data.Test.Skip(100)));
        // The fits came through: set back to φ per domain, the restored machine has the enrollment's target φ.
        var perDomain = MachineModel.Enroll(new MachineConfig { Seed = 5 }, Data.Train);
        Assert.Equal(perDomain.DecisionThresholdTarget, restored.WithConfig(restored.Config with { DecisionThresholds = DecisionThresholdKind.PerDomain }).DecisionThresholdTarget);

        // The default setting keeps format 6, which the previous build reads; the paper's, its older formats.
        Assert.Equal(6, BitConverter.ToUInt16(perDomain.Serialize(), 4));
        var paper = MachineModel.Enroll(MachineConfig.Paper, Data.Train);
        Assert.True(BitConverter.ToUInt16(paper.Serialize(), 4) < 6);
        Assert.Equal(DecisionThresholdKind.Single, MachineModel.Deserialize(paper.Serialize()).Config.DecisionThresholds);
    }

    [Fact]
    public void A_decision_section_that_cannot_tell_the_domains_apart_is_refused()
    {
        var model = MachineModel.Enroll(new MachineConfig(), Data.Train);
        var bytes = model.Serialize();
        var scales = model.ReferenceScales;
        // The section follows the scales: four doubles (the fits), the two scales, the target's φ. Make the target scale the source's.
        int scalesEnd = IndexOf(bytes, System.Runtime.InteropServices.MemoryMarshal.AsBytes(scales.ToArray().AsSpan()).ToArray());
        Assert.True(scalesEnd > 0);
        int sourceScaleAt = scalesEnd + 4 * 8, targetScaleAt = sourceScaleAt + 4;
        var corrupt = (byte[])bytes.Clone();
        Array.Copy(bytes, sourceScaleAt, corrupt, targetScaleAt, 4);
        Assert.Contains("decision section", Assert.Throws<InvalidDataException>(() => MachineModel.Deserialize(corrupt)).Message);
    }

    [Fact]
    public void Merged_rows_take_phi_in_proportion_to_their_scale()
    {
        var thresholds = new DomainDecisionThresholds(new GammaFit(1, 0.1), new GammaFit(2, 0.1), SourceScale: 0.1f, TargetScale: 0.3f);
        Assert.Equal(1.0, thresholds.For(0.1f, 1.0, 3.0));
        Assert.Equal(3.0, thresholds.For(0.3f, 1.0, 3.0));
        Assert.Equal(2.0, thresholds.For(0.2f, 1.0, 3.0), 6);
        Assert.Equal(3.0, thresholds.For(0.5f, 1.0, 3.0)); // outside the two: the nearer domain's
        Assert.Null(DomainDecisionThresholds.Fit([0.1, 0.2], [false, true], 0.2f, 0.2f)); // equal scales cannot tell the domains apart
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle)) return i + needle.Length;
        return -1;
    }
}
