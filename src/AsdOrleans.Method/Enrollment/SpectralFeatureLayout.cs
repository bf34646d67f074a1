namespace AsdOrleans.Method.Enrollment;

/// <summary>
/// The lengths of the <c>spectral</c> embedder's features, which whitened machines score. A newer version only appends
/// values, so a machine enrolled under the earlier one reads the prefix it was enrolled on and keeps its sets and labels
/// (AsdOrleans.Audio.Features.SpectralStatisticsSettings defines the computation; a test ties the two together).
/// </summary>
public static class SpectralFeatureLayout
{
    /// <summary>Means, deviations, maxima and smoothed maxima of 128 log-mel bands (until 2026-12-04).</summary>
    public const int WithoutModulation = 512;
    /// <summary>The same, then 16 envelope-modulation peaks.</summary>
    public const int Current = WithoutModulation + 16;

    /// <summary>The values a whitener of <paramref name="enrolledDimension"/> inputs reads from a clip's features: all of
    /// them, or the earlier version's prefix of a current clip.</summary>
    public static ReadOnlySpan<float> AsEnrolled(ReadOnlySpan<float> features, int enrolledDimension)
        => enrolledDimension == WithoutModulation && features.Length == Current ? features[..WithoutModulation] : features;
}
