using AsdOrleans.Method.Enrollment;

namespace AsdOrleans.Evaluation.Experiments;

/// <summary>
/// Per-machine standardisation of an embeddings table (issue 11's training-free baseline): for each machine a
/// <see cref="FeatureStandardizer"/> fitted on that machine's training records (both domains) is applied to every one of
/// its records, training and test. Test clips never enter the fit.
/// </summary>
public static class EmbeddingStandardization
{
    public static EmbeddingTable PerMachine(EmbeddingTable table) =>
        Transformed(table, "standardised", (machine, training) => training.Count == 0
            ? throw new InvalidOperationException($"machine '{machine}' has no training clips to standardise on")
            : FeatureStandardizer.Fit(training.Select(r => r.Embedding).ToList()));

    /// <summary>
    /// The <c>spectral</c> embedder's per-machine transform, fitted as a machine grain fits it
    /// (<see cref="HeldOutWhitening.Fit"/>: a <see cref="FeatureWhitener"/> on the machine's training records and their
    /// domains), applied to every one of its records; training records also get their held-out distances. Test clips never
    /// enter the fit.
    /// </summary>
    public static EmbeddingTable WhitenedPerMachine(EmbeddingTable table)
    {
        var whiteners = new Dictionary<string, FeatureWhitener>(StringComparer.Ordinal);
        var heldOut = new Dictionary<EmbeddingRecord, double?>(ReferenceEqualityComparer.Instance);
        foreach (var machine in table.Records.GroupBy(r => r.Machine, StringComparer.Ordinal))
        {
            var training = machine.Where(r => !r.IsTest).ToList();
            if (training.Count < 2)
                throw new InvalidOperationException($"machine '{machine.Key}' has {training.Count} training clips; whitening needs at least two");
            var (whitener, clips) = HeldOutWhitening.Fit(training.Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList());
            whiteners[machine.Key] = whitener;
            for (int i = 0; i < training.Count; i++) heldOut[training[i]] = clips[i].HeldOutDistance;
        }
        var records = table.Records.Select(r => r with
        {
            Embedding = whiteners[r.Machine].Transform(r.Embedding),
            HeldOutDistance = heldOut.GetValueOrDefault(r),
        }).ToList();
        return new EmbeddingTable(records, table.Dimension, $"{table.Source}, whitened per machine on its training clips");
    }

    /// <summary>Each machine's records through a transform fitted on that machine's training records only.</summary>
    private static EmbeddingTable Transformed(EmbeddingTable table, string what, Func<string, List<EmbeddingRecord>, IFeatureTransform> fit)
    {
        var transforms = table.Records.GroupBy(r => r.Machine, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => fit(g.Key, g.Where(r => !r.IsTest).ToList()), StringComparer.Ordinal);
        var records = table.Records.Select(r => r with { Embedding = transforms[r.Machine].Transform(r.Embedding) }).ToList();
        return new EmbeddingTable(records, table.Dimension, $"{table.Source}, {what} per machine on its training clips");
    }
}
