namespace AsdOrleans.Core.Features;

/// <summary>
/// Per-dimension standardisation z = (x − μ) / σ, with μ and σ (population, ddof = 0) fitted on one machine's training
/// clips. A dimension without spread (σ below <see cref="MinimumScale"/>) is only centred (σ taken as 1), so a constant
/// feature neither divides by zero nor dominates the cosine. Immutable and thread-safe once fitted.
/// </summary>
public sealed class FeatureStandardizer
{
    public const double MinimumScale = 1e-8;

    private readonly double[] _mean, _scale;

    /// <summary>A standardiser with given means and scales (e.g. restored from storage); scales must be positive.</summary>
    public FeatureStandardizer(IReadOnlyList<double> mean, IReadOnlyList<double> scale)
    {
        if (mean.Count == 0 || mean.Count != scale.Count)
            throw new ArgumentException($"means and scales must be non-empty and of one length, got {mean.Count} and {scale.Count}");
        _mean = mean.ToArray();
        _scale = scale.ToArray();
        for (int j = 0; j < _scale.Length; j++)
            if (!(_scale[j] > 0) || !double.IsFinite(_scale[j]) || !double.IsFinite(_mean[j]))
                throw new ArgumentException($"dimension {j}: mean {_mean[j]} and scale {_scale[j]} must be finite with a positive scale");
    }

    public int Dimension => _mean.Length;
    public IReadOnlyList<double> Mean => _mean;
    /// <summary>σ per dimension (1 where the training clips had no spread).</summary>
    public IReadOnlyList<double> Scale => _scale;

    /// <summary>Fits μ and σ per dimension on <paramref name="training"/> (at least one row, all of one dimension).</summary>
    public static FeatureStandardizer Fit(IReadOnlyList<float[]> training)
    {
        if (training.Count == 0) throw new ArgumentException("standardisation needs at least one training clip", nameof(training));
        int d = training[0].Length;
        var mean = new double[d];
        foreach (var row in training)
        {
            if (row.Length != d) throw new ArgumentException($"training rows differ in dimension ({d} and {row.Length})", nameof(training));
            for (int j = 0; j < d; j++) mean[j] += row[j];
        }
        for (int j = 0; j < d; j++) mean[j] /= training.Count;
        var scale = new double[d];
        foreach (var row in training)
            for (int j = 0; j < d; j++)
            {
                double diff = row[j] - mean[j];
                scale[j] += diff * diff;
            }
        for (int j = 0; j < d; j++)
        {
            double sigma = Math.Sqrt(scale[j] / training.Count);
            scale[j] = sigma >= MinimumScale ? sigma : 1;
        }
        return new FeatureStandardizer(mean, scale);
    }

    public float[] Transform(ReadOnlySpan<float> x)
    {
        if (x.Length != Dimension) throw new ArgumentException($"expected {Dimension} values, got {x.Length}", nameof(x));
        var z = new float[x.Length];
        for (int j = 0; j < z.Length; j++)
            z[j] = (float)((x[j] - _mean[j]) / _scale[j]);
        return z;
    }
}
