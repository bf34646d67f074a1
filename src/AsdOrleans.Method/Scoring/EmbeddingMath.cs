using System.Numerics.Tensors;

namespace AsdOrleans.Method.Scoring;

/// <summary>Vector helpers shared by scoring, enrollment and the harness.</summary>
public static class EmbeddingMath
{
    /// <summary>Writes the L2-normalised <paramref name="source"/> to <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException">NaN/infinite components or a zero vector (no direction to compare).</exception>
    public static void Normalize(ReadOnlySpan<float> source, Span<float> destination)
    {
        if (destination.Length != source.Length)
            throw new ArgumentException($"destination has {destination.Length} components, source {source.Length}");
        // Squares are non-negative, so one NaN or infinity anywhere makes the sum non-finite:
        // the vectorised sum doubles as the finiteness check, and the slow path explains the failure.
        double sum = TensorPrimitives.SumOfSquares(source);
        if (!double.IsFinite(sum) || sum == 0)
            sum = CheckedSumOfSquares(source);
        double norm = Math.Sqrt(sum);
        float inverse = (float)(1.0 / norm);
        if (float.IsFinite(inverse))
        {
            TensorPrimitives.Multiply(source, inverse, destination);
            return;
        }
        // A vector shorter than about 3e-39 still has a direction, but 1/length overflows a float: divide in double.
        for (int i = 0; i < source.Length; i++)
            destination[i] = (float)(source[i] / norm);
    }

    private static double CheckedSumOfSquares(ReadOnlySpan<float> source)
    {
        double sum = 0;
        for (int i = 0; i < source.Length; i++)
        {
            if (!float.IsFinite(source[i]))
                throw new ArgumentException($"embedding component {i} is {source[i]}, not a finite number");
            sum += (double)source[i] * source[i];
        }
        if (sum == 0 || !double.IsFinite(sum))
            throw new ArgumentException("embedding has zero (or overflowing) length and no direction");
        return sum;
    }

    public static float[] Normalized(ReadOnlySpan<float> source)
    {
        var result = new float[source.Length];
        Normalize(source, result);
        return result;
    }
}
