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
    // Per pool row, the members whose subset holds it (bit m); committees of at most 64 members only.
    private ulong[] _memberMasks = [];
    private int _builtForPool = -1;
    private float[] _cosines = [];
    private const int TopRows = 8;

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
        Span<float> maxima = _size <= 64 ? stackalloc float[_size] : new float[_size];
        MemberMaxima(pool.Count, maxima);
        double mean = 0;
        for (int m = 0; m < _size; m++)
        {
            scores[m] = 1.0 - maxima[m];
            mean += scores[m];
        }
        mean /= _size;
        double disagreement = 0;
        foreach (double s in scores)
            disagreement += Math.Abs(s - mean);
        return disagreement / _size;
    }

    /// <summary>
    /// Each member's max cosine. A member's max is the first of the pool's rows, in descending cosine, that its subset
    /// holds; with 90% subsets nearly every member finds it among the pool's top few rows, so one pass that keeps the
    /// top <see cref="TopRows"/> replaces a scan per member. The same floats are compared, so the maxima are exact.
    /// </summary>
    private void MemberMaxima(int poolCount, Span<float> maxima)
    {
        ulong remaining = _size >= 64 ? ulong.MaxValue : (1UL << _size) - 1;
        if (_size <= 64)
        {
            Span<int> top = stackalloc int[TopRows];
            Span<float> topValues = stackalloc float[TopRows];
            int filled = 0;
            var cosines = _cosines.AsSpan(0, poolCount);
            for (int i = 0; i < cosines.Length; i++)
            {
                float c = cosines[i];
                if (filled == TopRows && !(c > topValues[TopRows - 1]))
                    continue;
                int at = filled == TopRows ? TopRows - 1 : filled++;
                while (at > 0 && c > topValues[at - 1])
                {
                    topValues[at] = topValues[at - 1];
                    top[at] = top[at - 1];
                    at--;
                }
                topValues[at] = c;
                top[at] = i;
            }
            for (int k = 0; k < filled && remaining != 0; k++)
            {
                ulong found = _memberMasks[top[k]] & remaining;
                remaining &= ~found;
                while (found != 0)
                {
                    maxima[System.Numerics.BitOperations.TrailingZeroCount(found)] = topValues[k];
                    found &= found - 1;
                }
            }
        }
        for (int m = 0; m < _size; m++)
        {
            if (m < 64 && (remaining & (1UL << m)) == 0)
                continue;
            float best = float.NegativeInfinity; // a member without any of the top rows: scan its subset
            foreach (int index in _members[m])
                if (_cosines[index] > best) best = _cosines[index];
            maxima[m] = best;
        }
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
        _memberMasks = new ulong[_size <= 64 ? poolCount : 0];
        for (int m = 0; m < _size && _size <= 64; m++)
            foreach (int index in members[m])
                _memberMasks[index] |= 1UL << m;
        _builtForPool = poolCount;
    }
}
