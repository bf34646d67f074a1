using System.Numerics.Tensors;
using AsdOrleans.Method.Randomness;

namespace AsdOrleans.Method.Enrollment;

/// <summary>
/// Seeded Lloyd k-means with k-means++ initialisation (Arthur and Vassilvitskii, 2007), using the
/// greedy variant that tries 2 + ln k candidates per centre and keeps the one that lowers the
/// potential most (as scikit-learn does). Squared Euclidean distance.
/// </summary>
public static class KMeans
{
    public const int DefaultMaxIterations = 300;

    /// <param name="points">n × dimension, row-major.</param>
    /// <returns>k × dimension centres, row-major.</returns>
    public static float[] Fit(ReadOnlySpan<float> points, int dimension, int k, ulong seed, int maxIterations = DefaultMaxIterations)
    {
        if (dimension <= 0) throw new ArgumentOutOfRangeException(nameof(dimension));
        if (points.Length % dimension != 0) throw new ArgumentException("points are not a whole number of rows");
        int n = points.Length / dimension;
        if (k <= 0) throw new ArgumentOutOfRangeException(nameof(k), "k must be positive");
        if (k > n) throw new ArgumentException($"k-means needs at least k = {k} points, got {n}");

        var random = RandomState.FromSeed(seed);
        var centres = InitialisePlusPlus(points, dimension, n, k, ref random);
        var assignment = new int[n];
        Array.Fill(assignment, -1);
        var sums = new double[k * dimension];
        var counts = new int[k];
        var distances = new float[n];

        for (int iteration = 0; iteration < maxIterations; iteration++)
        {
            bool changed = false;
            for (int i = 0; i < n; i++)
            {
                var point = points.Slice(i * dimension, dimension);
                int best = 0;
                float bestDistance = float.PositiveInfinity;
                for (int c = 0; c < k; c++)
                {
                    float d = TensorPrimitives.Distance(point, centres.AsSpan(c * dimension, dimension));
                    if (d < bestDistance) { bestDistance = d; best = c; }
                }
                distances[i] = bestDistance;
                if (assignment[i] != best) { assignment[i] = best; changed = true; }
            }
            if (!changed)
                break;

            Array.Clear(sums);
            Array.Clear(counts);
            for (int i = 0; i < n; i++)
            {
                int c = assignment[i];
                counts[c]++;
                var point = points.Slice(i * dimension, dimension);
                for (int j = 0; j < dimension; j++)
                    sums[c * dimension + j] += point[j];
            }
            for (int c = 0; c < k; c++)
            {
                if (counts[c] == 0)
                {
                    // An emptied cluster takes the point farthest from its centre, so k centres remain distinct.
                    int farthest = IndexOfMax(distances);
                    points.Slice(farthest * dimension, dimension).CopyTo(centres.AsSpan(c * dimension, dimension));
                    distances[farthest] = 0;
                    continue;
                }
                for (int j = 0; j < dimension; j++)
                    centres[c * dimension + j] = (float)(sums[c * dimension + j] / counts[c]);
            }
        }
        return centres;
    }

    private static float[] InitialisePlusPlus(ReadOnlySpan<float> points, int dimension, int n, int k, ref RandomState random)
    {
        var centres = new float[k * dimension];
        int trials = 2 + (int)Math.Log(k);
        int first = random.NextInt(n);
        points.Slice(first * dimension, dimension).CopyTo(centres);

        var closest = new double[n];
        for (int i = 0; i < n; i++)
            closest[i] = SquaredDistance(points, dimension, i, centres.AsSpan(0, dimension));
        var candidateClosest = new double[n];
        var bestClosest = new double[n];

        for (int c = 1; c < k; c++)
        {
            double potential = closest.Sum();
            int bestCandidate = -1;
            double bestPotential = double.PositiveInfinity;
            for (int t = 0; t < trials; t++)
            {
                int candidate = SampleProportional(closest, potential, ref random);
                var candidatePoint = points.Slice(candidate * dimension, dimension);
                double candidatePotential = 0;
                for (int i = 0; i < n; i++)
                {
                    candidateClosest[i] = Math.Min(closest[i], SquaredDistance(points, dimension, i, candidatePoint));
                    candidatePotential += candidateClosest[i];
                }
                if (candidatePotential < bestPotential)
                {
                    bestPotential = candidatePotential;
                    bestCandidate = candidate;
                    Array.Copy(candidateClosest, bestClosest, n);
                }
            }
            points.Slice(bestCandidate * dimension, dimension).CopyTo(centres.AsSpan(c * dimension, dimension));
            Array.Copy(bestClosest, closest, n);
        }
        return centres;
    }

    private static int SampleProportional(double[] weights, double total, ref RandomState random)
    {
        if (total <= 0)
            return random.NextInt(weights.Length); // all points coincide with centres: any is as good
        double target = random.NextDouble() * total;
        double cumulative = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            cumulative += weights[i];
            if (cumulative > target)
                return i;
        }
        return weights.Length - 1;
    }

    private static double SquaredDistance(ReadOnlySpan<float> points, int dimension, int index, ReadOnlySpan<float> other)
    {
        double d = TensorPrimitives.Distance(points.Slice(index * dimension, dimension), other);
        return d * d;
    }

    private static int IndexOfMax(float[] values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best]) best = i;
        return best;
    }
}
