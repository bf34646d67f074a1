using System.Numerics.Tensors;

namespace AsdOrleans.Core.Scoring;

/// <summary>Vector helpers shared by scoring, enrollment and the harness.</summary>
public static class EmbeddingMath
{
    /// <summary>Writes the L2-normalised <paramref name="source"/> to <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException">NaN/infinite components or a zero vector (no direction to compare).</exception>
    public static void Normalize(ReadOnlySpan<float> source, Span<float> destination)
    {
        if (destination.Length != source.Length)
            throw new ArgumentException($"destination has {destination.Length} components, source {source.Length}");
        for (int i = 0; i < source.Length; i++)
        {
            if (!float.IsFinite(source[i]))
                throw new ArgumentException($"embedding component {i} is {source[i]}, not a finite number");
        }
        // Accumulate in double: float sums of 128 squares lose the last bits that make round trips exact.
        double sum = 0;
        for (int i = 0; i < source.Length; i++)
            sum += (double)source[i] * source[i];
        if (sum == 0 || !double.IsFinite(sum))
            throw new ArgumentException("embedding has zero (or overflowing) length and no direction");
        float inverse = (float)(1.0 / Math.Sqrt(sum));
        TensorPrimitives.Multiply(source, inverse, destination);
    }

    public static float[] Normalized(ReadOnlySpan<float> source)
    {
        var result = new float[source.Length];
        Normalize(source, result);
        return result;
    }
}
