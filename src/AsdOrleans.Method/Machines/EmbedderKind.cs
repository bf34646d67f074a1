using AsdOrleans.Method.Vocabulary;

namespace AsdOrleans.Method.Machines;

/// <summary>
/// What a machine's clips are embedded with, its third named setting beside the scoring and the budget start. A trained
/// encoder's embeddings are scored as they are; the training-free embedders' raw log-mel statistics are standardised
/// (<see cref="Baseline"/>) or whitened (<see cref="Spectral"/>) with a transform fitted on the machine's enrollment clips.
/// </summary>
public enum EmbedderKind : byte { Model = 0, Baseline = 1, Spectral = 2 }

public static class EmbedderNames
{
    private static readonly KindNames<EmbedderKind> Names = new("embedder",
        (EmbedderKind.Model, "model"),
        (EmbedderKind.Baseline, "baseline"),
        (EmbedderKind.Spectral, "spectral"));

    public static IEnumerable<string> All => Names.All;

    public static string ToName(this EmbedderKind kind) => Names.ToName(kind);

    public static EmbedderKind Parse(string name) => Names.Parse(name);

    /// <summary>
    /// The training-free embedder whose version ids start <paramref name="modelVersion"/> ("spectral-logmel-stats-…",
    /// "baseline-logmel-stats-…", as <c>SpectralStatisticsSettings.Id</c> writes them), or null for a trained model's.
    /// </summary>
    public static EmbedderKind? TrainingFreeOf(string modelVersion)
        => modelVersion.StartsWith("spectral-logmel-stats-", StringComparison.Ordinal) ? EmbedderKind.Spectral
            : modelVersion.StartsWith("baseline-logmel-stats-", StringComparison.Ordinal) ? EmbedderKind.Baseline
            : null;

    /// <summary>The embedder whose features an enrollment's flags describe (standardised: baseline; whitened: spectral).</summary>
    public static EmbedderKind FromFeatureTransform(bool standardize, bool whiten)
        => whiten ? EmbedderKind.Spectral : standardize ? EmbedderKind.Baseline : EmbedderKind.Model;
}
