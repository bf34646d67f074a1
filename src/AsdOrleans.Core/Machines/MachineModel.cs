using AsdOrleans.Core.Enrollment;
using AsdOrleans.Core.Randomness;
using AsdOrleans.Core.Scoring;
using AsdOrleans.Core.Strategies;

namespace AsdOrleans.Core.Machines;

/// <summary>A label given by a human (or an oracle) to a queried clip.</summary>
public enum ClipLabel : byte { Normal = 0, Anomalous = 1 }

/// <summary>What the machine says about one clip.</summary>
public readonly record struct ClipOutcome(long ClipIndex, double Score, bool Anomalous, bool LabelRequested);

/// <summary>A pure query decision for clip <see cref="ClipIndex"/>; <see cref="MachineModel.Commit"/> applies it.</summary>
public readonly record struct QueryDecision(long ClipIndex, double Score, StrategyStep Step)
{
    public bool Query => Step.Query;
}

/// <summary>
/// One monitored machine: the paper's Algorithm 1 state (N, A, M, h, b̂, strategy state, RNG,
/// counters) and its operations. Plain C#, used identically by the grain, the experiment harness
/// and the tests. Not thread-safe: one caller at a time (a grain, or one harness run).
/// </summary>
public sealed partial class MachineModel
{
    private readonly List<double> _normalScores;
    private RandomState _random;

