using AsdOrleans.Method.Vocabulary;

namespace AsdOrleans.Method.Scoring;

/// <summary>How a machine turns an embedding into an anomaly score. Numeric values are persisted: never renumber.</summary>
public enum ScoringKind : byte
{
    /// <summary>The paper's Eq. 1–3: Â = A if A is empty, else (1−γ)·A + γ·S.</summary>
    Paper = 0,
    /// <summary>Eq. 1 plus a safe anomaly term: Â = A + γ·max(0, S − (1 − A)), i.e. raised only where the clip is nearer to a labelled anomaly than to its nearest normal.</summary>
    Margin = 1,
    /// <summary>Per-domain normalisation: the distance to each reference divided by the typical enrollment distance of that reference's domain, plus the safe anomaly term.</summary>
    Domain = 2,
    /// <summary>Local-density normalisation (LOF-like): the distance to each reference divided by that reference's own typical distance to its enrollment clips, plus the safe anomaly term.</summary>
    Local = 3,
}

public static class ScoringNames
{
    private static readonly KindNames<ScoringKind> Names = new("scoring",
        (ScoringKind.Paper, "paper"),
        (ScoringKind.Margin, "margin"),
        (ScoringKind.Domain, "domain"),
        (ScoringKind.Local, "local"));

    public static IEnumerable<string> All => Names.All;

    public static string ToName(this ScoringKind kind) => Names.ToName(kind);

    public static ScoringKind Parse(string name) => Names.Parse(name);

    /// <summary>Whether the scoring divides distances by a per-reference scale (kept beside N in the state).</summary>
    public static bool UsesScales(this ScoringKind kind) => kind is ScoringKind.Domain or ScoringKind.Local;
}
