using System.Diagnostics;
using AsdOrleans.Method.Enrollment;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Metrics;
using AsdOrleans.Method.Randomness;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Cli.Benchmarks;

/// <summary>
/// Bounded against unbounded state on long prequential streams (issue 13): the same machines, streams and labels
/// (an oracle answers every query) under the default method with its caps and with N, A, M unbounded, side by side.
/// Reports prequential AUC (each clip scored before its label), and at checkpoints the state bytes and the time to
/// score a fixed probe set, so growth after the cap shows.
/// </summary>
public static class LongStreamBenchmark
{
    /// <param name="Caps">The capped variants, each (N, A, M) caps; the unbounded machine is always run first.</param>
    public sealed record Settings(int StreamLength, int Machines, double AnomalyShare, int Checkpoints, QueryStrategyKind Strategy, ulong Seed,
        IReadOnlyList<(int N, int A, int M)> Caps);

    private sealed record Variant(string Name, MachineConfig Config);

    public static void Run(TextWriter output, Settings s)
    {
        var variants = new List<Variant> { new("unbounded", MachineConfig.Default with { ReferenceCap = 0, AnomalyCap = 0, ScoreCap = 0 }) };
        foreach (var (n, a, m) in s.Caps)
        {
            bool isDefault = (n, a, m) == (StateBounds.DefaultReferenceCap, StateBounds.DefaultAnomalyCap, StateBounds.DefaultScoreCap);
            variants.Add(new($"capped N {n}, A {a}, M {m}{(isDefault ? " (default)" : "")}", MachineConfig.Default with { ReferenceCap = n, AnomalyCap = a, ScoreCap = m }));
        }
        // N starts from the paper's 32 source centres in every variant, as when the caps were measured (docs/benchmarks.md):
        // the caps are about growth from labels, not about the enrollment's size.
        variants = variants.Select(v => v with { Config = v.Config with { Strategy = s.Strategy, SourceClusters = MachineConfig.PaperSourceClusters } }).ToList();
        int normalsPerDomain = (int)Math.Ceiling(s.StreamLength * (1 - s.AnomalyShare) / 2) + 1;
        var data = SyntheticEmbeddings.Generate(new SyntheticEmbeddingSettings
        {
            Machines = s.Machines, Seed = s.Seed, TestPerDomainAndLabel = Math.Max(normalsPerDomain, (int)Math.Ceiling(s.StreamLength * s.AnomalyShare / 2) + 1),
        });
        output.WriteLine($"long-stream benchmark: {s.Machines} machines (synth-embeddings seed {s.Seed}), {s.StreamLength:N0} clips each ({s.AnomalyShare:P0} anomalous), " +
                         $"{s.Strategy.ToName()}, b = {MachineConfig.Default.Budget}, default method; {Environment.ProcessorCount} cores, load average {LoadAverage()}");
        var auc = new double[variants.Count, s.Machines];
        var bytes = new long[variants.Count, s.Checkpoints + 1];
        var probeNs = new double[variants.Count, s.Checkpoints + 1];
        var totalNs = new double[variants.Count];
        var checkpointClips = new int[s.Checkpoints + 1];
        for (int m = 0; m < s.Machines; m++)
        {
            var records = data.Records.Where(r => r.Machine == $"machine-{m:D2}").ToList();
            var train = records.Where(r => !r.IsTest).Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList();
            var stream = Stream(records, s, (ulong)m);
            var probes = stream.Take(1000).Select(r => EmbeddingMath.Normalized(r.Embedding)).ToArray();
            for (int v = 0; v < variants.Count; v++)
            {
                var model = MachineModel.Enroll(variants[v].Config with { Seed = RandomState.DeriveSeed(s.Seed, (ulong)m) }, train);
                var scores = new double[stream.Count];
                int checkpoint = 0;
                var watch = new Stopwatch();
                for (int i = 0; i <= stream.Count; i++)
                {
                    if (i == (long)stream.Count * checkpoint / s.Checkpoints)
                    {
                        checkpointClips[checkpoint] = i;
                        bytes[v, checkpoint] += model.Serialize().Length;
                        probeNs[v, checkpoint] += ProbeNanoseconds(model, probes);
                        checkpoint++;
                    }
                    if (i == stream.Count) break;
                    watch.Start();
                    var outcome = model.Process(stream[i].Embedding);
                    if (outcome.LabelRequested)
                        model.ApplyLabel(stream[i].Embedding, outcome.Score, stream[i].IsAnomaly ? ClipLabel.Anomalous : ClipLabel.Normal);
                    watch.Stop();
                    scores[i] = outcome.Score;
                }
                totalNs[v] += watch.Elapsed.TotalNanoseconds / stream.Count;
                auc[v, m] = DetectionMetrics.Auc(scores, stream.Select(r => r.IsAnomaly).ToArray());
            }
        }

        output.WriteLine();
        output.WriteLine($"{"variant",-40} {"AUC (mean)",10} {"Δ vs unbounded",15} {"max |Δ| machine",16} {"ns/clip",9}");
        for (int v = 0; v < variants.Count; v++)
        {
            double mean = Enumerable.Range(0, s.Machines).Average(m => auc[v, m]);
            double baseMean = Enumerable.Range(0, s.Machines).Average(m => auc[0, m]);
            double maxDelta = Enumerable.Range(0, s.Machines).Max(m => Math.Abs(auc[v, m] - auc[0, m]));
            output.WriteLine($"{variants[v].Name,-40} {mean,10:F4} {mean - baseMean,15:+0.0000;-0.0000;0.0000} {maxDelta,16:F4} {totalNs[v] / s.Machines,9:F0}");
        }
        output.WriteLine("(AUC: prequential, each clip scored before its label, one AUC per machine over its whole stream; ns/clip: Process + ApplyLabel over the stream)");
        output.WriteLine();
        output.Write($"{"clips seen",10}");
        foreach (var v in variants) output.Write($" {Short(v.Name) + " bytes",16} {Short(v.Name) + " ns",12}");
        output.WriteLine();
        for (int c = 0; c <= s.Checkpoints; c++)
        {
            output.Write($"{checkpointClips[c],10:N0}");
            for (int v = 0; v < variants.Count; v++)
                output.Write($" {bytes[v, c] / s.Machines,16:N0} {probeNs[v, c] / s.Machines,12:F0}");
            output.WriteLine();
        }
        output.WriteLine("(bytes: MachineModel.Serialize per machine; ns: mean time to score one of 1,000 fixed probe clips (ScoreNormalized), best of 3 passes)");
    }

