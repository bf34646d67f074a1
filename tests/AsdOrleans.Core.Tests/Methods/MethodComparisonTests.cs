using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Core.Tests.Methods;

/// <summary>
/// The default method against the paper's on a synthetic plant none of the choices were made on (seed 11; the
/// defaults were chosen on synth-embeddings seeds 1–3, docs/decisions.md): active learning never hurts, and hybrid
/// at b = 0.1 clearly helps while labelling at most 12% of clips.
/// </summary>
public class MethodComparisonTests
{
    private static readonly EmbeddingTable Plant = SyntheticEmbeddings.Generate(new SyntheticEmbeddingSettings { Machines = 3, Seed = 11, SourceTrain = 300, TestPerDomainAndLabel = 25 });

    private static readonly ExperimentSettings Settings = new()
    {
        Strategies = [QueryStrategyKind.None, QueryStrategyKind.Random, QueryStrategyKind.VariableUncertainty, QueryStrategyKind.Hybrid,
            QueryStrategyKind.HybridPrinted, QueryStrategyKind.Qbc],
        Budgets = [0.05, 0.1, 0.2],
        Trials = 5,
        Seed = 4,
    };

    [Fact]
    public void Default_method_never_falls_below_its_offline_model_and_hybrid_gains_at_b_0_1()
    {
        var results = PrequentialExperiment.Run(Plant, Settings, cancellation: TestContext.Current.CancellationToken);
        var summary = ExperimentSummary.Summarise(results);
        double Hmean(QueryStrategyKind s, double b, string metric) => summary.Single(r => r.Machine == "hmean" && r.Strategy == s && r.Budget == b && r.Metric == metric).Mean;
        foreach (var b in Settings.Budgets)
        {
            double offline = Hmean(QueryStrategyKind.None, b, "auc");
            foreach (var s in Settings.Strategies.Where(s => s != QueryStrategyKind.None))
                Assert.True(Hmean(s, b, "auc") >= offline, $"{s.ToName()} at b = {b}: AUC {Hmean(s, b, "auc"):F3} below offline {offline:F3}");
        }
        Assert.True(Hmean(QueryStrategyKind.Hybrid, 0.1, "auc") >= Hmean(QueryStrategyKind.None, 0.1, "auc") + 0.05);
        Assert.True(Hmean(QueryStrategyKind.Hybrid, 0.1, "pauc") >= Hmean(QueryStrategyKind.None, 0.1, "pauc") + 0.05);
        Assert.All(results.Where(r => r.Budget == 0.1), r => Assert.True(r.RealisedBudget <= 0.12, $"{r.Strategy.ToName()} labelled {r.RealisedBudget}"));
    }

    [Fact]
    public void Domain_scoring_lifts_the_offline_model_over_eq_1()
    {
        var settings = Settings with { Strategies = [QueryStrategyKind.None], Budgets = [0], Scorings = [ScoringKind.Paper, ScoringKind.Domain] };
        var summary = ExperimentSummary.Summarise(PrequentialExperiment.Run(Plant, settings, cancellation: TestContext.Current.CancellationToken));
        double Auc(ScoringKind k) => summary.Single(r => r.Machine == "hmean" && r.Point.Scoring == k && r.Metric == "auc").Mean;
        Assert.True(Auc(ScoringKind.Domain) > Auc(ScoringKind.Paper), $"domain {Auc(ScoringKind.Domain):F3} vs Eq. 1 {Auc(ScoringKind.Paper):F3}");
    }

