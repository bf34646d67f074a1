using AsdOrleans.Core.Enrollment;
using AsdOrleans.Core.Io;
using AsdOrleans.Core.Machines;
using AsdOrleans.Core.Metrics;
using AsdOrleans.Core.Randomness;
using AsdOrleans.Core.Scoring;
using AsdOrleans.Core.Strategies;

namespace AsdOrleans.Core.Experiments;

/// <summary>What to run: every machine × strategy × budget × trial, with shared method parameters.</summary>
public sealed record ExperimentSettings
{
    public IReadOnlyList<QueryStrategyKind> Strategies { get; init; } =
        [QueryStrategyKind.None, QueryStrategyKind.Random, QueryStrategyKind.VariableUncertainty, QueryStrategyKind.Hybrid, QueryStrategyKind.Qbc];
    public IReadOnlyList<double> Budgets { get; init; } = [0, 0.05, 0.1, 0.2];
    public int Trials { get; init; } = 10;
    public ulong Seed { get; init; }
    /// <summary>γ, α, w, v and the rest; Strategy, Budget and Seed are set per run.</summary>
    public MachineConfig Method { get; init; } = new();
    public int MaxDegreeOfParallelism { get; init; } = Environment.ProcessorCount;

    public ExperimentSettings Validate()
    {
        if (Strategies.Count == 0) throw new ArgumentException("at least one strategy is needed");
        if (Strategies.Distinct().Count() != Strategies.Count) throw new ArgumentException("a strategy is listed twice");
        if (Budgets.Count == 0) throw new ArgumentException("at least one budget is needed");
        foreach (var b in Budgets)
            if (!(b >= 0 && b <= 1)) throw new ArgumentException($"budget {b} is outside [0, 1]");
        if (Budgets.Distinct().Count() != Budgets.Count) throw new ArgumentException("a budget is listed twice");
        if (Trials < 1) throw new ArgumentException($"trials must be at least 1, got {Trials}");
        if (MaxDegreeOfParallelism < 1) throw new ArgumentException("parallelism must be at least 1");
        Method.Validate();
        return this;
    }
}

/// <summary>One prequential run: a machine's shuffled test stream under one strategy, budget and trial.</summary>
public sealed record TrialResult(
    string Machine, QueryStrategyKind Strategy, double Budget, int Trial,
    double Auc, double PartialAuc, double AucSource, double AucTarget,
    int Clips, long Queries, long NormalLabels, long AnomalousLabels)
{
    public double RealisedBudget => (double)Queries / Clips;
}

/// <summary>
/// The paper's prequential evaluation (Section 4.4, DESIGN §1): per machine and trial, shuffle the test
/// clips with the trial's seed, score each clip with the state before its own label, then query and
/// label from the ground truth; AUC and pAUC over all scores of the stream.
/// </summary>
public static class PrequentialExperiment
{
    /// <summary>A machine's data, prepared once and shared read-only by its runs.</summary>
    private sealed record PreparedMachine(string Name, MachineEnrollment Enrollment, float[][] Test, bool[] IsAnomaly, bool[] IsTarget);

    public static IReadOnlyList<TrialResult> Run(EmbeddingTable table, ExperimentSettings settings,
        Action<int, int>? progress = null, CancellationToken cancellation = default)
    {
        settings.Validate();
        var machines = Prepare(table, settings);
        var items = (from m in Enumerable.Range(0, machines.Count)
                     from s in settings.Strategies
                     from b in settings.Budgets
                     from t in Enumerable.Range(0, settings.Trials)
                     select (Machine: m, Strategy: s, Budget: b, Trial: t)).ToArray();
        var results = new TrialResult[items.Length];
        int done = 0;
        Parallel.For(0, items.Length,
            new ParallelOptions { MaxDegreeOfParallelism = settings.MaxDegreeOfParallelism, CancellationToken = cancellation },
            i =>
            {
                var item = items[i];
                results[i] = RunOne(machines[item.Machine], item.Strategy, item.Budget, item.Trial, settings);
                progress?.Invoke(Interlocked.Increment(ref done), items.Length);
            });
        return results;
    }

