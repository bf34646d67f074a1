using AsdOrleans.Method.Scoring;

namespace AsdOrleans.Method.Machines;

/// <summary>
/// Keeps a full set at its cap by merging the closest pair (online agglomerative clustering): a new embedding joins
/// the set, and then the two most similar rows (the new one included) become their weighted mean. Unlike merging the
/// newcomer into its nearest row, a normal from a region the set does not cover yet keeps a row of its own, and
/// redundant rows in dense regions pay for it. Each row's nearest neighbour is cached (derived, not stored: rebuilt
/// in O(K²·d) after a restore), so a merge costs a few O(K·d) scans.
/// </summary>
public sealed class ClosestPairReducer
{
    private int[] _nearest = [];
    private float[] _nearestCosine = [];
    // A stale row's recorded cosine is an upper bound of its true nearest (its neighbour moved away or was replaced):
    // it is rescanned only when it would be chosen, which keeps the choice exact and spares rescans of hub rows.
    private bool[] _stale = [];
    private float[] _scan = [];
    private float[] _incoming = [];
    private float[] _row = []; // one row widened to fp32 (the set may store fp16)
    private int _builtFor = -1;

    /// <summary>What happened: the newcomer was merged into <see cref="Into"/>, or the pair (Into, Freed) was merged and the newcomer took row Freed.</summary>
    public readonly record struct Outcome(int Into, int Freed, float WeightInto, float WeightFreed)
    {
        public bool NewcomerMerged => Freed < 0;
    }

    /// <summary>Adds <paramref name="embedding"/> to the full <paramref name="set"/> by one merge; <paramref name="weights"/> are updated.</summary>
    public Outcome Add(EmbeddingSet set, List<float> weights, ReadOnlySpan<float> embedding)
    {
        int k = set.Count;
        EnsureBuilt(set);
        if (_incoming.Length < k) _incoming = new float[k];
        set.Cosines(embedding, _incoming);
        int newcomerNearest = ArgMax(_incoming.AsSpan(0, k), -1);
        int pairRow = ArgMax(_nearestCosine.AsSpan(0, k), -1);
        while (pairRow >= 0 && _stale[pairRow])
        {
            Rescan(set, pairRow);
            pairRow = ArgMax(_nearestCosine.AsSpan(0, k), -1);
        }
        if (k < 2 || _incoming[newcomerNearest] >= _nearestCosine[pairRow])
        {
            float w = weights[newcomerNearest];
            StateBounds.Merge(set, weights, newcomerNearest, embedding);
            Refresh(set, newcomerNearest, -1);
            return new Outcome(newcomerNearest, -1, w, 1);
        }
        int a = pairRow, b = _nearest[pairRow];
        float wa = weights[a], wb = weights[b];
        set.Merge(a, RowOf(set, b), wa / wb); // ∝ wa·row_a + wb·row_b
        weights[a] = wa + wb;
        set.Replace(b, embedding);
        weights[b] = 1;
        Refresh(set, a, b);
        return new Outcome(a, b, wa, wb);
    }

    /// <summary>The set changed outside this reducer (a restore, a new configuration): rebuild before the next merge.</summary>
    public void Invalidate() => _builtFor = -1;

    private void EnsureBuilt(EmbeddingSet set)
    {
        int k = set.Count;
        if (_builtFor == k) return;
        _nearest = new int[k];
        _nearestCosine = new float[k];
        _stale = new bool[k];
        for (int j = 0; j < k; j++)
            Rescan(set, j);
        _builtFor = k;
    }

    /// <summary>Rows <paramref name="a"/> and <paramref name="b"/> (−1: none) changed: their neighbours, and the rows whose neighbour they were, are updated.</summary>
    private void Refresh(EmbeddingSet set, int a, int b)
    {
        int k = set.Count;
        for (int j = 0; j < k; j++)
            if (j != a && j != b && (_nearest[j] == a || _nearest[j] == b))
                _stale[j] = true;
        foreach (int changed in b >= 0 ? [a, b] : new[] { a })
        {
            Rescan(set, changed);
            for (int j = 0; j < k; j++)
                if (j != changed && j != a && j != b && _scan[j] > _nearestCosine[j])
                {
                    _nearestCosine[j] = _scan[j];
                    _nearest[j] = changed;
                    _stale[j] = false; // above its bound: exact again
                }
        }
    }

    /// <summary>Row <paramref name="j"/>'s nearest other row; leaves every cosine to row j in the scan buffer.</summary>
    private void Rescan(EmbeddingSet set, int j)
    {
        int k = set.Count;
        if (_scan.Length < k) _scan = new float[k];
        set.Cosines(RowOf(set, j), _scan);
        int best = ArgMax(_scan.AsSpan(0, k), j);
        _nearest[j] = best;
        _nearestCosine[j] = best < 0 ? float.NegativeInfinity : _scan[best];
        _stale[j] = false;
    }

    private ReadOnlySpan<float> RowOf(EmbeddingSet set, int index)
    {
        if (_row.Length != set.Dimension) _row = new float[set.Dimension];
        set.CopyRow(index, _row);
        return _row;
    }

    private static int ArgMax(ReadOnlySpan<float> values, int skip)
    {
        int best = -1;
        for (int i = 0; i < values.Length; i++)
            if (i != skip && (best < 0 || values[i] > values[best]))
                best = i;
        return best;
    }
}