    private static string Short(string name)
        => name.StartsWith("capped", StringComparison.Ordinal) ? string.Join('/', name.Split(' ').Where(w => w.TrimEnd(',').All(char.IsDigit)).Select(w => w.TrimEnd(','))) : name;

    /// <summary>A machine's stream: its test clips shuffled (seeded), anomalies thinned to the requested share.</summary>
    private static List<EmbeddingRecord> Stream(List<EmbeddingRecord> records, Settings s, ulong machine)
    {
        var random = RandomState.FromSeed(RandomState.DeriveSeed(s.Seed, machine, 0x57 /* stream */));
        var normals = records.Where(r => r.IsTest && !r.IsAnomaly).ToList();
        var anomalies = records.Where(r => r.IsTest && r.IsAnomaly).ToList();
        int anomalyCount = (int)Math.Round(s.StreamLength * s.AnomalyShare);
        var chosen = Shuffle(normals, ref random).Take(s.StreamLength - anomalyCount).Concat(Shuffle(anomalies, ref random).Take(anomalyCount)).ToList();
        return Shuffle(chosen, ref random);
    }

    private static List<T> Shuffle<T>(List<T> items, ref RandomState random)
    {
        var copy = items.ToList();
        for (int i = copy.Count - 1; i > 0; i--)
        {
            int j = random.NextInt(i + 1);
            (copy[i], copy[j]) = (copy[j], copy[i]);
        }
        return copy;
    }

    private static double ProbeNanoseconds(MachineModel model, float[][] probes)
    {
        double best = double.PositiveInfinity, sink = 0;
        for (int pass = 0; pass < 3; pass++)
        {
            long start = Stopwatch.GetTimestamp();
            foreach (var p in probes) sink += model.ScoreNormalized(p);
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalNanoseconds / probes.Length);
        }
        if (double.IsNaN(sink)) Console.Error.WriteLine("(unexpected NaN)");
        return best;
    }

    internal static string LoadAverage()
        => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";
}
