using AsdOrleans.Method.Budget;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Method.Machines;

/// <summary>
/// One machine's method parameters: the one record of defaults that grain settings, CLI options and experiments
/// read (issue 10). A new <c>MachineConfig()</c> is the default recipe (<see cref="Default"/>); <see cref="Paper"/> is
/// exactly the paper's method as docs/design.md §1 reads it. The two differ in <see cref="Scoring"/>,
/// <see cref="BudgetManager"/>, the state caps, <see cref="SourceClusters"/>, <see cref="EmbeddingPrecision"/> and
/// <see cref="DecisionThresholds"/>; every
/// other value is the paper's.
/// Immutable; <see cref="Validate"/> rejects impossible values with a message naming the parameter.
/// </summary>
public sealed record MachineConfig
{
    /// <summary>The default recipe for a new machine (docs/decisions.md, issue 11: why these).</summary>
    public static readonly MachineConfig Default = new();

    /// <summary>The paper's method (docs/design.md §1): Eq. 1–3 scoring, Žliobaitė's b̂ started at 0, and N, A, M unbounded in fp32.</summary>
    public static readonly MachineConfig Paper = new()
    {
        Scoring = ScoringKind.Paper, BudgetManager = BudgetManagerKind.Paper, ReferenceCap = 0, AnomalyCap = 0, ScoreCap = 0,
        SourceClusters = PaperSourceClusters, EmbeddingPrecision = EmbeddingPrecision.Fp32, DecisionThresholds = DecisionThresholdKind.Single,
    };

    /// <summary>The paper's k-means summary of the source-domain training clips.</summary>
    public const int PaperSourceClusters = 32;
    /// <summary><see cref="SourceClusters"/> that keeps every source training clip in N (1-NN).</summary>
    public const int AllSourceClips = int.MaxValue;

    /// <summary>Methods by name: <c>default</c> and <c>paper</c>.</summary>
    public static IReadOnlyList<string> MethodNames { get; } = ["default", "paper"];

    public static MachineConfig ForMethod(string name) => name.Trim().ToLowerInvariant() switch
    {
        "default" => Default,
        "paper" => Paper,
        _ => throw new ArgumentException($"unknown method '{name}'; known: {string.Join(", ", MethodNames)}"),
    };

    /// <summary>How clips are scored (Eq. 1–3, or a domain-robust / safe variant).</summary>
    public ScoringKind Scoring { get; init; } = ScoringKind.Domain;

    /// <summary>How the label budget is spent: paced from the first clip, or the paper's b̂ from 0.</summary>
    public BudgetManagerKind BudgetManager { get; init; } = BudgetManagerKind.Paced;

    /// <summary>Which query strategy decides when to ask for a label.</summary>
    public QueryStrategyKind Strategy { get; init; } = QueryStrategyKind.Hybrid;

    /// <summary>b: the fraction of clips that may be labelled.</summary>
    public double Budget { get; init; } = 0.1;

    /// <summary>γ of Eq. 3: weight of the similarity to labelled anomalies.</summary>
    public double Gamma { get; init; } = 0.5;

    /// <summary>α: the variable-uncertainty step that raises or lowers the labelling threshold h.</summary>
    public double Alpha { get; init; } = 0.01;

    /// <summary>w: the window of the spent-budget estimate b̂.</summary>
    public int BudgetWindow { get; init; } = 200;

    /// <summary>v: the hybrid strategy uses its random branch when η ≤ v.</summary>
    public double RandomShare { get; init; } = 0.1;

    /// <summary>QBC committee size.</summary>
    public int CommitteeSize { get; init; } = 10;

    /// <summary>Share of the labelled normals each QBC member draws as its reference set.</summary>
    public double CommitteeSubsetFraction { get; init; } = 0.9;

    /// <summary>Balanced incremental quantile filter: utilities in the quantile window (w).</summary>
    public int UtilityWindow { get; init; } = 100;

    /// <summary>Balanced incremental quantile filter: tolerance window (w_tol).</summary>
    public int ToleranceWindow { get; init; } = 50;

    /// <summary>
    /// k of the k-means summary of source-domain training embeddings; at least the number of source clips keeps them all.
    /// The default keeps them all: the domain scale r of <see cref="ScoringKind.Domain"/> is a leave-one-out distance,
    /// which a clip's own k-means centre biases low (docs/decisions.md, "Issue 11 — whitened spectral statistics").
    /// </summary>
    public int SourceClusters { get; init; } = AllSourceClips;

    /// <summary>
    /// The k-means centres an enrollment with <paramref name="targetClips"/> target-domain clips uses: <see cref="SourceClusters"/>,
    /// or fewer where N would otherwise start above <see cref="ReferenceCap"/>.
    /// </summary>
    public int SourceClustersFor(int targetClips) =>
        ReferenceCap > 0 ? Math.Min(SourceClusters, Math.Max(1, ReferenceCap - targetClips)) : SourceClusters;

