namespace AsdOrleans.Method.Enrollment;

/// <summary>
/// The training-free embedders grow by appending values, and each later version's id is the earlier id with a suffix
/// ("…-max-smax5" → "…-max-smax5-envmod-…"). A whitened machine enrolled under an earlier version therefore reads the
/// prefix of a later version's clip and keeps scoring as it was enrolled, sets and labels included; re-enrolling moves
/// it to the new values.
/// </summary>
public static class AppendedFeatures
{
    /// <summary>Whether <paramref name="clipVersion"/> names a later version of <paramref name="enrolledVersion"/> that
    /// appends values to it.</summary>
    public static bool Extends(string clipVersion, string enrolledVersion)
        => clipVersion.Length > enrolledVersion.Length + 1 && clipVersion.StartsWith(enrolledVersion + "-", StringComparison.Ordinal);
}
