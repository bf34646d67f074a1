using AsdOrleans.Method.Randomness;
using AsdOrleans.Method.Scoring;

namespace AsdOrleans.Method.Machines;

/// <summary>
/// The reductions that keep a machine's N, A and M bounded (issue 13, docs/decisions.md). N and A: once a set holds
/// its cap, each new embedding costs one merge of the closest pair (<see cref="ClosestPairReducer"/>); a row's weight
/// counts the embeddings it stands for. M: Vitter's reservoir (algorithm R), so M stays a uniform sample of every
/// score and its quantiles, mean and variance stay unbiased; the draw is a hash of (seed, count), so it needs no
/// random state of its own.
/// </summary>
public static class StateBounds
{
    /// <summary>N's default cap (measured in docs/benchmarks.md, issue 13).</summary>
    public const int DefaultReferenceCap = 512;
    public const int DefaultAnomalyCap = 128;
    /// <summary>M's default cap: the paper's enrollment of 1,000 normals per machine fits whole.</summary>
    public const int DefaultScoreCap = 1000;

    /// <summary>Merges <paramref name="embedding"/> into row <paramref name="row"/> of a full set, weighted by what the row stands for.</summary>
    public static void Merge(EmbeddingSet set, List<float> weights, int row, ReadOnlySpan<float> embedding)
    {
        set.Merge(row, embedding, weights[row]);
        weights[row] += 1;
    }

    /// <summary>Offers score number <paramref name="seen"/> (0-based count of scores offered before it) to a reservoir of <paramref name="cap"/>.</summary>
    public static void Offer(List<double> scores, int cap, long seen, double score, ulong seed)
    {
        if (cap == 0 || scores.Count < cap)
        {
            scores.Add(score);
            return;
        }
        // Algorithm R: the (seen+1)-th item replaces a uniform slot with probability cap/(seen+1).
        ulong slot = RandomState.DeriveSeed(seed, 0x4D /* M */, (ulong)seen) % (ulong)(seen + 1);
        if (slot < (ulong)cap) scores[(int)slot] = score;
    }
}
