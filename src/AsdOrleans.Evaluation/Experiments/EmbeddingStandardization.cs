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
        Transformed(table, "standardised", training => new MachineFit(FeatureStandardizer.Fit(training.Select(r => r.Embedding).ToList()), null));

    /// <summary>
    /// The <c>spectral</c> embedder's per-machine transform, fitted as a machine grain fits it
    /// (<see cref="HeldOutWhitening.Fit"/>: a <see cref="FeatureWhitener"/> on the machine's training records and their
    /// domains), applied to every one of its records; training records also get their held-out distances. Test clips never
    /// enter the fit.
    /// </summary>
    public static EmbeddingTable WhitenedPerMachine(EmbeddingTable table) =>
        Transformed(table, "whitened", training =>
        {
            var (whitener, clips) = HeldOutWhitening.Fit(training.Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList());
            return new MachineFit(whitener, clips);
        });

    /// <summary>A machine's fitted transform and, where the fit made them, its training records as transformed clips (in
    /// training-record order, with their held-out distances).</summary>
    private sealed record MachineFit(IFeatureTransform Transform, IReadOnlyList<EnrollmentClip>? TrainingClips);

    /// <summary>Each machine's records through a transform fitted on that machine's training records only; training records
    /// the fit already transformed keep that result and its held-out distance.</summary>
    /// <remarks>Too few training clips, and clips that do not vary (<see cref="UnvaryingTrainingException"/>, refused by the
    /// fit), are bad input named by machine, as the machine grain names them.</remarks>
    private static EmbeddingTable Transformed(EmbeddingTable table, string what, Func<List<EmbeddingRecord>, MachineFit> fit)
    {
        var transforms = new Dictionary<string, IFeatureTransform>(StringComparer.Ordinal);
        var fitted = new Dictionary<EmbeddingRecord, EnrollmentClip>(ReferenceEqualityComparer.Instance);
        foreach (var machine in table.Records.GroupBy(r => r.Machine, StringComparer.Ordinal))
        {
            var training = machine.Where(r => !r.IsTest).ToList();
            if (MachineEnrollment.TooFewClips(training.Count) is { } tooFew)
                throw MachineTrainingInput.Refused(machine.Key, tooFew);
            var (transform, clips) = MachineTrainingInput.Fit(machine.Key, () => fit(training));
            transforms[machine.Key] = transform;
            for (int i = 0; clips is not null && i < training.Count; i++) fitted[training[i]] = clips[i];
        }
        var records = table.Records.Select(r => fitted.TryGetValue(r, out var clip)
            ? r with { Embedding = clip.Embedding, HeldOutDistance = clip.HeldOutDistance }
            : r with { Embedding = transforms[r.Machine].Transform(r.Embedding) }).ToList();
        return new EmbeddingTable(records, table.Dimension, $"{table.Source}, {what} per machine on its training clips");
    }
}
