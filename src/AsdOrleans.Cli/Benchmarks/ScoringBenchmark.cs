using System.Diagnostics;
using AsdOrleans.Method.Enrollment;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Cli.Benchmarks;

/// <summary>
/// Score-and-decide throughput of one machine on one thread (= per core), for reference sets of
/// J = 42 (the paper's 32 centres + 10 target clips) and J = 1,000, and the bytes of persisted state.
/// Labels are not applied, so J stays fixed while measuring.
/// </summary>
public static class ScoringBenchmark
{
    public sealed record Measurement(string Case, int J, double CallsPerSecond, double NanosecondsPerCall);

    public static void Run(TextWriter output, double secondsPerCase)
    {
        var data = SyntheticEmbeddings.Generate(new SyntheticEmbeddingSettings { Machines = 1, Seed = 42 });
        var train = data.Records.Where(r => !r.IsTest).Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList();
        var stream = data.Records.Where(r => r.IsTest).Select(r => r.Embedding).ToArray();
        output.WriteLine($"scoring benchmark: d = {data.Dimension}, one thread, {secondsPerCase:0.###} s per case, {Environment.ProcessorCount} cores present");
        output.WriteLine($"{"case",-44} {"J",6} {"calls/s",12} {"ns/call",9}");

        foreach (int clusters in new[] { 32, 990 })
        {
            var enrollment = MachineEnrollment.Build(train, clusters, seed: 1);
            int j = enrollment.ReferenceSet.Count;
            var normalised = stream.Select(e => EmbeddingMath.Normalized(e)).ToArray();

            var scoreOnly = MachineModel.Create(new MachineConfig { Strategy = QueryStrategyKind.Hybrid }, enrollment);
            var reference = scoreOnly.ReferenceSet;
            var baseline = Measure("max-cos scan, one TensorPrimitives.Dot per row", j, secondsPerCase,
                i => 1.0 - MaxCosinePerRow(reference, normalised[i % normalised.Length]));
            Report(output, baseline);
            var blocked = Measure("max-cos scan, 4-row blocked kernel (used)", j, secondsPerCase,
                i => 1.0 - reference.MaxCosine(normalised[i % normalised.Length]));
            Report(output, blocked);
            output.WriteLine($"{"  ratio blocked / per-row",-44} {"",6} {blocked.CallsPerSecond / baseline.CallsPerSecond,12:F2}x");
            Report(output, Measure("Eq. 3 score only (normalised input)", j, secondsPerCase, i => scoreOnly.ScoreNormalized(normalised[i % normalised.Length])));

            foreach (var strategy in new[] { QueryStrategyKind.Hybrid, QueryStrategyKind.Random, QueryStrategyKind.Qbc })
            {
                var model = MachineModel.Create(new MachineConfig { Strategy = strategy, Budget = 0.1 }, enrollment);
                Report(output, Measure($"score + decide + commit, {strategy.ToName()} (raw input)", j, secondsPerCase,
                    i => model.Process(stream[i % stream.Length]).Score));
            }
        }

        output.WriteLine();
        output.WriteLine("state bytes per machine (MachineModel.Serialize):");
        var paperEnrollment = MachineEnrollment.Build(train, 32, seed: 1);
        var hybrid = MachineModel.Create(new MachineConfig { Strategy = QueryStrategyKind.Hybrid }, paperEnrollment);
        output.WriteLine($"  hybrid, freshly enrolled (J = {hybrid.ReferenceSet.Count}, |M| = {hybrid.NormalScores.Count}): {hybrid.Serialize().Length:N0} bytes");
        foreach (var e in stream.Take(100))
            hybrid.ApplyLabel(e, 0.1, ClipLabel.Normal);
        output.WriteLine($"  hybrid after 100 normal labels (J = {hybrid.ReferenceSet.Count}):                {hybrid.Serialize().Length:N0} bytes");
        var qbc = MachineModel.Create(new MachineConfig { Strategy = QueryStrategyKind.Qbc }, paperEnrollment);
        output.WriteLine($"  qbc, freshly enrolled (pool of {qbc.LabelledNormals!.Count} labelled normals):      {qbc.Serialize().Length:N0} bytes");
    }

    /// <summary>The straightforward scan, kept here as the baseline the kernel is measured against.</summary>
    private static float MaxCosinePerRow(EmbeddingSet set, float[] query)
    {
        float best = float.NegativeInfinity;
        var values = set.Values;
        for (int offset = 0; offset < values.Length; offset += set.Dimension)
            best = Math.Max(best, System.Numerics.Tensors.TensorPrimitives.Dot(values.Slice(offset, set.Dimension), query));
        return best;
    }

    private static Measurement Measure(string name, int j, double seconds, Func<int, double> call)
    {
        double sink = 0;
        for (int i = 0; i < 20_000; i++) sink += call(i); // JIT tiering and caches
        long calls = 0;
        var watch = Stopwatch.StartNew();
        long limit = (long)(seconds * Stopwatch.Frequency);
        while (watch.ElapsedTicks < limit)
        {
            for (int i = 0; i < 1000; i++) sink += call(i);
            calls += 1000;
        }
        watch.Stop();
        if (double.IsNaN(sink)) Console.Error.WriteLine("(unexpected NaN)"); // keeps the calls observable
        double perSecond = calls / watch.Elapsed.TotalSeconds;
        return new Measurement(name, j, perSecond, 1e9 / perSecond);
    }

    private static void Report(TextWriter output, Measurement m)
        => output.WriteLine($"{m.Case,-44} {m.J,6} {m.CallsPerSecond,12:N0} {m.NanosecondsPerCall,9:F0}");
}