    [Fact]
    public void The_safe_anomaly_term_never_lowers_a_score_and_vanishes_without_anomalies()
    {
        var (train, test) = TestData.Machine(seed: 26);
        foreach (var scoring in new[] { ScoringKind.Margin, ScoringKind.Domain, ScoringKind.Local })
        {
            var model = MachineModel.Enroll(new MachineConfig { Scoring = scoring, Gamma = 0.5 }, train);
            var before = test.Select(c => model.Score(c.Embedding)).ToList();
            foreach (var anomaly in test.Where(c => c.IsAnomaly).Take(5))
                model.ApplyLabel(anomaly.Embedding, 0.5, ClipLabel.Anomalous);
            var after = test.Select(c => model.Score(c.Embedding)).ToList();
            for (int i = 0; i < test.Count; i++)
                Assert.True(after[i] >= before[i], $"{scoring.ToName()}: clip {i} fell from {before[i]} to {after[i]}");
            Assert.Contains(after.Zip(before), p => p.First > p.Second); // and it does raise some
        }
    }

    [Fact]
    public void Scaled_scores_divide_by_the_domains_typical_distance()
    {
        var (train, _) = TestData.Machine(seed: 27);
        var model = MachineModel.Enroll(new MachineConfig { Scoring = ScoringKind.Domain }, train);
        var scales = model.ReferenceScales;
        Assert.Equal(model.ReferenceSet.Count, scales.Count);
        int source = train.Count(c => !c.IsTargetDomain); // the default keeps every source clip in N
        Assert.Equal(source + train.Count(c => c.IsTargetDomain), model.ReferenceSet.Count);
        Assert.Single(scales.Take(source).Distinct()); // the source clips share the source scale
        Assert.Single(scales.Skip(source).Distinct()); // the 10 target clips share the target scale
        Assert.NotEqual(scales[0], scales[^1]);
        // A clip exactly at a reference scores 0 (up to the fp16 row's rounding); labelled normals join N with a scale.
        Assert.Equal(0, model.Score(model.ReferenceSet.RowToArray(40)), 4);
        model.ApplyLabel(TestData.Machine(seed: 27).Test[0].Embedding, 0.1, ClipLabel.Normal);
        Assert.Equal(model.ReferenceSet.Count, model.ReferenceScales.Count);
    }

    [Theory]
    [InlineData(8)]
    [InlineData(32)]
    public void With_k_means_centres_the_source_scale_is_the_distance_new_source_normals_land_at(int centres)
    {
        var (train, test) = TestData.Machine(seed: 31, testPerDomainAndLabel: 200);
        var model = MachineModel.Enroll(new MachineConfig { Scoring = ScoringKind.Domain, SourceClusters = centres }, train);
        double scale = model.ReferenceScales[0];
        var fresh = test.Where(r => !r.IsTarget && !r.IsAnomaly).Select(r => EmbeddingMath.Normalized(r.Embedding)).ToList();
        double landed = fresh.Average(x => 1.0 - model.ReferenceSet.MaxCosine(x));
        // The in-sample distance (a clip against centres fitted on it) is 19 % short of this with 32 centres (ratio 0.81).
        Assert.InRange(scale / landed, 0.9, 1.15);
    }

    [Fact]
    public void With_every_clip_in_N_the_thresholds_come_from_leave_one_out_scores_so_normals_are_rarely_alerts()
    {
        var (train, test) = TestData.Machine(seed: 33, testPerDomainAndLabel: 200);
        var model = MachineModel.Enroll(new MachineConfig(), train); // the default: every source clip is a row of N
        Assert.Equal(train.Count, model.ReferenceSet.Count);
        Assert.True(model.DecisionThreshold > 0 && model.LabellingThreshold > 0);
        Assert.All(model.NormalScores, m => Assert.True(m > 0)); // a clip scored against itself would give 0
        double Flagged(bool target) => test.Where(r => !r.IsAnomaly && r.IsTarget == target)
            .Average(r => model.Score(r.Embedding) > model.DecisionThreshold ? 1.0 : 0.0);
        // φ is M's 0.9 quantile (Gamma fit): about one source normal in ten; target normals, with 10 references, more often.
        Assert.InRange(Flagged(false), 0.01, 0.25);
        Assert.InRange(Flagged(true), 0.01, 0.6);
    }
}
