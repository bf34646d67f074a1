using AsdOrleans.Method.Enrollment;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Randomness;

namespace AsdOrleans.Core.Tests;

/// <summary>Small deterministic inputs shared by the tests.</summary>
internal static class TestData
{
    public static float[] RandomVector(ref RandomState random, int dimension)
    {
        var v = new float[dimension];
        for (int i = 0; i < dimension; i++) v[i] = (float)random.NextGaussian();
        return v;
    }

    /// <summary>One synthetic machine: enrollment clips and a labelled test stream.</summary>
    public static (List<EnrollmentClip> Train, List<EmbeddingRecord> Test) Machine(ulong seed = 7, int testPerDomainAndLabel = 50, int sourceTrain = 300, int dimension = 128)
    {
        var table = SyntheticEmbeddings.Generate(new SyntheticEmbeddingSettings
        {
            Machines = 1, Seed = seed, TestPerDomainAndLabel = testPerDomainAndLabel, SourceTrain = sourceTrain, Dimension = dimension,
        });
        var train = table.Records.Where(r => !r.IsTest).Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList();
        var test = table.Records.Where(r => r.IsTest).ToList();
        return (train, test);
    }

    /// <summary>Streams <paramref name="clips"/> through <paramref name="model"/>, an oracle answering every label request.</summary>
    public static List<ClipOutcome> StreamWithOracle(MachineModel model, IEnumerable<EmbeddingRecord> clips)
    {
        var outcomes = new List<ClipOutcome>();
        foreach (var clip in clips)
        {
            var o = model.Process(clip.Embedding);
            outcomes.Add(o);
            if (o.LabelRequested) model.ApplyLabel(clip.Embedding, o.Score, clip.IsAnomaly ? ClipLabel.Anomalous : ClipLabel.Normal);
        }
        return outcomes;
    }
}
