using AsdOrleans.Method.Scoring;

namespace AsdOrleans.Method.Enrollment;

/// <summary>
/// Whitening for enrollment: the machine's <see cref="FeatureWhitener"/>, its training clips whitened, and for each clip
/// the distance at which it lands when the whitener and the other clips were fitted without it. A whitener fitted on a
/// clip pulls that clip towards the others (its own variation is what it whitens away), so in-sample distances understate
/// where new normal clips land, and more so for the domain with many clips than for the one with few: test normals of the
/// target domain then outscored those of the source (docs/decisions.md, "Issue 11 — cross-fitted domain scales").
/// The domain scoring takes each domain's scale partly, and the enrollment scores M wholly, from these held-out distances
/// (<see cref="MachineEnrollment"/>). The grain and the experiment harness both enroll through <see cref="Fit"/>.
/// </summary>
public static class HeldOutWhitening
{
    /// <summary>Folds of the cross-fit: each domain's clips are dealt round-robin into this many folds (one clip per fold,
    /// leave-one-out, where a domain has fewer).</summary>
    public const int Folds = 10;

    /// <summary>The whitener fitted on every clip, and the clips whitened by it, each with its held-out distance.</summary>
    public static (FeatureWhitener Whitener, List<EnrollmentClip> Clips) Fit(IReadOnlyList<EnrollmentClip> raw)
    {
        var embeddings = raw.Select(c => c.Embedding).ToList();
        var domains = raw.Select(c => c.IsTargetDomain).ToList();
        var whitener = FeatureWhitener.Fit(embeddings, domains);
        var heldOut = Distances(embeddings, domains);
        var clips = raw.Select((c, i) => new EnrollmentClip(whitener.Transform(c.Embedding), c.IsTargetDomain, heldOut[i])).ToList();
        return (whitener, clips);
    }

    /// <summary>
    /// Per clip, the cosine distance to its nearest clip of the other folds, both whitened by a whitener fitted on the other
    /// folds. Folds deal each domain's clips in turn, so every fold holds both domains where they have clips enough. A fold
    /// whose complement has fewer than two clips, or clips that do not vary within their domain (nothing to fit on), leaves
    /// its clips' distances as null.
    /// </summary>
    public static double?[] Distances(IReadOnlyList<float[]> training, IReadOnlyList<bool> isTargetDomain)
    {
        int n = training.Count;
        var fold = new int[n];
        var seen = new int[2];
        for (int i = 0; i < n; i++) fold[i] = seen[isTargetDomain[i] ? 1 : 0]++ % Folds;
        var result = new double?[n];
        for (int f = 0; f < Folds; f++)
        {
            var fit = Enumerable.Range(0, n).Where(i => fold[i] != f).ToList();
            var held = Enumerable.Range(0, n).Where(i => fold[i] == f).ToList();
            if (held.Count == 0 || fit.Count < 2) continue;
            var whitener = FeatureWhitener.FitIfVarying(fit.Select(i => training[i]).ToList(), fit.Select(i => isTargetDomain[i]).ToList());
            if (whitener is null) continue;
            var rows = new EmbeddingSet(training[0].Length, fit.Count);
            foreach (int i in fit) rows.AddNormalized(EmbeddingMath.Normalized(whitener.Transform(training[i])));
            foreach (int i in held)
                result[i] = Math.Max(0, 1.0 - rows.MaxCosine(EmbeddingMath.Normalized(whitener.Transform(training[i]))));
        }
        return result;
    }
}
