using AsdOrleans.Method.Randomness;
using AsdOrleans.Method.Scoring;

namespace AsdOrleans.Method.Strategies;

/// <summary>
/// The QBC committee (docs/design.md §1): each member's reference set is a seeded random subset of all
/// labelled normal embeddings. Members are derived from (seed, pool size), so they are redrawn
/// whenever a normal label grows the pool and need no storage of their own.
/// </summary>
public sealed class Committee
{
    private readonly int _size;
    private readonly double _fraction;
    private readonly ulong _seed;
    private int[][] _members = [];
    private int _builtForPool = -1;
    private float[] _cosines = [];

    public Committee(int size, double subsetFraction, ulong seed)
    {
        _size = size;
        _fraction = subsetFraction;
        _seed = seed;
    }

    /// <summary>u = mean over members of |ŝ_n − s̄|, ŝ_n = Eq. 1 against member n's set. NaN for an empty pool.</summary>
    public double Utility(EmbeddingSet pool, ReadOnlySpan<float> normalizedEmbedding)
    {
        if (pool.Count == 0)
            return double.NaN;
        EnsureMembers(pool.Count);
        if (_cosines.Length < pool.Count)
            _cosines = new float[Math.Max(pool.Count, _cosines.Length * 2)];
        pool.Cosines(normalizedEmbedding, _cosines);

        Span<double> scores = _size <= 64 ? stackalloc double[_size] : new double[_size];
        double mean = 0;
        for (int m = 0; m < _size; m++)
        {
            float best = float.NegativeInfinity;
            foreach (int index in _members[m])
                if (_cosines[index] > best) best = _cosines[index];
            scores[m] = 1.0 - best;
            mean += scores[m];
        }
        mean /= _size;
        double disagreement = 0;
        foreach (double s in scores)
            disagreement += Math.Abs(s - mean);
        return disagreement / _size;
    }

    private void EnsureMembers(int poolCount)
    {
        if (_builtForPool == poolCount)
            return;
        int subset = Math.Max(1, (int)Math.Ceiling(_fraction * poolCount));
        var members = new int[_size][];
        var indices = new int[poolCount];
        for (int m = 0; m < _size; m++)
        {
            var random = RandomState.FromSeed(RandomState.DeriveSeed(_seed, (ulong)poolCount, (ulong)m));
            for (int i = 0; i < poolCount; i++) indices[i] = i;
            for (int i = 0; i < subset; i++)
            {
                int j = i + random.NextInt(poolCount - i); // partial Fisher–Yates
                (indices[i], indices[j]) = (indices[j], indices[i]);
            }
            members[m] = indices[..subset];
            Array.Sort(members[m]); // ascending indices scan the cosine buffer in order
        }
        _members = members;
        _builtForPool = poolCount;
    }
}
