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
            var reference = scoreOnly.ReferenceSet.ConvertedTo(EmbeddingPrecision.Fp32);
            var reference16 = reference.ConvertedTo(EmbeddingPrecision.Fp16);
            var baseline = Measure("max-cos scan, one TensorPrimitives.Dot per row", j, secondsPerCase,
                i => 1.0 - MaxCosinePerRow(reference, normalised[i % normalised.Length]));
            Report(output, baseline);
            var blocked = Measure("max-cos scan, 4-row blocked kernel, fp32 rows", j, secondsPerCase,
                i => 1.0 - reference.MaxCosine(normalised[i % normalised.Length]));
            Report(output, blocked);
            output.WriteLine($"{"  ratio blocked / per-row",-44} {"",6} {blocked.CallsPerSecond / baseline.CallsPerSecond,12:F2}x");
            var blocked16 = Measure("max-cos scan, blocked kernel, fp16 rows (default)", j, secondsPerCase,
                i => 1.0 - reference16.MaxCosine(normalised[i % normalised.Length]));
            Report(output, blocked16);
            output.WriteLine($"{"  ratio fp16 rows / fp32 rows",-44} {"",6} {blocked16.CallsPerSecond / blocked.CallsPerSecond,12:F2}x");
            Report(output, Measure("Eq. 3 score only (normalised input)", j, secondsPerCase, i => scoreOnly.ScoreNormalized(normalised[i % normalised.Length])));

            // The default recipe (N capped: QBC's committee draws from N) and the paper's (QBC's committee draws from a pool of every labelled normal).
            var perCase = new Dictionary<string, Measurement>();
            foreach (var (label, config) in new[]
            {
                ("hybrid", new MachineConfig { Strategy = QueryStrategyKind.Hybrid, Budget = 0.1 }),
                ("random", new MachineConfig { Strategy = QueryStrategyKind.Random, Budget = 0.1 }),
                ("qbc, committee on N", new MachineConfig { Strategy = QueryStrategyKind.Qbc, Budget = 0.1 }),
                ("qbc, pool (paper)", MachineConfig.Paper with { Strategy = QueryStrategyKind.Qbc, Budget = 0.1 }),
            })
            {
                var model = MachineModel.Create(config, enrollment);
                perCase[label] = Measure($"score + decide + commit, {label}", j, secondsPerCase, i => model.Process(stream[i % stream.Length]).Score);
                Report(output, perCase[label]);
            }
            foreach (var committee in new[] { "qbc, committee on N", "qbc, pool (paper)" })
                output.WriteLine($"{$"  ratio {committee} / hybrid (ns per clip)",-44} {"",6} {perCase[committee].NanosecondsPerCall / perCase["hybrid"].NanosecondsPerCall,12:F1}x");
            QbcBreakdown(output, enrollment, normalised, j, secondsPerCase);
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
        output.WriteLine($"  qbc, committee on N, freshly enrolled (J = {qbc.ReferenceSet.Count}):              {qbc.Serialize().Length:N0} bytes");
        var qbcPaper = MachineModel.Create(MachineConfig.Paper with { Strategy = QueryStrategyKind.Qbc }, paperEnrollment);
        output.WriteLine($"  qbc, paper, freshly enrolled (pool of {qbcPaper.LabelledNormals!.Count} labelled normals): {qbcPaper.Serialize().Length:N0} bytes");
    }

    /// <summary>
    /// Where QBC's time goes (issue 13): the pool's cosines alone (the floor of any exact committee), QBC's utility and
    /// filter decision as they run now, and as they ran before (a max over each member's subset; a filter that copied
    /// its window and selected the quantile per clip), rebuilt here as the baseline.
    /// </summary>
    private static void QbcBreakdown(TextWriter output, MachineEnrollment enrollment, float[][] normalised, int j, double seconds)
    {
        var config = MachineConfig.Paper with { Strategy = QueryStrategyKind.Qbc, Budget = 0.1 }; // the pool committee
        var state = QbcState.Create(config, enrollment.TrainingNormals.Clone());
        var pool = state.Pool;
        var cosines = new float[pool.Count];
        string poolLabel = $"(pool {pool.Count})";
        var floor = Measure($"qbc: pool cosines only {poolLabel}", j, seconds, i => { pool.Cosines(normalised[i % normalised.Length], cosines); return cosines[0]; });
        var baseline = new QbcBaseline(config, pool.Count);
        for (int i = 0; i < 200; i++) { double u = baseline.Utility(pool, normalised[i % normalised.Length], cosines); baseline.Record(u); state.Filter.Record(u, false); }
        var before = Measure("qbc: utility + filter, per-member scans (before)", j, seconds, i =>
        {
            double u = baseline.Utility(pool, normalised[i % normalised.Length], cosines);
            return baseline.WouldQuery(u, 0.1) ? u : -u;
        });
        var after = Measure("qbc: utility + filter, top-8 + sorted window (now)", j, seconds, i =>
        {
            double u = state.Utility(normalised[i % normalised.Length], null);
            return state.Filter.WouldQuery(u, 0.1) ? u : -u;
        });
        Report(output, floor);
        Report(output, before);
        Report(output, after);
        output.WriteLine($"{"  ratio now / before (calls/s)",-44} {"",6} {after.CallsPerSecond / before.CallsPerSecond,12:F2}x");
    }

    /// <summary>QBC's per-clip path before issue 13 (Committee.Utility's member loop, the filter's copy-and-select), for the side-by-side figure.</summary>
    private sealed class QbcBaseline
    {
        private readonly int[][] _members;
        private readonly Queue<double> _window = new();
        private readonly int _windowSize, _tolerance;
        private long _observed; // the baseline never queries while measured: queried stays 0

        public QbcBaseline(MachineConfig config, int poolCount)
        {
            var random = new Random(7);
            int subset = (int)Math.Ceiling(config.CommitteeSubsetFraction * poolCount);
            _members = Enumerable.Range(0, config.CommitteeSize)
                .Select(_ => Enumerable.Range(0, poolCount).OrderBy(_ => random.Next()).Take(subset).Order().ToArray()).ToArray();
            (_windowSize, _tolerance) = (config.UtilityWindow, config.ToleranceWindow);
        }

        public double Utility(EmbeddingSet pool, float[] query, float[] cosines)
        {
            pool.Cosines(query, cosines);
            Span<double> scores = stackalloc double[_members.Length];
            double mean = 0;
            for (int m = 0; m < _members.Length; m++)
            {
                float best = float.NegativeInfinity;
                foreach (int index in _members[m])
                    if (cosines[index] > best) best = cosines[index];
                scores[m] = 1.0 - best;
                mean += scores[m];
            }
            mean /= _members.Length;
            double disagreement = 0;
            foreach (double v in scores) disagreement += Math.Abs(v - mean);
            return disagreement / _members.Length;
        }

        public bool WouldQuery(double utility, double budget)
        {
            int count = Math.Min(_window.Count + 1, _windowSize);
            var values = _window.Skip(_window.Count + 1 - count).Append(utility).ToArray();
            double min = values.Min(), max = values.Max();
            double theta = MathNet.Numerics.Statistics.ArrayStatistics.QuantileCustomInplace(values, 1 - budget, MathNet.Numerics.Statistics.QuantileDefinition.R7);
            return utility >= theta - (max - min) * ((budget * (_observed + 1)) / _tolerance);
        }

        public void Record(double utility)
        {
            _window.Enqueue(utility);
            while (_window.Count > _windowSize) _window.Dequeue();
            _observed++;
        }
    }

    /// <summary>The straightforward scan, kept here as the baseline the kernel is measured against.</summary>
    private static float MaxCosinePerRow(EmbeddingSet set, float[] query)
    {
        float best = float.NegativeInfinity;
        for (int row = 0; row < set.Count; row++)
            best = Math.Max(best, System.Numerics.Tensors.TensorPrimitives.Dot(set.Row(row), query));
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
