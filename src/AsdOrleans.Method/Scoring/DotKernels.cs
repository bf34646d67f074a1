using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace AsdOrleans.Method.Scoring;

/// <summary>
/// Dot products of one query against many rows. Four rows share each load of the query, which
/// roughly halves memory traffic against one TensorPrimitives.Dot per row. Every row, blocked or
/// not, is summed in the same order (one vector accumulator over the dimension, then a horizontal
/// sum), so a row's cosine does not depend on its position in the set. fp16 rows are widened a
/// block at a time into a stack buffer and go through the same fp32 kernel.
/// </summary>
internal static class DotKernels
{
    public static void DotRows(ReadOnlySpan<float> rows, int dimension, ReadOnlySpan<float> query, Span<float> destination)
    {
        int count = rows.Length / dimension;
        if (Vector512.IsHardwareAccelerated && dimension % Vector512<float>.Count == 0)
            DotRows512(rows, dimension, count, query, destination);
        else if (Vector256.IsHardwareAccelerated && dimension % Vector256<float>.Count == 0)
            DotRows256(rows, dimension, count, query, destination);
        else
            for (int i = 0; i < count; i++)
                destination[i] = TensorPrimitives.Dot(rows.Slice(i * dimension, dimension), query);
    }

    public static float MaxDot(ReadOnlySpan<float> rows, int dimension, ReadOnlySpan<float> query)
    {
        int count = rows.Length / dimension;
        if (count == 0)
            return float.NegativeInfinity;
        const int chunk = 256;
        Span<float> buffer = stackalloc float[Math.Min(count, chunk)];
        float best = float.NegativeInfinity;
        for (int start = 0; start < count; start += chunk)
        {
            int n = Math.Min(chunk, count - start);
            var part = buffer[..n];
            DotRows(rows.Slice(start * dimension, n * dimension), dimension, query, part);
            float partMax = TensorPrimitives.Max(part);
            if (partMax > best) best = partMax;
        }
        return best;
    }

    // fp16 rows widened per block: 2,048 floats (8 KB) on the stack, 16 rows at 128 dimensions.
    private const int WidenedFloats = 2048;

    public static void DotRows(ReadOnlySpan<Half> rows, int dimension, ReadOnlySpan<float> query, Span<float> destination)
    {
        int count = rows.Length / dimension;
        int block = Math.Max(1, WidenedFloats / dimension);
        Span<float> widened = dimension <= WidenedFloats ? stackalloc float[WidenedFloats] : new float[dimension];
        for (int start = 0; start < count; start += block)
        {
            int n = Math.Min(block, count - start);
            var part = widened[..(n * dimension)];
            TensorPrimitives.ConvertToSingle(rows.Slice(start * dimension, n * dimension), part);
            DotRows(part, dimension, query, destination.Slice(start, n));
        }
    }

    public static float MaxDot(ReadOnlySpan<Half> rows, int dimension, ReadOnlySpan<float> query)
    {
        int count = rows.Length / dimension;
        if (count == 0)
            return float.NegativeInfinity;
        const int chunk = 256;
        Span<float> buffer = stackalloc float[Math.Min(count, chunk)];
        float best = float.NegativeInfinity;
        for (int start = 0; start < count; start += chunk)
        {
            int n = Math.Min(chunk, count - start);
            var part = buffer[..n];
            DotRows(rows.Slice(start * dimension, n * dimension), dimension, query, part);
            float partMax = TensorPrimitives.Max(part);
            if (partMax > best) best = partMax;
        }
        return best;
    }

    private static void DotRows512(ReadOnlySpan<float> rows, int d, int count, ReadOnlySpan<float> query, Span<float> destination)
    {
        ref float r = ref MemoryMarshal.GetReference(rows);
        ref float q = ref MemoryMarshal.GetReference(query);
        int step = Vector512<float>.Count;
        int i = 0;
        for (; i + 4 <= count; i += 4)
        {
            nuint b0 = (nuint)(i * d), b1 = b0 + (nuint)d, b2 = b1 + (nuint)d, b3 = b2 + (nuint)d;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int k = 0; k < d; k += step)
            {
                var qv = Vector512.LoadUnsafe(ref q, (nuint)k);
                a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref r, b0 + (nuint)k), qv, a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref r, b1 + (nuint)k), qv, a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref r, b2 + (nuint)k), qv, a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref r, b3 + (nuint)k), qv, a3);
            }
            destination[i] = Vector512.Sum(a0);
            destination[i + 1] = Vector512.Sum(a1);
            destination[i + 2] = Vector512.Sum(a2);
            destination[i + 3] = Vector512.Sum(a3);
        }
        for (; i < count; i++)
        {
            nuint b = (nuint)(i * d);
            Vector512<float> a = default;
            for (int k = 0; k < d; k += step)
                a = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref r, b + (nuint)k), Vector512.LoadUnsafe(ref q, (nuint)k), a);
            destination[i] = Vector512.Sum(a);
        }
    }

    private static void DotRows256(ReadOnlySpan<float> rows, int d, int count, ReadOnlySpan<float> query, Span<float> destination)
    {
        ref float r = ref MemoryMarshal.GetReference(rows);
        ref float q = ref MemoryMarshal.GetReference(query);
        int step = Vector256<float>.Count;
        int i = 0;
        for (; i + 4 <= count; i += 4)
        {
            nuint b0 = (nuint)(i * d), b1 = b0 + (nuint)d, b2 = b1 + (nuint)d, b3 = b2 + (nuint)d;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int k = 0; k < d; k += step)
            {
                var qv = Vector256.LoadUnsafe(ref q, (nuint)k);
                a0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref r, b0 + (nuint)k), qv, a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref r, b1 + (nuint)k), qv, a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref r, b2 + (nuint)k), qv, a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref r, b3 + (nuint)k), qv, a3);
            }
            destination[i] = Vector256.Sum(a0);
            destination[i + 1] = Vector256.Sum(a1);
            destination[i + 2] = Vector256.Sum(a2);
            destination[i + 3] = Vector256.Sum(a3);
        }
        for (; i < count; i++)
        {
            nuint b = (nuint)(i * d);
            Vector256<float> a = default;
            for (int k = 0; k < d; k += step)
                a = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref r, b + (nuint)k), Vector256.LoadUnsafe(ref q, (nuint)k), a);
            destination[i] = Vector256.Sum(a);
        }
    }
}
