namespace AsdOrleans.Method.Enrollment;

/// <summary>
/// Per-dimension standardisation z = (x − μ) / σ, with μ and σ (population, ddof = 0) fitted on one machine's training
/// clips. A dimension without spread (σ below <see cref="MinimumScale"/>) is only centred (σ taken as 1), so a constant
/// feature neither divides by zero nor dominates the cosine. Clips with no spread in any dimension are refused
/// (<see cref="UnvaryingTrainingException"/>): every one would standardise to all zeros, with no direction to compare.
/// Immutable and thread-safe once fitted.
/// </summary>
public sealed class FeatureStandardizer : IFeatureTransform
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

    /// <summary>Fits μ and σ per dimension on <paramref name="training"/> (at least two rows, all of one dimension, varying in
    /// at least one).</summary>
    public static FeatureStandardizer Fit(IReadOnlyList<float[]> training)
    {
        if (training.Count < 2) throw new ArgumentException($"standardisation needs at least two training clips, got {training.Count}", nameof(training));
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
        bool varies = false;
        for (int j = 0; j < d; j++)
        {
            double sigma = Math.Sqrt(scale[j] / training.Count);
            varies |= sigma >= MinimumScale;
            scale[j] = sigma >= MinimumScale ? sigma : 1;
        }
        if (!varies)
            throw new UnvaryingTrainingException($"{UnvaryingTrainingException.Clips(training.Count)} do not vary (each value is the same in all of them: "
                + "copies of one recording), so there is nothing to standardise them on");
        return new FeatureStandardizer(mean, scale);
    }

    /// <summary>
    /// A bit-exact binary form for a machine's stored state: "FSTD", int32 version 1, int32 dimension, then the means and
    /// the scales as little-endian doubles.
    /// </summary>
    public byte[] ToBytes()
    {
        var bytes = new byte[12 + 16 * Dimension];
        "FSTD"u8.CopyTo(bytes);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4), 1);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), Dimension);
        for (int j = 0; j < Dimension; j++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(12 + 8 * j), _mean[j]);
            System.Buffers.Binary.BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(12 + 8 * (Dimension + j)), _scale[j]);
        }
        return bytes;
    }

    /// <summary>Reads <see cref="ToBytes"/>'s form; anything else is refused.</summary>
    public static FeatureStandardizer FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 12 || !bytes[..4].SequenceEqual("FSTD"u8) || System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(bytes[4..]) != 1)
            throw new InvalidDataException("not a stored feature standardiser (FSTD version 1)");
        int d = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(bytes[8..]);
        if (d < 1 || bytes.Length != 12 + 16L * d)
            throw new InvalidDataException($"stored feature standardiser: dimension {d} does not match {bytes.Length} bytes");
        var mean = new double[d];
        var scale = new double[d];
        for (int j = 0; j < d; j++)
        {
            mean[j] = System.Buffers.Binary.BinaryPrimitives.ReadDoubleLittleEndian(bytes[(12 + 8 * j)..]);
            scale[j] = System.Buffers.Binary.BinaryPrimitives.ReadDoubleLittleEndian(bytes[(12 + 8 * (d + j))..]);
        }
        try
        {
            return new FeatureStandardizer(mean, scale);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"stored feature standardiser: {e.Message}");
        }
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
