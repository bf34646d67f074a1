using AsdOrleans.Method.Budget;
using AsdOrleans.Method.Enrollment;
using AsdOrleans.Method.Randomness;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Method.Machines;

/// <summary>A label given by a human (or an oracle) to a queried clip.</summary>
public enum ClipLabel : byte { Normal = 0, Anomalous = 1 }

/// <summary>What the machine says about one clip.</summary>
/// <param name="DecisionThreshold">The φ the score was compared with (its domain's, where the machine keeps one per domain).</param>
public readonly record struct ClipOutcome(long ClipIndex, double Score, bool Anomalous, QueryReason QueryReason, double DecisionThreshold)
{
    public bool LabelRequested => QueryReason != QueryReason.None;
}

/// <summary>A pure query decision for clip <see cref="ClipIndex"/>; <see cref="MachineModel.Commit"/> applies it.</summary>
public readonly record struct QueryDecision(long ClipIndex, double Score, StrategyStep Step)
{
    public QueryReason Reason => Step.Reason;
}

/// <summary>
/// One monitored machine: the paper's Algorithm 1 state (N, A, M, h, b̂, strategy state, RNG,
/// counters) and its operations. Plain C#, used identically by the grain, the experiment harness
/// and the tests. Not thread-safe: one caller at a time (a grain, or one harness run).
/// </summary>
public sealed partial class MachineModel
{
    private readonly List<double> _normalScores;
    /// <summary>r_j per row of N for a scaled scoring (<see cref="ScaledScore"/>); empty otherwise.</summary>
    private readonly List<float> _scales;
    private RandomState _random;
    private float[] _cosines = [];

    private MachineModel(MachineConfig config, string modelVersion, EmbeddingSet referenceSet, EmbeddingSet anomalySet,
        List<double> normalScores, List<float> scales, BudgetManager budget, StrategyState? strategyState)
    {
        Config = config;
        ModelVersion = modelVersion;
        ReferenceSet = referenceSet;
        AnomalySet = anomalySet;
        referenceSet.GrowthLimit = config.ReferenceCap;
        anomalySet.GrowthLimit = config.AnomalyCap;
        _normalScores = normalScores;
        _scales = scales;
        Budget = budget;
        StrategyState = strategyState;
        if (config.Scoring.UsesScales() != (scales.Count > 0) || (scales.Count > 0 && scales.Count != referenceSet.Count))
            throw new ArgumentException($"the {config.Scoring.ToName()} scoring needs one scale per reference; re-enroll the machine");
        if (config.Strategy == QueryStrategyKind.Qbc && strategyState is not QbcState)
            throw new ArgumentException("the qbc strategy needs the labelled normal embeddings; re-enroll the machine");
    }

    public MachineConfig Config { get; }
    /// <summary>Version of the encoder model whose embeddings this machine holds.</summary>
    public string ModelVersion { get; }
    public int Dimension => ReferenceSet.Dimension;

    /// <summary>N: the reference set of normal embeddings.</summary>
    public EmbeddingSet ReferenceSet { get; }
    /// <summary>A: the labelled anomalous embeddings.</summary>
    public EmbeddingSet AnomalySet { get; }
    /// <summary>M: scores of the enrollment normals and of every clip labelled normal.</summary>
    public IReadOnlyList<double> NormalScores => _normalScores;
    /// <summary>The per-reference scales of a scaled scoring, one per row of N (empty for Eq. 1–3 and margin).</summary>
    public IReadOnlyList<float> ReferenceScales => _scales;
    /// <summary>h: the labelling threshold of the variable-uncertainty rule.</summary>
    public double LabellingThreshold { get; private set; }
    /// <summary>φ: scores above it raise an alert; the source domain's where the machine keeps one per domain
    /// (<see cref="DecisionThresholdTarget"/>).</summary>
    public double DecisionThreshold { get; private set; }
    /// <summary>The target domain's φ under the <c>domain</c> scoring (<see cref="DomainDecisionThresholds"/>); null where the
    /// machine keeps one φ (the paper's method, other scorings, the <c>single</c> setting, or an enrollment without both domains).</summary>
    public double? DecisionThresholdTarget { get; private set; }
    private DomainDecisionThresholds? _domainThresholds;
    /// <summary>The budget manager: how much of b is left (its own state, apart from the strategy's).</summary>
    public BudgetManager Budget { get; }
    /// <summary>b̂: Žliobaitė's spent-budget estimate over the window w, as the budget manager keeps it.</summary>
    public double SpentBudget => Budget.SpentEstimate;
    /// <summary>The strategy's own state (QBC's pool, committee and filter); null for strategies that keep none.</summary>
    public StrategyState? StrategyState { get; }
    public RandomState Random => _random;

