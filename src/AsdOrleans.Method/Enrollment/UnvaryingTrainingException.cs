namespace AsdOrleans.Method.Enrollment;

/// <summary>
/// A machine's training clips do not vary where enrollment needs them to (copies of one recording): a feature transform
/// has no spread to fit on, or the clips have one direction and the decision threshold would be 0. Bad input, raised where
/// the statistics are fitted; the caller adds which machine it is (the grain, the experiment harness).
/// </summary>
public sealed class UnvaryingTrainingException(string problem) : ArgumentException($"{problem}; {Remedy}")
{
    /// <summary>What the user does about it, the same wherever the refusal is raised.</summary>
    public const string Remedy = "enroll it from distinct recordings of the machine running normally";

    /// <summary>How <paramref name="count"/> training clips are named in a refusal (with their domain where one is meant).</summary>
    public static string Clips(int count, string? domain = null) => $"its {count} {(domain is null ? "" : domain + "-domain ")}training clips";
}
