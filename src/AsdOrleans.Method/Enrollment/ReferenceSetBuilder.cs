using AsdOrleans.Method.Scoring;

namespace AsdOrleans.Method.Enrollment;

/// <summary>One training clip's embedding and domain, as enrollment receives it.</summary>
/// <param name="HeldOutDistance">The clip's cosine distance to its nearest other training clip under a feature transform
/// fitted without it (<see cref="HeldOutWhitening"/>); null where the embedding space was not fitted on the clips.</param>
public readonly record struct EnrollmentClip(float[] Embedding, bool IsTargetDomain, double? HeldOutDistance = null);

/// <summary>
/// Builds the reference set N (docs/design.md §1): k-means++ centres of the source-domain training
/// embeddings (or the embeddings themselves when there are no more of them than centres) plus every target-domain
/// training embedding, all L2-normalised.
/// </summary>
public static class ReferenceSetBuilder
{
    public static EmbeddingSet Build(IReadOnlyList<EnrollmentClip> clips, int sourceClusters, ulong seed)
    {
        if (clips.Count == 0)
            throw new ArgumentException("enrollment needs at least one training clip");
        if (sourceClusters <= 0)
            throw new ArgumentOutOfRangeException(nameof(sourceClusters), "the number of source clusters must be positive");
        int dimension = clips[0].Embedding.Length;
        var source = new List<float[]>();
        var target = new List<float[]>();
        foreach (var clip in clips)
        {
            if (clip.Embedding.Length != dimension)
                throw new ArgumentException($"enrollment embeddings differ in dimension ({dimension} and {clip.Embedding.Length})");
            (clip.IsTargetDomain ? target : source).Add(EmbeddingMath.Normalized(clip.Embedding));
        }

        var set = new EmbeddingSet(dimension, Math.Min(sourceClusters, source.Count) + target.Count);
        if (source.Count <= sourceClusters)
        {
            // Fewer source clips than centres: the clips themselves are the best summary.
            foreach (var e in source) set.AddNormalized(e);
        }
        else
        {
            var points = new float[source.Count * dimension];
            for (int i = 0; i < source.Count; i++)
                source[i].CopyTo(points, i * dimension);
            var centres = KMeans.Fit(points, dimension, sourceClusters, seed);
            var normalised = new float[dimension];
            for (int c = 0; c < sourceClusters; c++)
            {
                EmbeddingMath.Normalize(centres.AsSpan(c * dimension, dimension), normalised);
                set.AddNormalized(normalised);
            }
        }
        foreach (var e in target) set.AddNormalized(e);
        return set;
    }
}