    public long ClipsSeen { get; private set; }
    public long Queries { get; private set; }
    /// <summary>Of <see cref="Queries"/>, those the paced budget's floor made where the strategy passed (<see cref="QueryReason.BudgetFloor"/>).</summary>
    public long ForcedQueries { get; private set; }
    public long NormalLabels { get; private set; }
    public long AnomalousLabels { get; private set; }
    public double RealisedBudget => ClipsSeen == 0 ? 0 : (double)Queries / ClipsSeen;

    /// <summary>QBC only: every labelled normal (enrollment normals + labelled normals), the committee's pool.</summary>
    public EmbeddingSet? LabelledNormals => StrategyState is QbcState { DrawsFromReferenceSet: false } qbc ? qbc.Pool : null;

    /// <summary>A fresh machine from an enrollment: h = quantile(M, 0.9), φ from a Gamma fit to M.</summary>
    public static MachineModel Create(MachineConfig config, MachineEnrollment enrollment)
    {
        config.Validate();
        var scales = enrollment.ReferenceScales(config.Scoring).ToList();
        // N as the machine stores it, so M (and h, φ) come from the scores it will give.
        var reference = enrollment.ReferenceSet.ConvertedTo(config.EmbeddingPrecision);
        var scores = config.Scoring == ScoringKind.Paper
            ? enrollment.NormalScores.ToList()
            : EnrollmentScores(reference, enrollment, scales, config.Scoring);
        var model = new MachineModel(config, enrollment.ModelVersion, reference,
            new EmbeddingSet(enrollment.Dimension, 0, config.EmbeddingPrecision), scores, scales, AsdOrleans.Method.Budget.BudgetManager.Create(config.BudgetManager, config.Budget),
            QueryStrategies.For(config.Strategy).CreateState(config, enrollment));
        model.LabellingThreshold = ScoreQuantiles.EmpiricalQuantile(scores, config.LabellingQuantile);
        if (config.Scoring == ScoringKind.Domain)
        {
            var (sourceScale, targetScale) = enrollment.DomainScales(config.Scoring);
            model._domainThresholds = DomainDecisionThresholds.Fit(scores, enrollment.TrainingIsTarget, sourceScale, targetScale);
        }
        model.FitDecisionThresholds(scores, config.DecisionQuantile);
        model._random = RandomState.FromSeed(RandomState.DeriveSeed(config.Seed, 0xDEC /* decisions */));
        model.StartBounds();
        return model;
    }

    /// <summary>φ at <paramref name="quantile"/>: one per domain from the enrollment's fits where the machine keeps one per
    /// domain, or one from <paramref name="scores"/>. The fits are kept either way, so the setting can change back.</summary>
    private void FitDecisionThresholds(IReadOnlyList<double> scores, double quantile)
    {
        if (_domainThresholds is { } domains && Config.DecisionThresholds == DecisionThresholdKind.PerDomain)
        {
            DecisionThreshold = domains.Source.Quantile(quantile);
            DecisionThresholdTarget = domains.Target.Quantile(quantile);
            return;
        }
        DecisionThreshold = ScoreQuantiles.GammaFitQuantile(scores, quantile);
        DecisionThresholdTarget = null;
    }

    /// <summary>The φ a clip whose distance row <paramref name="nearest"/> gave is compared with.</summary>
    private double DecisionThresholdFor(int nearest) =>
        _domainThresholds is { } domains && DecisionThresholdTarget is { } target && nearest >= 0
            ? domains.For(_scales[nearest], DecisionThreshold, target)
            : DecisionThreshold;