    /// <summary>One trial's stream order: a permutation of the test clips seeded by (seed, machine, trial) only,
    /// so every strategy and budget sees the same order (paired comparison).</summary>
    public static int[] StreamOrder(int clips, ulong seed, string machine, int trial)
    {
        var random = RandomState.FromSeed(RandomState.DeriveSeed(seed, RandomState.StableHash(machine), (ulong)trial, 0x0D /* order */));
        var order = Enumerable.Range(0, clips).ToArray();
        for (int i = clips - 1; i > 0; i--)
        {
            int j = random.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    /// <summary>The machine configuration of one run; its seed depends on (seed, machine, trial), not the strategy.</summary>
    public static MachineConfig RunConfig(ExperimentSettings settings, string machine, QueryStrategyKind strategy, double budget, int trial)
        => settings.Method with
        {
            Strategy = strategy,
            Budget = budget,
            Seed = RandomState.DeriveSeed(settings.Seed, RandomState.StableHash(machine), (ulong)trial, 0x3A /* machine */),
        };

    private static TrialResult RunOne(PreparedMachine machine, QueryStrategyKind strategy, double budget, int trial, ExperimentSettings settings)
    {
        var model = MachineModel.Create(RunConfig(settings, machine.Name, strategy, budget, trial), machine.Enrollment);
        var order = StreamOrder(machine.Test.Length, settings.Seed, machine.Name, trial);
        var scores = new double[order.Length];
        var isAnomaly = new bool[order.Length];
        var isTarget = new bool[order.Length];
        for (int i = 0; i < order.Length; i++)
        {
            int clip = order[i];
            var outcome = model.ProcessNormalized(machine.Test[clip]);
            if (outcome.LabelRequested)
                model.ApplyLabelNormalized(machine.Test[clip], outcome.Score, machine.IsAnomaly[clip] ? ClipLabel.Anomalous : ClipLabel.Normal);
            scores[i] = outcome.Score;
            isAnomaly[i] = machine.IsAnomaly[clip];
            isTarget[i] = machine.IsTarget[clip];
        }
        var metrics = DetectionMetrics.Evaluate(scores, isAnomaly, isTarget);
        return new TrialResult(machine.Name, strategy, budget, trial, metrics.Auc, metrics.PartialAuc, metrics.AucSource, metrics.AucTarget,
            order.Length, model.Queries, model.NormalLabels, model.AnomalousLabels);
    }

    private static List<PreparedMachine> Prepare(EmbeddingTable table, ExperimentSettings settings)
    {
        var prepared = new List<PreparedMachine>();
        foreach (var name in table.Machines)
        {
            var rows = table.Records.Where(r => r.Machine == name).ToList();
            var train = rows.Where(r => !r.IsTest).Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList();
            var test = rows.Where(r => r.IsTest).ToList();
            if (train.Count == 0)
                throw new InputDataException(table.Source, null, $"machine '{name}' has no training clips to enroll from");
            if (!test.Any(r => r.IsAnomaly) || !test.Any(r => !r.IsAnomaly))
                throw new InputDataException(table.Source, null, $"machine '{name}' needs normal and anomalous test clips (AUC is undefined otherwise)");
            foreach (bool target in new[] { false, true })
                if (!test.Any(r => !r.IsAnomaly && r.IsTarget == target))
                    throw new InputDataException(table.Source, null, $"machine '{name}' has no {(target ? "target" : "source")}-domain normal test clips (AUC({(target ? "target" : "source")}) is undefined)");
            ulong enrollSeed = RandomState.DeriveSeed(settings.Seed, RandomState.StableHash(name), 0x4B4D /* k-means */);
            var enrollment = MachineEnrollment.Build(train, settings.Method.SourceClusters, enrollSeed);
            prepared.Add(new PreparedMachine(name, enrollment,
                test.Select(r => EmbeddingMath.Normalized(r.Embedding)).ToArray(),
                test.Select(r => r.IsAnomaly).ToArray(),
                test.Select(r => r.IsTarget).ToArray()));
        }
        return prepared;
    }
}
