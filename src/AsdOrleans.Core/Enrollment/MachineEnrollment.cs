using AsdOrleans.Core.Scoring;

namespace AsdOrleans.Core.Enrollment;

/// <summary>
/// What enrollment derives from a machine's training clips, independent of the query strategy:
/// the reference set N, the enrollment scores M, and the normalised training normals (the QBC pool).
/// Built once and shared read-only; <see cref="Machines.MachineModel.Create"/> copies what it mutates.
/// </summary>
public sealed class MachineEnrollment
{
    private MachineEnrollment(EmbeddingSet referenceSet, double[] normalScores, EmbeddingSet trainingNormals, string modelVersion)
    {
        ReferenceSet = referenceSet;
        NormalScores = normalScores;
        TrainingNormals = trainingNormals;
        ModelVersion = modelVersion;
    }

    public EmbeddingSet ReferenceSet { get; }
    /// <summary>M: Eq. 1 scores of the training normals against N.</summary>
    public IReadOnlyList<double> NormalScores { get; }
    public EmbeddingSet TrainingNormals { get; }
    public string ModelVersion { get; }
    public int Dimension => ReferenceSet.Dimension;

    public static MachineEnrollment Build(IReadOnlyList<EnrollmentClip> clips, int sourceClusters, ulong seed, string modelVersion = "")
    {
        var referenceSet = ReferenceSetBuilder.Build(clips, sourceClusters, seed);
        var trainingNormals = new EmbeddingSet(referenceSet.Dimension, clips.Count);
        var scores = new double[clips.Count];
        var normalised = new float[referenceSet.Dimension];
        for (int i = 0; i < clips.Count; i++)
        {
            EmbeddingMath.Normalize(clips[i].Embedding, normalised);
            trainingNormals.AddNormalized(normalised);
            scores[i] = AnomalyScore.DistanceToReference(referenceSet, normalised);
        }
        return new MachineEnrollment(referenceSet, scores, trainingNormals, modelVersion);
    }
}
