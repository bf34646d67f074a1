using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace AsdOrleans.Method.Scoring;

/// <summary>
/// Dot products of one query against many rows. Four rows share each load of the query, which
/// roughly halves memory traffic against one TensorPrimitives.Dot per row. Every row, blocked or
/// not, is summed in the same order (one vector accumulator over the dimension, then a horizontal
/// sum), so a row's cosine does not depend on its position in the set. fp16 rows are widened to
/// fp32 in registers, in the same shape.
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

    public static float MaxDot(ReadOnlySpan<float> rows, int dimension, ReadOnlySpan<float> query) => MaxDot<float>(rows, dimension, query);

    public static float MaxDot(ReadOnlySpan<Half> rows, int dimension, ReadOnlySpan<float> query) => MaxDot<Half>(rows, dimension, query);

    /// <summary>The max of <see cref="DotRows(ReadOnlySpan{float}, int, ReadOnlySpan{float}, Span{float})"/>, a chunk of rows at a time; −∞ for no rows.</summary>
    private static float MaxDot<TElement>(ReadOnlySpan<TElement> rows, int dimension, ReadOnlySpan<float> query) where TElement : struct
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
            var slice = rows.Slice(start * dimension, n * dimension);
            // The JIT compiles one branch per element type.
            if (typeof(TElement) == typeof(Half))
                DotRows(MemoryMarshal.Cast<TElement, Half>(slice), dimension, query, part);
            else
                DotRows(MemoryMarshal.Cast<TElement, float>(slice), dimension, query, part);
            float partMax = TensorPrimitives.Max(part);
            if (partMax > best) best = partMax;
        }
        return best;
    }

    // Fallback for dimensions the vector kernels don't divide: fp16 rows widened per block, 2,048 floats (8 KB) on the stack.
    private const int WidenedFloats = 2048;

    public static void DotRows(ReadOnlySpan<Half> rows, int dimension, ReadOnlySpan<float> query, Span<float> destination)
    {
        int count = rows.Length / dimension;
        var bits = MemoryMarshal.Cast<Half, ushort>(rows);
        if (Vector512.IsHardwareAccelerated && dimension % Vector512<ushort>.Count == 0)
        {
            DotHalfRows512(bits, dimension, count, query, destination);
            return;
        }
        if (Vector256.IsHardwareAccelerated && dimension % Vector256<ushort>.Count == 0)
        {
            DotHalfRows256(bits, dimension, count, query, destination);
            return;
        }
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

    // fp16 → fp32 on the bits, exact for every finite half (a set holds no others): the magnitude's bits shifted into
    // fp32's layout read as a float are the value × 2⁻¹¹², subnormal halves included; the product restores it.
    private const float TwoTo112 = 5.192296858534828e33f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> HalfBitsToSingle(Vector512<uint> half)
    {
        var magnitude = ((half & Vector512.Create(0x7FFFu)) << 13).AsSingle() * Vector512.Create(TwoTo112);
        return (magnitude.AsUInt32() | ((half & Vector512.Create(0x8000u)) << 16)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> HalfBitsToSingle(Vector256<uint> half)
    {
        var magnitude = ((half & Vector256.Create(0x7FFFu)) << 13).AsSingle() * Vector256.Create(TwoTo112);
        return (magnitude.AsUInt32() | ((half & Vector256.Create(0x8000u)) << 16)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> DotStep512(ref ushort row, nuint at, Vector512<float> queryLow, Vector512<float> queryHigh, Vector512<float> sum)
    {
        var (low, high) = Vector512.Widen(Vector512.LoadUnsafe(ref row, at));
        sum = Vector512.FusedMultiplyAdd(HalfBitsToSingle(low), queryLow, sum);
        return Vector512.FusedMultiplyAdd(HalfBitsToSingle(high), queryHigh, sum);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> DotStep256(ref ushort row, nuint at, Vector256<float> queryLow, Vector256<float> queryHigh, Vector256<float> sum)
    {
        var (low, high) = Vector256.Widen(Vector256.LoadUnsafe(ref row, at));
        sum = Vector256.FusedMultiplyAdd(HalfBitsToSingle(low), queryLow, sum);
        return Vector256.FusedMultiplyAdd(HalfBitsToSingle(high), queryHigh, sum);
    }

    // The fp32 kernels' shape (four rows per load of the query, one accumulator per row), widening the halves in registers.
    private static void DotHalfRows512(ReadOnlySpan<ushort> rows, int d, int count, ReadOnlySpan<float> query, Span<float> destination)
    {
        ref ushort r = ref MemoryMarshal.GetReference(rows);
        ref float q = ref MemoryMarshal.GetReference(query);
        int step = Vector512<ushort>.Count, half = Vector512<float>.Count;
        int i = 0;
        for (; i + 4 <= count; i += 4)
        {
            nuint b0 = (nuint)(i * d), b1 = b0 + (nuint)d, b2 = b1 + (nuint)d, b3 = b2 + (nuint)d;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int k = 0; k < d; k += step)
            {
                var ql = Vector512.LoadUnsafe(ref q, (nuint)k);
                var qh = Vector512.LoadUnsafe(ref q, (nuint)(k + half));
                a0 = DotStep512(ref r, b0 + (nuint)k, ql, qh, a0);
                a1 = DotStep512(ref r, b1 + (nuint)k, ql, qh, a1);
                a2 = DotStep512(ref r, b2 + (nuint)k, ql, qh, a2);
                a3 = DotStep512(ref r, b3 + (nuint)k, ql, qh, a3);
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
                a = DotStep512(ref r, b + (nuint)k, Vector512.LoadUnsafe(ref q, (nuint)k), Vector512.LoadUnsafe(ref q, (nuint)(k + half)), a);
            destination[i] = Vector512.Sum(a);
        }
    }

    private static void DotHalfRows256(ReadOnlySpan<ushort> rows, int d, int count, ReadOnlySpan<float> query, Span<float> destination)
    {
        ref ushort r = ref MemoryMarshal.GetReference(rows);
        ref float q = ref MemoryMarshal.GetReference(query);
        int step = Vector256<ushort>.Count, half = Vector256<float>.Count;
        int i = 0;
        for (; i + 4 <= count; i += 4)
        {
            nuint b0 = (nuint)(i * d), b1 = b0 + (nuint)d, b2 = b1 + (nuint)d, b3 = b2 + (nuint)d;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int k = 0; k < d; k += step)
            {
                var ql = Vector256.LoadUnsafe(ref q, (nuint)k);
                var qh = Vector256.LoadUnsafe(ref q, (nuint)(k + half));
                a0 = DotStep256(ref r, b0 + (nuint)k, ql, qh, a0);
                a1 = DotStep256(ref r, b1 + (nuint)k, ql, qh, a1);
                a2 = DotStep256(ref r, b2 + (nuint)k, ql, qh, a2);
                a3 = DotStep256(ref r, b3 + (nuint)k, ql, qh, a3);
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
                a = DotStep256(ref r, b + (nuint)k, Vector256.LoadUnsafe(ref q, (nuint)k), Vector256.LoadUnsafe(ref q, (nuint)(k + half)), a);
            destination[i] = Vector256.Sum(a);
        }
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
