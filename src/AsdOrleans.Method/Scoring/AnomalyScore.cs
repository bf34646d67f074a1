namespace AsdOrleans.Method.Scoring;

/// <summary>The paper's anomaly scores (Ho, Dohi, Kawaguchi, Eq. 1–3), all over normalised embeddings.</summary>
public static class AnomalyScore
{
    /// <summary>Eq. 1: A(x) = 1 − max_{e∈N} cos(f(x), e).</summary>
    public static double DistanceToReference(EmbeddingSet referenceSet, ReadOnlySpan<float> normalizedEmbedding)
    {
        if (referenceSet.Count == 0)
            throw new InvalidOperationException("the reference set N is empty: enroll the machine first");
        return 1.0 - referenceSet.MaxCosine(normalizedEmbedding);
    }

    /// <summary>Eq. 2: S(x) = max_{e∈A} cos(f(x), e) over the labelled anomalies.</summary>
    public static double SimilarityToAnomalies(EmbeddingSet anomalySet, ReadOnlySpan<float> normalizedEmbedding)
        => anomalySet.MaxCosine(normalizedEmbedding);

    /// <summary>Eq. 3: Â(x) = A(x) if A is empty, else (1−γ)·A(x) + γ·S(x).</summary>
    public static double Combined(EmbeddingSet referenceSet, EmbeddingSet anomalySet, ReadOnlySpan<float> normalizedEmbedding, double gamma)
    {
        double distance = DistanceToReference(referenceSet, normalizedEmbedding);
        if (anomalySet.Count == 0)
            return distance;
        return (1.0 - gamma) * distance + gamma * SimilarityToAnomalies(anomalySet, normalizedEmbedding);
    }
}
