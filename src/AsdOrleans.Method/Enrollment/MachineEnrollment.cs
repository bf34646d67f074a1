using AsdOrleans.Method.Scoring;

namespace AsdOrleans.Method.Enrollment;

/// <summary>
/// What enrollment derives from a machine's training clips, independent of the query strategy:
/// the reference set N, the enrollment scores M, and the normalised training normals (the QBC pool).
/// Built once and shared read-only; <see cref="Machines.MachineModel.Create"/> copies what it mutates.
/// </summary>
public sealed class MachineEnrollment
{
    private MachineEnrollment(EmbeddingSet referenceSet, double[] normalScores, EmbeddingSet trainingNormals, string modelVersion,
        bool[] trainingIsTarget, int sourceReferences, bool sourceClipsAreReferences, double[]? heldOutDistances)
    {
        _heldOutDistances = heldOutDistances;
        ReferenceSet = referenceSet;
        NormalScores = normalScores;
        TrainingNormals = trainingNormals;
        ModelVersion = modelVersion;
        TrainingIsTarget = trainingIsTarget;
        SourceReferences = sourceReferences;
        _sourceClipsAreReferences = sourceClipsAreReferences;
        _ownReference = new int[trainingIsTarget.Length];
        int sourceSeen = 0, targetSeen = 0;
        for (int i = 0; i < trainingIsTarget.Length; i++)
            _ownReference[i] = trainingIsTarget[i] ? sourceReferences + targetSeen++ : sourceClipsAreReferences ? sourceSeen++ : -1;
    }

    private readonly bool _sourceClipsAreReferences;
    private readonly int[] _ownReference;
    private readonly Dictionary<ScoringKind, (float[] Rows, double Source, double Target)> _scales = [];
    private readonly double[]? _heldOutDistances;

    public EmbeddingSet ReferenceSet { get; }
    /// <summary>M: Eq. 1 scores of the training normals against N.</summary>
    public IReadOnlyList<double> NormalScores { get; }
    public EmbeddingSet TrainingNormals { get; }
    public string ModelVersion { get; }
    public int Dimension => ReferenceSet.Dimension;
    /// <summary>Domain of each training clip, in <see cref="TrainingNormals"/> order.</summary>
    public IReadOnlyList<bool> TrainingIsTarget { get; }
    /// <summary>N's first rows come from the source domain (k-means centres, or the clips when there are few), the rest are target clips.</summary>
    public int SourceReferences { get; }

    /// <summary>The row of N that is training clip <paramref name="trainingIndex"/> itself (every target clip; the source
    /// clips when N keeps them rather than k-means centres), or −1.</summary>
    public int OwnReference(int trainingIndex) => _ownReference[trainingIndex];

    public static MachineEnrollment Build(IReadOnlyList<EnrollmentClip> clips, int sourceClusters, ulong seed, string modelVersion = "")
    {
        if (TooFewClips(clips.Count) is { } tooFew)
            throw new ArgumentException(tooFew);
        var referenceSet = ReferenceSetBuilder.Build(clips, sourceClusters, seed);
        var trainingNormals = new EmbeddingSet(referenceSet.Dimension, clips.Count);
        var normalised = new float[referenceSet.Dimension];
        foreach (var clip in clips)
        {
            EmbeddingMath.Normalize(clip.Embedding, normalised);
            trainingNormals.AddNormalized(normalised);
        }
        // Where no feature transform was fitted (the model's embeddings), copies of one clip reach this far.
        if (Enumerable.Range(1, trainingNormals.Count - 1).All(i => trainingNormals.Row(i).SequenceEqual(trainingNormals.Row(0))))
            throw new UnvaryingTrainingException($"{UnvaryingTrainingException.Clips(clips.Count)} do not vary in direction (copies of one recording): "
                + "they count as one clip, and the decision threshold would be 0");
        var scores = new double[clips.Count];
        for (int i = 0; i < clips.Count; i++)
            scores[i] = AnomalyScore.DistanceToReference(referenceSet, trainingNormals.Row(i));
        int sourceClips = clips.Count(c => !c.IsTargetDomain);
        // Held-out distances count only when every clip has one (HeldOutWhitening gives them to all clips it can).
        var heldOut = clips.All(c => c.HeldOutDistance is not null) ? clips.Select(c => c.HeldOutDistance!.Value).ToArray() : null;
        return new MachineEnrollment(referenceSet, scores, trainingNormals, modelVersion, clips.Select(c => c.IsTargetDomain).ToArray(),
            Math.Min(sourceClusters, sourceClips), sourceClips <= sourceClusters, heldOut);
    }

