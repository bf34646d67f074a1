using AsdOrleans.Method.Vocabulary;

namespace AsdOrleans.Method.Machines;

/// <summary>
/// How many decision thresholds φ a machine keeps (docs/decisions.md, "Alerts — a decision threshold per domain"). Only
/// the <c>domain</c> scoring can keep one per domain; other scorings keep one φ whatever this says. Numeric values are
/// persisted: never renumber.
/// </summary>
public enum DecisionThresholdKind : byte
{
    /// <summary>The default: each domain's φ from a Gamma fit to that domain's enrollment scores, so "one normal clip in
    /// ten raises an alert" holds in both domains.</summary>
    PerDomain = 0,
    /// <summary>One φ from a Gamma fit to every enrollment score (the paper's): mostly source clips, so target normals
    /// raise more alerts, and target anomalies are found more often.</summary>
    Single = 1,
}

public static class DecisionThresholdNames
{
    private static readonly KindNames<DecisionThresholdKind> Names = new("decision threshold",
        (DecisionThresholdKind.PerDomain, "per-domain"),
        (DecisionThresholdKind.Single, "single"));

    public static IEnumerable<string> All => Names.All;

    public static string ToName(this DecisionThresholdKind kind) => Names.ToName(kind);

    public static DecisionThresholdKind Parse(string name) => Names.Parse(name);
}
