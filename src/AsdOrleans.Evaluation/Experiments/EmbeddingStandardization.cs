using AsdOrleans.Method.Enrollment;

namespace AsdOrleans.Evaluation.Experiments;

/// <summary>
/// Per-machine standardisation of an embeddings table (issue 11's training-free baseline): for each machine a
/// <see cref="FeatureStandardizer"/> fitted on that machine's training records (both domains) is applied to every one of
/// its records, training and test. Test clips never enter the fit.
/// </summary>
public static class EmbeddingStandardization
{
    public static EmbeddingTable PerMachine(EmbeddingTable table)
    {
        var standardizers = new Dictionary<string, FeatureStandardizer>(StringComparer.Ordinal);
        foreach (var group in table.Records.GroupBy(r => r.Machine, StringComparer.Ordinal))
        {
            var training = group.Where(r => !r.IsTest).Select(r => r.Embedding).ToList();
            if (training.Count == 0)
                throw new InvalidOperationException($"machine '{group.Key}' has no training clips to standardise on");
            standardizers[group.Key] = FeatureStandardizer.Fit(training);
        }
        var records = table.Records.Select(r => r with { Embedding = standardizers[r.Machine].Transform(r.Embedding) }).ToList();
        return new EmbeddingTable(records, table.Dimension, $"{table.Source}, standardised per machine on its training clips");
    }

    /// <summary>
    /// The <c>spectral</c> embedder's per-machine transform: a <see cref="FeatureWhitener"/> fitted on the machine's
    /// training records and their domains, applied to every one of its records. Test clips never enter the fit.
    /// </summary>
    public static EmbeddingTable WhitenedPerMachine(EmbeddingTable table)
    {
        var whiteners = new Dictionary<string, FeatureWhitener>(StringComparer.Ordinal);
        foreach (var group in table.Records.GroupBy(r => r.Machine, StringComparer.Ordinal))
        {
            var training = group.Where(r => !r.IsTest).ToList();
            if (training.Count < 2)
                throw new InvalidOperationException($"machine '{group.Key}' has {training.Count} training clips; whitening needs at least two");
            whiteners[group.Key] = FeatureWhitener.Fit(training.Select(r => r.Embedding).ToList(), training.Select(r => r.IsTarget).ToList());
        }
        var records = table.Records.Select(r => r with { Embedding = whiteners[r.Machine].Transform(r.Embedding) }).ToList();
        return new EmbeddingTable(records, table.Dimension, $"{table.Source}, whitened per machine on its training clips");
    }
}
