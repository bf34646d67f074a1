namespace AsdOrleans.Method.Enrollment;

/// <summary>A per-machine transform of raw features, fitted on the machine's enrollment clips and applied to every clip.</summary>
public interface IFeatureTransform
{
    int Dimension { get; }
    float[] Transform(ReadOnlySpan<float> x);
    /// <summary>The stored form; <see cref="FeatureTransforms.FromBytes"/> reads it back.</summary>
    byte[] ToBytes();
}

public static class FeatureTransforms
{
    /// <summary>A stored <see cref="FeatureStandardizer"/> ("FSTD") or <see cref="FeatureWhitener"/> ("FWHT").</summary>
    public static IFeatureTransform FromBytes(ReadOnlySpan<byte> bytes) =>
        FeatureWhitener.IsStoredForm(bytes) ? FeatureWhitener.FromBytes(bytes) : FeatureStandardizer.FromBytes(bytes);
}
