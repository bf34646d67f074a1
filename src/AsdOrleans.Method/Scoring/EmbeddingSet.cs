using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace AsdOrleans.Method.Scoring;

/// <summary>
/// A growing set of L2-normalised embeddings stored row-major in one contiguous array, so that
/// the max-cosine scan of Eq. 1 and Eq. 2 is a tight, cache-friendly loop. Rows are kept in
/// 32 or 16 bits (<see cref="Precision"/>); arithmetic is in 32 bits either way.
/// </summary>
public sealed class EmbeddingSet
{
    // Exactly one of the two holds the rows, by Precision.
    private float[] _single = [];
    private Half[] _half = [];

    public EmbeddingSet(int dimension, int capacity = 0, EmbeddingPrecision precision = EmbeddingPrecision.Fp32)
    {
        if (dimension <= 0)
            throw new ArgumentOutOfRangeException(nameof(dimension), "embedding dimension must be positive");
        if (!Enum.IsDefined(precision))
            throw new ArgumentOutOfRangeException(nameof(precision), $"unknown embedding precision {(int)precision}");
        Dimension = dimension;
        Precision = precision;
        Resize(Math.Max(0, capacity));
    }

    public int Dimension { get; }
    public int Count { get; private set; }
    public EmbeddingPrecision Precision { get; }

    /// <summary>Rows the storage grows to at most when it doubles (a capped set's cap), 0 for none: a set capped at 512
    /// rows would otherwise double from 336 to 672 rows and carry 160 unused ones (80 KB at 128 dimensions).</summary>
    public int GrowthLimit { get; set; }

    /// <summary>Rows the storage holds now, used or not.</summary>
    internal int CapacityRows => (Precision == EmbeddingPrecision.Fp16 ? _half.Length : _single.Length) / Dimension;

    /// <summary>The rows as stored, row-major, Count × Dimension elements of <see cref="Precision"/> (little-endian on every supported platform).</summary>
    internal ReadOnlySpan<byte> StoredBytes => Precision == EmbeddingPrecision.Fp16
        ? MemoryMarshal.AsBytes(_half.AsSpan(0, Count * Dimension))
        : MemoryMarshal.AsBytes(_single.AsSpan(0, Count * Dimension));

    /// <summary>A row of an fp32 set, without a copy; <see cref="CopyRow"/> reads any set.</summary>
    public ReadOnlySpan<float> Row(int index)
    {
        CheckIndex(index);
        if (Precision != EmbeddingPrecision.Fp32)
            throw new InvalidOperationException("an fp16 set has no fp32 rows to lend; use CopyRow");
        return _single.AsSpan(index * Dimension, Dimension);
    }

    /// <summary>Row <paramref name="index"/> in 32 bits.</summary>
    public void CopyRow(int index, Span<float> destination)
    {
        CheckIndex(index);
        if (destination.Length < Dimension)
            throw new ArgumentException("destination is shorter than a row");
        if (Precision == EmbeddingPrecision.Fp16)
            TensorPrimitives.ConvertToSingle(_half.AsSpan(index * Dimension, Dimension), destination[..Dimension]);
        else
            _single.AsSpan(index * Dimension, Dimension).CopyTo(destination);
    }

    /// <summary>Row <paramref name="index"/> in 32 bits, as a new array.</summary>
    public float[] RowToArray(int index)
    {
        var row = new float[Dimension];
        CopyRow(index, row);
        return row;
    }

    /// <summary>Every row, row-major, in 32 bits, as a new array.</summary>
    public float[] ToSingleArray() => ConvertedTo(EmbeddingPrecision.Fp32)._single.AsSpan(0, Count * Dimension).ToArray();

    /// <summary>Adds an embedding that the caller has already L2-normalised.</summary>
    public void AddNormalized(ReadOnlySpan<float> embedding)
    {
        CheckLength(embedding, "embedding");
        RequireFinite(embedding);
        if (Count + 1 > CapacityRows)
        {
            int rows = Math.Max(Count + 1, Math.Max(4, CapacityRows * 2));
            if (GrowthLimit > Count)
                rows = Math.Min(rows, GrowthLimit);
            Resize(rows);
        }
        Count++;
        Store(Count - 1, embedding);
    }

    /// <summary>
    /// Row <paramref name="index"/> ← normalise(weight·row + embedding): a running mean of the <paramref name="weight"/>
    /// embeddings the row already stands for and one more, kept on the unit sphere (bounded state, issue 13).
    /// </summary>
    public void Merge(int index, ReadOnlySpan<float> normalizedEmbedding, float weight)
    {
        CheckIndex(index);
        CheckLength(normalizedEmbedding, "embedding");
        RequireFinite(normalizedEmbedding);
        Span<float> row = Dimension > StackRowLimit ? new float[Dimension] : stackalloc float[Dimension];
        CopyRow(index, row);
        TensorPrimitives.Multiply(row, weight, row);
        TensorPrimitives.Add(row, normalizedEmbedding, row);
        double norm = TensorPrimitives.Norm(row);
        if (!(norm > 0) || !double.IsFinite(norm))
            normalizedEmbedding.CopyTo(row); // opposite vectors cancelled: keep the newer one
        else
            TensorPrimitives.Multiply(row, (float)(1.0 / norm), row);
        Store(index, row);
    }

