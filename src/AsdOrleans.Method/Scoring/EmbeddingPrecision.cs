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
    private static readonly (EmbeddingPrecision Precision, string Name)[] Names =
    [
        (EmbeddingPrecision.Fp32, "fp32"),
        (EmbeddingPrecision.Fp16, "fp16"),
    ];

    public static IEnumerable<string> All => Names.Select(n => n.Name);

    public static string ToName(this EmbeddingPrecision precision) => Names.First(n => n.Precision == precision).Name;

    public static EmbeddingPrecision Parse(string name)
    {
        foreach (var (precision, text) in Names)
            if (string.Equals(text, name.Trim(), StringComparison.OrdinalIgnoreCase))
                return precision;
        throw new ArgumentException($"unknown embedding precision '{name}'; known: {string.Join(", ", All)}");
    }

    /// <summary>Bytes one element takes.</summary>
    public static int ElementBytes(this EmbeddingPrecision precision) => precision == EmbeddingPrecision.Fp16 ? 2 : 4;
}