    /// <summary>
    /// M under a non-paper scoring: each training normal's score against N without its own row (no anomalies yet), or from
    /// its held-out distance where the features were whitened on the clips. A clip scored against itself would score 0,
    /// and with every clip in N (the default) M — and so h and φ — would be all zeros: every clip an alert. The paper's
    /// scoring keeps Eq. 1 against all of N, as the paper's reproduction does.
    /// </summary>
    private static List<double> EnrollmentScores(EmbeddingSet reference, MachineEnrollment enrollment, List<float> scales, ScoringKind scoring)
    {
        var cosines = new float[reference.Count];
        var scores = new List<double>(enrollment.TrainingNormals.Count);
        for (int i = 0; i < enrollment.TrainingNormals.Count; i++)
        {
            if (enrollment.HeldOutScore(i, scoring) is { } heldOut)
            {
                scores.Add(heldOut);
                continue;
            }
            var (distance, nearest) = ScaledScore.Distance(reference, CollectionsMarshalSpan(scales), enrollment.TrainingNormals.Row(i),
                cosines, excluded: enrollment.OwnReference(i));
            // Features whitened on these clips (margin, local): the clip's held-out distance, over the scale of the row it is
            // nearest to. In the fitted space every clip sits closer to N than a new one will, so φ and h would sit below
            // every new clip's score.
            if (enrollment.HeldOutDistance(i) is { } heldOutDistance && nearest >= 0)
                distance = scales.Count == 0 ? heldOutDistance : heldOutDistance / scales[nearest];
            scores.Add(double.IsPositiveInfinity(distance) ? 0 : distance); // a single reference: nothing else to compare with
        }
        return scores;
    }

    private static ReadOnlySpan<float> CollectionsMarshalSpan(List<float> list) => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(list);

    /// <summary>Enrolls from training clips and creates the machine in one step.</summary>
    public static MachineModel Enroll(MachineConfig config, IReadOnlyList<EnrollmentClip> clips, string modelVersion = "")
    {
        config.Validate();
        var enrollment = MachineEnrollment.Build(clips, config.SourceClustersFor(clips.Count(c => c.IsTargetDomain)), EnrollmentSeed(config), modelVersion);
        return Create(config, enrollment);
    }

    /// <summary>The k-means seed of an enrollment under <paramref name="config"/>.</summary>
    public static ulong EnrollmentSeed(MachineConfig config) => RandomState.DeriveSeed(config.Seed, 0x4B4D /* k-means */);

    /// <summary>The machine's score (Eq. 3 or its configured variant) for a raw (not necessarily normalised) embedding.</summary>
    public double Score(ReadOnlySpan<float> embedding)
    {
        Span<float> normalised = stackalloc float[CheckDimension(embedding)];
        EmbeddingMath.Normalize(embedding, normalised);
        return ScoreNormalized(normalised);
    }

    public double ScoreNormalized(ReadOnlySpan<float> normalizedEmbedding) => ScoreNormalized(normalizedEmbedding, out _);

    /// <summary>The score, and the row of N that gave its distance (−1 under the paper's scoring).</summary>
    private double ScoreNormalized(ReadOnlySpan<float> normalizedEmbedding, out int nearest)
    {
        nearest = -1;
        if (Config.Scoring == ScoringKind.Paper)
            return AnomalyScore.Combined(ReferenceSet, AnomalySet, normalizedEmbedding, Config.Gamma);
        if (_cosines.Length < ReferenceSet.Count)
            _cosines = new float[Math.Max(ReferenceSet.Count, 2 * _cosines.Length)];
        return ScaledScore.Score(ReferenceSet, CollectionsMarshalSpan(_scales), AnomalySet, normalizedEmbedding, Config.Gamma, _cosines, out nearest);
    }

