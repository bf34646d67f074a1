using AsdOrleans.Method.Vocabulary;

namespace AsdOrleans.Method.Scoring;

/// <summary>
/// How a machine stores the rows of its embedding sets (N, A, QBC's pool). Scoring is fp32 either way: fp16 rows are
/// widened before the dot products. Numeric values are persisted: never renumber.
/// </summary>
public enum EmbeddingPrecision : byte
{
    /// <summary>32-bit floats: the paper's reproduction, and every state written before fp16 existed.</summary>
    Fp32 = 0,
    /// <summary>IEEE 16-bit floats: half the memory per row. Each element rounds to nearest, by at most 2⁻¹¹ of its value,
    /// so a cosine between unit vectors moves by at most 2⁻¹¹ ≈ 4.9·10⁻⁴ (typically far less: the errors mostly cancel) (docs/decisions.md, "Issue 13 — embedding sets in 16 bits").</summary>
    Fp16 = 1,
}

public static class EmbeddingPrecisionNames
{
    private static readonly KindNames<EmbeddingPrecision> Names = new("embedding precision",
        (EmbeddingPrecision.Fp32, "fp32"),
        (EmbeddingPrecision.Fp16, "fp16"));

    public static IEnumerable<string> All => Names.All;

    public static string ToName(this EmbeddingPrecision precision) => Names.ToName(precision);

    public static EmbeddingPrecision Parse(string name) => Names.Parse(name);
}