    /// <summary>Overwrites row <paramref name="index"/> with an embedding the caller has already L2-normalised.</summary>
    public void Replace(int index, ReadOnlySpan<float> normalizedEmbedding)
    {
        CheckIndex(index);
        CheckLength(normalizedEmbedding, "embedding");
        RequireFinite(normalizedEmbedding);
        Store(index, normalizedEmbedding);
    }

    /// <summary>Max over the set of cos(query, e); the query must be normalised. −∞ for an empty set.</summary>
    public float MaxCosine(ReadOnlySpan<float> normalizedQuery)
    {
        CheckLength(normalizedQuery, "query");
        return Precision == EmbeddingPrecision.Fp16
            ? DotKernels.MaxDot(_half.AsSpan(0, Count * Dimension), Dimension, normalizedQuery)
            : DotKernels.MaxDot(_single.AsSpan(0, Count * Dimension), Dimension, normalizedQuery);
    }

    /// <summary>cos(query, e) for every row, written to <paramref name="destination"/> (length Count).</summary>
    public void Cosines(ReadOnlySpan<float> normalizedQuery, Span<float> destination)
    {
        if (destination.Length < Count)
            throw new ArgumentException("destination is shorter than the set");
        CheckLength(normalizedQuery, "query");
        if (Precision == EmbeddingPrecision.Fp16)
            DotKernels.DotRows(_half.AsSpan(0, Count * Dimension), Dimension, normalizedQuery, destination[..Count]);
        else
            DotKernels.DotRows(_single.AsSpan(0, Count * Dimension), Dimension, normalizedQuery, destination[..Count]);
    }

    public EmbeddingSet Clone() => ConvertedTo(Precision);

    /// <summary>A copy whose rows are stored in <paramref name="precision"/> (rounded to nearest when narrowing).</summary>
    public EmbeddingSet ConvertedTo(EmbeddingPrecision precision)
    {
        var copy = new EmbeddingSet(Dimension, Count, precision) { Count = Count };
        int n = Count * Dimension;
        switch (Precision, precision)
        {
            case (EmbeddingPrecision.Fp32, EmbeddingPrecision.Fp32): _single.AsSpan(0, n).CopyTo(copy._single); break;
            case (EmbeddingPrecision.Fp16, EmbeddingPrecision.Fp16): _half.AsSpan(0, n).CopyTo(copy._half); break;
            case (EmbeddingPrecision.Fp32, EmbeddingPrecision.Fp16): TensorPrimitives.ConvertToHalf(_single.AsSpan(0, n), copy._half.AsSpan(0, n)); break;
            default: TensorPrimitives.ConvertToSingle(_half.AsSpan(0, n), copy._single.AsSpan(0, n)); break;
        }
        return copy;
    }

    internal static EmbeddingSet FromValues(int dimension, ReadOnlySpan<float> values)
    {
        var set = new EmbeddingSet(dimension, RowsOf(values.Length, dimension), EmbeddingPrecision.Fp32);
        values.CopyTo(set._single);
        set.Count = values.Length / dimension;
        return set;
    }

    internal static EmbeddingSet FromValues(int dimension, ReadOnlySpan<Half> values)
    {
        var set = new EmbeddingSet(dimension, RowsOf(values.Length, dimension), EmbeddingPrecision.Fp16);
        values.CopyTo(set._half);
        set.Count = values.Length / dimension;
        return set;
    }

    // Rows up to this dimension are widened on the stack (4 KB).
    private const int StackRowLimit = 1024;

    private static int RowsOf(int values, int dimension) =>
        values % dimension == 0 ? values / dimension : throw new ArgumentException("values are not a whole number of rows");

    /// <summary>Unit-length values sum to a finite number unless one is NaN or infinite. A set never takes what its
    /// reader would refuse: a machine whose stored state cannot be read could not be activated again.</summary>
    private static void RequireFinite(ReadOnlySpan<float> normalizedEmbedding)
    {
        if (!float.IsFinite(TensorPrimitives.Sum(normalizedEmbedding)))
            throw new ArgumentException("an embedding holds a value that is not a finite number");
    }

    private void Store(int index, ReadOnlySpan<float> normalizedEmbedding)
    {
        if (Precision == EmbeddingPrecision.Fp16)
            TensorPrimitives.ConvertToHalf(normalizedEmbedding, _half.AsSpan(index * Dimension, Dimension));
        else
            normalizedEmbedding.CopyTo(_single.AsSpan(index * Dimension, Dimension));
    }

    private void Resize(int rows)
    {
        if (Precision == EmbeddingPrecision.Fp16) Array.Resize(ref _half, rows * Dimension);
        else Array.Resize(ref _single, rows * Dimension);
    }

    private void CheckIndex(int index)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index));
    }

    private void CheckLength(ReadOnlySpan<float> vector, string what)
    {
        if (vector.Length != Dimension)
            throw new ArgumentException($"{what} has {vector.Length} dimensions, the set {Dimension}");
    }
}