    /// <summary>
    /// The query decision for the next clip. Pure: the machine is unchanged until <see cref="Commit"/>. The budget
    /// manager says whether anything may be spent, and whether this clip must be (its floor); the strategy says whether
    /// this clip is worth it. A machine that queries nothing (`none`) is never made to.
    /// </summary>
    public QueryDecision DecideNormalized(ReadOnlySpan<float> normalizedEmbedding, double score)
    {
        var context = new StrategyContext
        {
            Score = score,
            LabellingThreshold = LabellingThreshold,
            BudgetAvailable = Budget.MaySpend(Config.Budget),
            BudgetPace = Budget.Pace(Config.Budget),
            SpentEstimate = Budget.SpentEstimate,
            Config = Config,
            Random = _random,
            NormalizedEmbedding = normalizedEmbedding,
            ReferenceSet = ReferenceSet,
            State = StrategyState,
        };
        var step = QueryStrategies.For(Config.Strategy).Decide(context);
        if (!step.Query && Config.Strategy != QueryStrategyKind.None && Budget.MustSpend(Config.Budget))
            step = step with { Reason = QueryReason.BudgetFloor };
        return new QueryDecision(ClipsSeen, score, step);
    }

    /// <summary>Applies a decision made on the current state: h and RNG, then the strategy's and the budget manager's own commits, then counters.</summary>
    public void Commit(in QueryDecision decision)
    {
        if (decision.ClipIndex != ClipsSeen)
            throw new InvalidOperationException($"decision was made for clip {decision.ClipIndex} but the machine is at clip {ClipsSeen}");
        var step = decision.Step;
        LabellingThreshold = step.LabellingThreshold;
        _random = step.Random;
        StrategyState?.Commit(step);
        Budget.Commit(step.Query, Config.Budget, Config.BudgetWindow);
        ClipsSeen++;
        if (step.Query) Queries++;
        if (step.Reason == QueryReason.BudgetFloor) ForcedQueries++;
    }

    /// <summary>Score, alert and query decision for one clip, committed (Algorithm 1 without the label).</summary>
    public ClipOutcome Process(ReadOnlySpan<float> embedding)
    {
        Span<float> normalised = stackalloc float[CheckDimension(embedding)];
        EmbeddingMath.Normalize(embedding, normalised);
        return ProcessNormalized(normalised);
    }

    public ClipOutcome ProcessNormalized(ReadOnlySpan<float> normalizedEmbedding)
    {
        double score = ScoreNormalized(normalizedEmbedding, out int nearest);
        double threshold = DecisionThresholdFor(nearest); // before Commit: the row is the one this score came from
        var decision = DecideNormalized(normalizedEmbedding, score);
        Commit(decision);
        return new ClipOutcome(decision.ClipIndex, score, score > threshold, decision.Reason, threshold);
    }

    /// <summary>
    /// Algorithm 1's label step: anomalous → A ← A ∪ {e}; normal → N ← N ∪ {e}, M ← M ∪ {s}
    /// (and the QBC pool grows). <paramref name="score"/> is the clip's score when it was processed.
    /// </summary>
    public void ApplyLabel(ReadOnlySpan<float> embedding, double score, ClipLabel label)
    {
        Span<float> normalised = stackalloc float[CheckDimension(embedding)];
        EmbeddingMath.Normalize(embedding, normalised);
        ApplyLabelNormalized(normalised, score, label);
    }

    public void ApplyLabelNormalized(ReadOnlySpan<float> normalizedEmbedding, double score, ClipLabel label)
    {
        if (!double.IsFinite(score))
            throw new ArgumentException($"score {score} is not a finite number");
        switch (label)
        {
            case ClipLabel.Anomalous:
                AddAnomaly(normalizedEmbedding);
                AnomalousLabels++;
                break;
            case ClipLabel.Normal:
                int nearest = -1;
                if (_scales.Count > 0)
                {
                    // Under a scaled scoring the nearest reference is the one the clip is scored against.
                    if (_cosines.Length < ReferenceSet.Count) _cosines = new float[Math.Max(ReferenceSet.Count, 2 * _cosines.Length)];
                    (_, nearest) = ScaledScore.Distance(ReferenceSet, CollectionsMarshalSpan(_scales), normalizedEmbedding, _cosines);
                }
                AddReference(normalizedEmbedding, nearest);
                AddScore(score);
                NormalLabels++;
                break;
            default:
                throw new ArgumentException($"unknown label {(int)label}");
        }
        StrategyState?.OnLabel(normalizedEmbedding, label);
    }

    private int CheckDimension(ReadOnlySpan<float> embedding)
    {
        if (embedding.Length != Dimension)
            throw new ArgumentException($"embedding has {embedding.Length} dimensions, this machine's model makes {Dimension}");
        return Dimension;
    }
}