    /// <summary>Initial labelling threshold h = quantile(M, this).</summary>
    public double LabellingQuantile { get; init; } = 0.9;

    /// <summary>Decision threshold φ = this quantile of a Gamma fit to the enrollment scores.</summary>
    public double DecisionQuantile { get; init; } = 0.9;

    /// <summary>One φ per domain (the default; only the <c>domain</c> scoring has domain scales to tell them apart) or one
    /// for both (the paper's).</summary>
    public DecisionThresholdKind DecisionThresholds { get; init; } = DecisionThresholdKind.PerDomain;

    /// <summary>Seed of the machine's random generator (and of its k-means).</summary>
    public ulong Seed { get; init; }

    /// <summary>Most rows N may hold; a labelled normal beyond it is merged into its nearest row (issue 13). 0: unbounded (the paper's).</summary>
    public int ReferenceCap { get; init; } = StateBounds.DefaultReferenceCap;

    /// <summary>Most rows A may hold; beyond it a labelled anomaly is merged into its nearest row. 0: unbounded.</summary>
    public int AnomalyCap { get; init; } = StateBounds.DefaultAnomalyCap;

    /// <summary>Most scores M may hold; beyond it M is a uniform reservoir sample of every score it was given. 0: unbounded.</summary>
    public int ScoreCap { get; init; } = StateBounds.DefaultScoreCap;

    /// <summary>
    /// How N, A (and QBC's pool) store their rows. fp16 by default: N is most of a young machine's memory (21.5 of 35 KB
    /// at 42 rows), and 16 bits changed no experiment AUC by more than 0.005 (docs/decisions.md, "Issue 13 — embedding
    /// sets in 16 bits"); the paper's reproduction keeps fp32.
    /// </summary>
    public EmbeddingPrecision EmbeddingPrecision { get; init; } = EmbeddingPrecision.Fp16;

    /// <summary>Whether any of N, A, M is capped (such a machine's state is written in format 3).</summary>
    public bool IsBounded => ReferenceCap > 0 || AnomalyCap > 0 || ScoreCap > 0;

    public MachineConfig Validate()
    {
        if (!Enum.IsDefined(Strategy))
            throw new ArgumentException($"unknown query strategy {(int)Strategy}");
        if (!Enum.IsDefined(Scoring))
            throw new ArgumentException($"unknown scoring {(int)Scoring}");
        if (!Enum.IsDefined(BudgetManager))
            throw new ArgumentException($"unknown budget start {(int)BudgetManager}");
        if (!Enum.IsDefined(EmbeddingPrecision))
            throw new ArgumentException($"unknown embedding precision {(int)EmbeddingPrecision}");
        if (!Enum.IsDefined(DecisionThresholds))
            throw new ArgumentException($"unknown decision threshold kind {(int)DecisionThresholds}");
        RequireRange(Budget, 0, 1, "budget b");
        RequireRange(Gamma, 0, 1, "gamma γ");
        if (!(Alpha >= 0 && Alpha < 1))
            throw new ArgumentException($"alpha α must be in [0, 1), got {Alpha}");
        if (BudgetWindow < 1)
            throw new ArgumentException($"budget window w must be at least 1, got {BudgetWindow}");
        RequireRange(RandomShare, 0, 1, "random share v");
        if (CommitteeSize < 2)
            throw new ArgumentException($"committee size must be at least 2, got {CommitteeSize}");
        if (!(CommitteeSubsetFraction > 0 && CommitteeSubsetFraction <= 1))
            throw new ArgumentException($"committee subset fraction must be in (0, 1], got {CommitteeSubsetFraction}");
        if (UtilityWindow < 1)
            throw new ArgumentException($"utility window must be at least 1, got {UtilityWindow}");
        if (ToleranceWindow < 1)
            throw new ArgumentException($"tolerance window w_tol must be at least 1, got {ToleranceWindow}");
        if (SourceClusters < 1)
            throw new ArgumentException($"source clusters must be at least 1, got {SourceClusters}");
        RequireRange(LabellingQuantile, 0, 1, "labelling quantile");
        if (ReferenceCap < 0 || AnomalyCap < 0 || ScoreCap < 0)
            throw new ArgumentException($"state caps must be 0 (unbounded) or positive, got N {ReferenceCap}, A {AnomalyCap}, M {ScoreCap}");
        if (!(DecisionQuantile > 0 && DecisionQuantile < 1))
            throw new ArgumentException($"decision quantile must be in (0, 1), got {DecisionQuantile}");
        return this;
    }

    private static void RequireRange(double value, double low, double high, string name)
    {
        if (!(value >= low && value <= high))
            throw new ArgumentException($"{name} must be in [{low}, {high}], got {value}");
    }
}
