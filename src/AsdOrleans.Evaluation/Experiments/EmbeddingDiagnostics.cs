using AsdOrleans.Method.Scoring;

namespace AsdOrleans.Evaluation.Experiments;

/// <summary>Quick checks of an embedding space, reported by `asd embed`.</summary>
public static class EmbeddingDiagnostics
{
    /// <summary>
    /// How often the k nearest training embeddings (cosine) of a held-out test clip vote for the clip's own
    /// machine: the encoder should separate machine types before anomaly scores mean anything.
    /// Ties go to the machine of the nearest neighbour.
    /// </summary>
    public static double NearestNeighbourMachineAccuracy(EmbeddingTable table, int k = 5)
    {
        if (k < 1) throw new ArgumentException($"k must be at least 1, got {k}");
        var train = table.Records.Where(r => !r.IsTest).ToList();
        var test = table.Records.Where(r => r.IsTest).ToList();
        if (train.Count == 0 || test.Count == 0)
            throw new ArgumentException("nearest-neighbour accuracy needs training and test clips");
        var references = new EmbeddingSet(table.Dimension, train.Count);
        foreach (var r in train) references.AddNormalized(EmbeddingMath.Normalized(r.Embedding));
        var cosines = new float[train.Count];
        int correct = 0;
        foreach (var clip in test)
        {
            references.Cosines(EmbeddingMath.Normalized(clip.Embedding), cosines);
            var nearest = Enumerable.Range(0, train.Count).OrderByDescending(i => cosines[i]).Take(k).ToList();
            string vote = nearest.GroupBy(i => train[i].Machine)
                .OrderByDescending(g => g.Count()).ThenBy(g => nearest.IndexOf(g.First()))
                .First().Key;
            if (vote == clip.Machine) correct++;
        }
        return (double)correct / test.Count;
    }
}
