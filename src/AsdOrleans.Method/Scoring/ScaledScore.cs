namespace AsdOrleans.Method.Scoring;

/// <summary>
/// The scorings other than the paper's (<see cref="ScoringKind"/>). Distances are scaled per reference:
/// D(x) = min_j (1 − cos(x, e_j)) / r_j over N (r_j = 1 for <see cref="ScoringKind.Margin"/>). The anomaly term is
/// safe: γ·max(0, S(x) − cos(x, e*)) / r*, where e* is the reference that gives D and S is Eq. 2, so a labelled
/// anomaly only raises clips that are nearer to it than to their nearest normal, and a clip far from every labelled
/// anomaly keeps its offline score.
/// </summary>
public static class ScaledScore
{
    public static double Score(EmbeddingSet referenceSet, ReadOnlySpan<float> scales, EmbeddingSet anomalySet,
        ReadOnlySpan<float> normalizedEmbedding, double gamma, Span<float> cosines) =>
        Score(referenceSet, scales, anomalySet, normalizedEmbedding, gamma, cosines, out _);

    /// <summary>The score, and in <paramref name="nearest"/> the row of N that gives D (whose scale divides it).</summary>
    public static double Score(EmbeddingSet referenceSet, ReadOnlySpan<float> scales, EmbeddingSet anomalySet,
        ReadOnlySpan<float> normalizedEmbedding, double gamma, Span<float> cosines, out int nearest)
    {
        (double distance, nearest) = Distance(referenceSet, scales, normalizedEmbedding, cosines);
        if (anomalySet.Count == 0 || gamma == 0)
            return distance;
        double similarity = anomalySet.MaxCosine(normalizedEmbedding);
        double margin = Math.Max(0, similarity - cosines[nearest]);
        double scale = scales.IsEmpty ? 1 : scales[nearest];
        return distance + gamma * margin / scale;
    }

    /// <summary>
    /// D(x) and the index of the reference that gives it; <paramref name="cosines"/> gets every cos(x, e_j). Row
    /// <paramref name="excluded"/> (an enrollment clip's own row) is left out; with no other row D is +∞ and the index −1.
    /// </summary>
    public static (double Distance, int Nearest) Distance(EmbeddingSet referenceSet, ReadOnlySpan<float> scales,
        ReadOnlySpan<float> normalizedEmbedding, Span<float> cosines, int excluded = -1)
    {
        if (referenceSet.Count == 0)
            throw new InvalidOperationException("the reference set N is empty: enroll the machine first");
        referenceSet.Cosines(normalizedEmbedding, cosines);
        double best = double.PositiveInfinity;
        int nearest = excluded == 0 ? -1 : 0;
        for (int j = 0; j < referenceSet.Count; j++)
        {
            if (j == excluded) continue;
            double d = 1.0 - cosines[j];
            if (!scales.IsEmpty) d /= scales[j];
            if (d < best) { best = d; nearest = j; }
        }
        return (best, nearest);
    }
}