    /// <summary>The fewest training clips an enrollment takes.</summary>
    public const int MinimumClips = 2;

    /// <summary>Why <paramref name="count"/> training clips cannot enroll a machine, or null. φ and the scales come from
    /// how the clips score against each other: one clip scores 0 against itself, which would put φ at 0 and raise an
    /// alert on every clip.</summary>
    public static string? TooFewClips(int count) => count >= MinimumClips ? null
        : $"enrollment needs at least {MinimumClips} training clips (got {count}): the decision threshold comes from how they score against each other";

    /// <summary>Whether the clips came with held-out distances (<see cref="HeldOutWhitening"/>): then, under the
    /// <see cref="ScoringKind.Domain"/> scoring, each domain's scale and the enrollment scores M come from them rather than
    /// from distances in the space fitted on the clips.</summary>
    public bool HasHeldOutDistances => _heldOutDistances is not null;

    /// <summary>Training clip <paramref name="trainingIndex"/>'s held-out distance (<see cref="HeldOutWhitening"/>); null without them.</summary>
    public double? HeldOutDistance(int trainingIndex) => _heldOutDistances?[trainingIndex];

    /// <summary>Training clip <paramref name="trainingIndex"/>'s score as a new normal clip of its domain would get it: its
    /// held-out distance over its domain's scale; null without held-out distances or under another scoring than domain.</summary>
    public double? HeldOutScore(int trainingIndex, ScoringKind scoring)
    {
        if (_heldOutDistances is null || scoring != ScoringKind.Domain) return null;
        var (_, source, target) = Scales(scoring);
        return _heldOutDistances[trainingIndex] / (TrainingIsTarget[trainingIndex] ? target : source);
    }

    /// <summary>
    /// The per-reference scales r_j of a scaled scoring (<see cref="ScaledScore"/>), from leave-one-out distances of the
    /// training clips to N (a clip that is itself a row of N is compared with the other rows): <see cref="ScoringKind.Domain"/>
    /// gives every row its domain's mean distance; <see cref="ScoringKind.Local"/> gives each row the mean distance of the
    /// training clips whose nearest row it is (its domain's mean when none is). Empty for unscaled scorings. Cached.
    /// </summary>
    public float[] ReferenceScales(ScoringKind scoring) => scoring.UsesScales() ? Scales(scoring).Rows : [];

    /// <summary>The source and the target domain's scale, as the rows of <see cref="ReferenceScales"/> hold them.</summary>
    public (float Source, float Target) DomainScales(ScoringKind scoring)
    {
        var (_, source, target) = Scales(scoring);
        return ((float)source, (float)target);
    }

    private (float[] Rows, double Source, double Target) Scales(ScoringKind scoring)
    {
        lock (_scales)
        {
            if (_scales.TryGetValue(scoring, out var cached)) return cached;
            var scales = ComputeScales(scoring);
            _scales[scoring] = scales;
            return scales;
        }
    }