    private MachineModel(MachineConfig config, string modelVersion, EmbeddingSet referenceSet, EmbeddingSet anomalySet,
        List<double> normalScores, EmbeddingSet? labelledNormals)
    {
        Config = config;
        ModelVersion = modelVersion;
        ReferenceSet = referenceSet;
        AnomalySet = anomalySet;
        _normalScores = normalScores;
        LabelledNormals = labelledNormals;
        if (config.Strategy == QueryStrategyKind.Qbc)
        {
            if (labelledNormals is null)
                throw new ArgumentException("the qbc strategy needs the labelled normal embeddings; re-enroll the machine");
            Committee = new Committee(config.CommitteeSize, config.CommitteeSubsetFraction, RandomState.DeriveSeed(config.Seed, 0xC0 /* committee */));
            QuantileFilter = new BalancedIncrementalQuantileFilter(config.UtilityWindow, config.ToleranceWindow);
        }
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
    /// <summary>h: the labelling threshold of the variable-uncertainty rule.</summary>
    public double LabellingThreshold { get; private set; }
    /// <summary>φ: scores above it raise an alert.</summary>
    public double DecisionThreshold { get; private set; }
    /// <summary>b̂: Žliobaitė's spent-budget estimate over the window w.</summary>
    public double SpentBudget { get; private set; }
    public RandomState Random => _random;

    public long ClipsSeen { get; private set; }
    public long Queries { get; private set; }
    public long NormalLabels { get; private set; }
    public long AnomalousLabels { get; private set; }
    public double RealisedBudget => ClipsSeen == 0 ? 0 : (double)Queries / ClipsSeen;

    /// <summary>QBC only: every labelled normal (enrollment normals + labelled normals), the committee's pool.</summary>
    public EmbeddingSet? LabelledNormals { get; }
    internal Committee? Committee { get; }
    internal BalancedIncrementalQuantileFilter? QuantileFilter { get; }

    /// <summary>A fresh machine from an enrollment: h = quantile(M, 0.9), φ from a Gamma fit to M.</summary>
    public static MachineModel Create(MachineConfig config, MachineEnrollment enrollment)
    {
        config.Validate();
        var model = new MachineModel(config, enrollment.ModelVersion, enrollment.ReferenceSet.Clone(),
            new EmbeddingSet(enrollment.Dimension), enrollment.NormalScores.ToList(),
            config.Strategy == QueryStrategyKind.Qbc ? enrollment.TrainingNormals.Clone() : null);
        model.LabellingThreshold = ScoreQuantiles.EmpiricalQuantile(enrollment.NormalScores, config.LabellingQuantile);
        model.DecisionThreshold = ScoreQuantiles.GammaFitQuantile(enrollment.NormalScores, config.DecisionQuantile);
        model._random = RandomState.FromSeed(RandomState.DeriveSeed(config.Seed, 0xDEC /* decisions */));
        return model;
    }

    /// <summary>Enrolls from training clips and creates the machine in one step.</summary>
    public static MachineModel Enroll(MachineConfig config, IReadOnlyList<EnrollmentClip> clips, string modelVersion = "")
    {
        config.Validate();
        var enrollment = MachineEnrollment.Build(clips, config.SourceClusters, EnrollmentSeed(config), modelVersion);
        return Create(config, enrollment);
    }

    /// <summary>The k-means seed of an enrollment under <paramref name="config"/>.</summary>
    public static ulong EnrollmentSeed(MachineConfig config) => RandomState.DeriveSeed(config.Seed, 0x4B4D /* k-means */);

    /// <summary>Eq. 3 for a raw (not necessarily normalised) embedding.</summary>
    public double Score(ReadOnlySpan<float> embedding)
    {
        Span<float> normalised = stackalloc float[CheckDimension(embedding)];
        EmbeddingMath.Normalize(embedding, normalised);
        return ScoreNormalized(normalised);
    }

    public double ScoreNormalized(ReadOnlySpan<float> normalizedEmbedding)
        => AnomalyScore.Combined(ReferenceSet, AnomalySet, normalizedEmbedding, Config.Gamma);

    /// <summary>The query decision for the next clip. Pure: the machine is unchanged until <see cref="Commit"/>.</summary>
    public QueryDecision DecideNormalized(ReadOnlySpan<float> normalizedEmbedding, double score)
    {
        var context = new StrategyContext
        {
            Score = score,
            LabellingThreshold = LabellingThreshold,
            SpentBudget = SpentBudget,
            Config = Config,
            Random = _random,
            NormalizedEmbedding = normalizedEmbedding,
            Machine = this,
        };
        var step = QueryStrategies.For(Config.Strategy).Decide(context);
        return new QueryDecision(ClipsSeen, score, step);
    }

    /// <summary>Applies a decision made on the current state: h, RNG, strategy state, b̂ and counters.</summary>
    public void Commit(in QueryDecision decision)
    {
        if (decision.ClipIndex != ClipsSeen)
            throw new InvalidOperationException($"decision was made for clip {decision.ClipIndex} but the machine is at clip {ClipsSeen}");
        var step = decision.Step;
        LabellingThreshold = step.LabellingThreshold;
        _random = step.Random;
        QuantileFilter?.Record(step.Utility, step.Query);
        int w = Config.BudgetWindow;
        SpentBudget = ((w - 1) * SpentBudget + (step.Query ? 1 : 0)) / w;
        ClipsSeen++;
        if (step.Query) Queries++;
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
        double score = ScoreNormalized(normalizedEmbedding);
        var decision = DecideNormalized(normalizedEmbedding, score);
        Commit(decision);
        return new ClipOutcome(decision.ClipIndex, score, score > DecisionThreshold, decision.Query);
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
                AnomalySet.AddNormalized(normalizedEmbedding);
                AnomalousLabels++;
                break;
            case ClipLabel.Normal:
                ReferenceSet.AddNormalized(normalizedEmbedding);
                _normalScores.Add(score);
                LabelledNormals?.AddNormalized(normalizedEmbedding);
                NormalLabels++;
                break;
            default:
                throw new ArgumentException($"unknown label {(int)label}");
        }
    }

    private int CheckDimension(ReadOnlySpan<float> embedding)
    {
        if (embedding.Length != Dimension)
            throw new ArgumentException($"embedding has {embedding.Length} dimensions, this machine's model makes {Dimension}");
        return Dimension;
    }
}
