namespace AsdOrleans.Method.Scoring;

/// <summary>
/// A growing set of L2-normalised embeddings stored row-major in one contiguous array, so that
/// the max-cosine scan of Eq. 1 and Eq. 2 is a tight, cache-friendly loop.
/// </summary>
public sealed class EmbeddingSet
{
    private float[] _data;

    public EmbeddingSet(int dimension, int capacity = 0)
    {
        if (dimension <= 0)
            throw new ArgumentOutOfRangeException(nameof(dimension), "embedding dimension must be positive");
        Dimension = dimension;
        _data = new float[Math.Max(0, capacity) * dimension];
    }

    public int Dimension { get; }
    public int Count { get; private set; }

    /// <summary>Rows the storage grows to at most when it doubles (a capped set's cap), 0 for none: a set capped at 512
    /// rows would otherwise double from 336 to 672 rows and carry 160 unused ones (80 KB at 128 dimensions).</summary>
    public int GrowthLimit { get; set; }

    /// <summary>Rows the storage holds now, used or not.</summary>
    internal int CapacityRows => _data.Length / Dimension;

    /// <summary>All rows, row-major: Count × Dimension floats.</summary>
    public ReadOnlySpan<float> Values => _data.AsSpan(0, Count * Dimension);

    public ReadOnlySpan<float> Row(int index)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index));
        return _data.AsSpan(index * Dimension, Dimension);
    }

    /// <summary>Adds an embedding that the caller has already L2-normalised.</summary>
    public void AddNormalized(ReadOnlySpan<float> embedding)
    {
        if (embedding.Length != Dimension)
            throw new ArgumentException($"embedding has {embedding.Length} dimensions, the set {Dimension}");
        if (Count + 1 > CapacityRows)
        {
            int rows = Math.Max(Count + 1, Math.Max(4, CapacityRows * 2));
            if (GrowthLimit > Count)
                rows = Math.Min(rows, GrowthLimit);
            Array.Resize(ref _data, rows * Dimension);
        }
        embedding.CopyTo(_data.AsSpan(Count * Dimension));
        Count++;
    }

    /// <summary>
    /// Row <paramref name="index"/> ← normalise(weight·row + embedding): a running mean of the <paramref name="weight"/>
    /// embeddings the row already stands for and one more, kept on the unit sphere (bounded state, issue 13).
    /// </summary>
    public void Merge(int index, ReadOnlySpan<float> normalizedEmbedding, float weight)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index));
        if (normalizedEmbedding.Length != Dimension)
            throw new ArgumentException($"embedding has {normalizedEmbedding.Length} dimensions, the set {Dimension}");
        var row = _data.AsSpan(index * Dimension, Dimension);
        System.Numerics.Tensors.TensorPrimitives.Multiply(row, weight, row);
        System.Numerics.Tensors.TensorPrimitives.Add(row, normalizedEmbedding, row);
        double norm = System.Numerics.Tensors.TensorPrimitives.Norm(row);
        if (!(norm > 0) || !double.IsFinite(norm))
            normalizedEmbedding.CopyTo(row); // opposite vectors cancelled: keep the newer one
        else
            System.Numerics.Tensors.TensorPrimitives.Multiply(row, (float)(1.0 / norm), row);
    }

    /// <summary>Overwrites row <paramref name="index"/> with an embedding the caller has already L2-normalised.</summary>
    public void Replace(int index, ReadOnlySpan<float> normalizedEmbedding)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index));
        if (normalizedEmbedding.Length != Dimension)
            throw new ArgumentException($"embedding has {normalizedEmbedding.Length} dimensions, the set {Dimension}");
        normalizedEmbedding.CopyTo(_data.AsSpan(index * Dimension, Dimension));
    }

    /// <summary>Max over the set of cos(query, e); the query must be normalised. −∞ for an empty set.</summary>
    public float MaxCosine(ReadOnlySpan<float> normalizedQuery)
    {
        if (normalizedQuery.Length != Dimension)
            throw new ArgumentException($"query has {normalizedQuery.Length} dimensions, the set {Dimension}");
        return DotKernels.MaxDot(Values, Dimension, normalizedQuery);
    }

    /// <summary>cos(query, e) for every row, written to <paramref name="destination"/> (length Count).</summary>
    public void Cosines(ReadOnlySpan<float> normalizedQuery, Span<float> destination)
    {
        if (destination.Length < Count)
            throw new ArgumentException("destination is shorter than the set");
        if (normalizedQuery.Length != Dimension)
            throw new ArgumentException($"query has {normalizedQuery.Length} dimensions, the set {Dimension}");
        DotKernels.DotRows(Values, Dimension, normalizedQuery, destination[..Count]);
    }

    public EmbeddingSet Clone()
    {
        var copy = new EmbeddingSet(Dimension, Count);
        Values.CopyTo(copy._data);
        copy.Count = Count;
        return copy;
    }

    internal static EmbeddingSet FromValues(int dimension, ReadOnlySpan<float> values)
    {
        if (values.Length % dimension != 0)
            throw new ArgumentException("values are not a whole number of rows");
        var set = new EmbeddingSet(dimension, values.Length / dimension);
        values.CopyTo(set._data);
        set.Count = values.Length / dimension;
        return set;
    }
}