    private (float[] Rows, double Source, double Target) ComputeScales(ScoringKind scoring)
    {
        int rows = ReferenceSet.Count;
        var cosines = new float[rows];
        var sums = new double[rows];
        var counts = new int[rows];
        double[] domainSum = new double[2];
        int[] domainCount = new int[2];
        for (int i = 0; i < TrainingNormals.Count; i++)
        {
            bool target = TrainingIsTarget[i];
            var (unscaled, nearest) = ScaledScore.Distance(ReferenceSet, [], TrainingNormals.Row(i), cosines, excluded: _ownReference[i]);
            if (nearest < 0) continue; // a single reference: nothing to compare with
            double distance = Math.Max(0, unscaled);
            sums[nearest] += distance;
            counts[nearest]++;
            domainSum[target ? 1 : 0] += distance;
            domainCount[target ? 1 : 0]++;
        }
        if (!_sourceClipsAreReferences && HeldOutSourceDistance() is var (heldOutSum, heldOutCount) && heldOutCount > 0)
        {
            domainSum[0] = heldOutSum;
            domainCount[0] = heldOutCount;
        }
        double overall = domainCount[0] + domainCount[1] > 0 ? (domainSum[0] + domainSum[1]) / (domainCount[0] + domainCount[1]) : 1;
        double InSample(int d) => domainCount[d] > 0 ? domainSum[d] / domainCount[d] : overall;
        var heldOut = HeldOutDomainMeans(scoring);
        // Whitened clips under the domain scoring: the geometric mean of the in-sample and the held-out distance. In-sample
        // understates where new normals land, the more so for the larger domain; the held-out distance balances the domains
        // but costs the mixed-domain AUC (docs/decisions.md, "Issue 11 — cross-fitted domain scales").
        double Domain(int d) => Floor(heldOut is null || double.IsNaN(heldOut[d]) ? InSample(d) : Math.Sqrt(InSample(d) * heldOut[d]));
        var result = new float[rows];
        for (int j = 0; j < rows; j++)
        {
            double domain = Domain(j < SourceReferences ? 0 : 1);
            result[j] = (float)(scoring == ScoringKind.Local && counts[j] > 0 ? Floor(sums[j] / counts[j]) : domain);
        }
        return (result, Domain(0), Domain(1));
    }

    private static double Floor(double scale) => Math.Max(scale, 1e-4);

    /// <summary>Each domain's mean held-out distance (NaN for a domain without clips); null where none apply.</summary>
    private double[]? HeldOutDomainMeans(ScoringKind scoring)
    {
        if (_heldOutDistances is null || scoring != ScoringKind.Domain) return null;
        var sum = new double[2];
        var count = new int[2];
        for (int i = 0; i < _heldOutDistances.Length; i++)
        {
            sum[TrainingIsTarget[i] ? 1 : 0] += _heldOutDistances[i];
            count[TrainingIsTarget[i] ? 1 : 0]++;
        }
        return [count[0] > 0 ? sum[0] / count[0] : double.NaN, count[1] > 0 ? sum[1] / count[1] : double.NaN];
    }

    /// <summary>
    /// The source domain's typical distance when N holds k-means centres rather than the clips: a clip's own cluster
    /// centre was fitted on it, so its distance to N understates how far a new normal clip lands (the scale came out
    /// too small and source clips scored too high; docs/decisions.md, "Issue 11 — whitened spectral statistics"). Two-fold
    /// cross-fitting instead: centres fitted on the even-numbered source clips score the odd-numbered ones against
    /// them and the target rows, and the other way round. Deterministic (a fixed k-means seed). Sum and count of the distances.
    /// </summary>
    private (double Sum, int Count) HeldOutSourceDistance()
    {
        int d = Dimension;
        var source = Enumerable.Range(0, TrainingNormals.Count).Where(i => !TrainingIsTarget[i]).ToList();
        if (source.Count < 4) return (0, 0);
        double sum = 0;
        int count = 0;
        for (int fold = 0; fold < 2; fold++)
        {
            var fit = source.Where((_, i) => i % 2 == fold).ToList();
            var held = source.Where((_, i) => i % 2 != fold).ToList();
            int k = Math.Min(SourceReferences, fit.Count);
            var points = new float[fit.Count * d];
            for (int i = 0; i < fit.Count; i++) TrainingNormals.Row(fit[i]).CopyTo(points.AsSpan(i * d, d));
            var centres = KMeans.Fit(points, d, k, CrossFitSeed + (ulong)fold);
            var rows = new EmbeddingSet(d, k + ReferenceSet.Count - SourceReferences);
            var normalised = new float[d];
            for (int c = 0; c < k; c++)
            {
                EmbeddingMath.Normalize(centres.AsSpan(c * d, d), normalised);
                rows.AddNormalized(normalised);
            }
            for (int j = SourceReferences; j < ReferenceSet.Count; j++) rows.AddNormalized(ReferenceSet.Row(j));
            foreach (int i in held)
            {
                sum += Math.Max(0, 1.0 - rows.MaxCosine(TrainingNormals.Row(i)));
                count++;
            }
        }
        return (sum, count);
    }

    private const ulong CrossFitSeed = 0x5CA1EF17;
}
