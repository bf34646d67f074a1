using System.Collections.Concurrent;
using AsdOrleans.Method.Enrollment;
using AsdOrleans.Method.Io;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Metrics;
using AsdOrleans.Method.Randomness;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Evaluation.Experiments;

/// <summary>One prequential run: a machine's shuffled test stream under one strategy, budget, sweep point and trial.</summary>
public sealed record TrialResult(
    string Machine, QueryStrategyKind Strategy, double Budget, int Trial,
    double Auc, double PartialAuc, double AucSource, double AucTarget,
    int Clips, long Queries, long NormalLabels, long AnomalousLabels)
{
    public double RealisedBudget => (double)Queries / Clips;
    /// <summary>Requests the labeller closed without a label (`--unsure-answer decline`): queries = normal + anomalous labels + declined.</summary>
    public long Declined { get; init; }
    /// <summary>Labels asked on target-domain clips: where a strategy spends its budget (a label moves scores differently by domain).</summary>
    public long TargetLabels { get; init; }
    /// <summary>Labels the paced budget's floor asked for where the strategy passed (−1: a results.csv from before the count).</summary>
    public long ForcedLabels { get; init; }
    /// <summary>Labels a random draw asked for: all of random's but the floor's, and hybrid's exploration branch (−1: a results.csv from before the count).</summary>
    public long RandomLabels { get; init; }
    /// <summary>The γ, α, w and v of the run.</summary>
    public SweepPoint Point { get; init; }
}

/// <summary>What one run did clip by clip, in stream order: the official evaluator's files are written from it.</summary>
/// <param name="QueryReasons">Why each clip's label was asked for; <see cref="QueryReason.None"/> where it was not.</param>
/// <param name="LabelsGiven">The label the labeller gave a queried clip (not necessarily its truth under `guess`); null where none was given.</param>
public sealed record StreamTrace(string[] Files, double[] Scores, bool[] Alerts, QueryReason[] QueryReasons, bool[] IsAnomaly, bool[] IsTarget,
    ClipLabel?[] LabelsGiven)
{
    public bool Queried(int clip) => QueryReasons[clip] != QueryReason.None;
}

/// <summary>A machine's data, prepared once and shared read-only by its runs.</summary>
public sealed class PreparedMachine
{
    private readonly ConcurrentDictionary<(ulong Seed, int Clusters), Lazy<MachineEnrollment>> _enrollments = new();

    internal PreparedMachine(string name, IReadOnlyList<EnrollmentClip> training, IReadOnlyList<EmbeddingRecord> test)
    {
        Name = name;
        Training = training;
        TestRecords = test;
        Test = test.Select(r => EmbeddingMath.Normalized(r.Embedding)).ToArray();
        IsAnomaly = test.Select(r => r.IsAnomaly).ToArray();
        IsTarget = test.Select(r => r.IsTarget).ToArray();
    }

    public string Name { get; }
    /// <summary>Training clips in table order, as an enrollment request sends them.</summary>
    public IReadOnlyList<EnrollmentClip> Training { get; }
    public IReadOnlyList<EmbeddingRecord> TestRecords { get; }
    public float[][] Test { get; }
    public bool[] IsAnomaly { get; }
    public bool[] IsTarget { get; }

    /// <summary>What N starts with from this machine's source training clips under <paramref name="config"/>, as enrollment builds it.</summary>
    public SourceReferenceUse SourceReferencesFor(MachineConfig config)
    {
        int target = Training.Count(c => c.IsTargetDomain);
        return new SourceReferenceUse(Name, Training.Count - target, target, config.SourceClusters, config.SourceClustersFor(target), config.ReferenceCap);
    }

    /// <summary>The enrollment <see cref="MachineModel.Enroll"/> builds under <paramref name="config"/>, built once per seed.</summary>
    public MachineEnrollment EnrollmentFor(MachineConfig config)
    {
        var key = (MachineModel.EnrollmentSeed(config), config.SourceClustersFor(Training.Count(c => c.IsTargetDomain)));
        return _enrollments.GetOrAdd(key, k => new Lazy<MachineEnrollment>(() => Build(k.Clusters, k.Seed))).Value;
    }

    /// <summary>The enrollment, or training clips that do not vary refused as bad input naming the machine (as the grain names it).</summary>
    private MachineEnrollment Build(int clusters, ulong seed)
        => MachineTrainingInput.Fit(Name, () => MachineEnrollment.Build(Training, clusters, seed));
}

/// <summary>
/// A machine's source references: every source clip (1-NN) when there are no more than the k-means centres it may use,
/// else that many k-means centres, seeded per trial. <paramref name="Clusters"/> is <paramref name="Requested"/> lowered
/// where N would otherwise start above its cap (<see cref="MachineConfig.SourceClustersFor"/>).
/// </summary>
public sealed record SourceReferenceUse(string Machine, int SourceClips, int TargetClips, int Requested, int Clusters, int ReferenceCap)
{
    public bool KeepsEveryClip => SourceClips <= Clusters;
    public int References => Math.Min(Clusters, SourceClips);
    /// <summary>k-means where the request alone would have kept every clip, or fewer centres than requested: N's cap decided.</summary>
    public bool CappedByReferenceCap => !KeepsEveryClip && Clusters < Requested;

    public string Describe() => KeepsEveryClip
        ? $"{Machine}: all {SourceClips} source clips"
        : $"{Machine}: {References} k-means centres of {SourceClips} source clips"
          + (CappedByReferenceCap ? $" (N's cap {ReferenceCap} less its {TargetClips} target clips)" : $" (k = {Requested})");
}

/// <summary>A run to compute: which machine, under which configuration, in which stream order.</summary>
public sealed record PlannedRun(int MachineIndex, QueryStrategyKind Strategy, double Budget, SweepPoint Point, int Trial, MachineConfig Config, int[] Order)
{
    /// <summary>Who answers the run's label requests, and the experiment's seed it draws its unsure clips from.</summary>
    public SimulatedLabeller Labeller { get; init; } = SimulatedLabeller.Truthful;
    public ulong Seed { get; init; }

    /// <summary>The label the simulated labeller gives test clip <paramref name="clip"/> of machine <paramref name="machine"/>; null: declined.</summary>
    public ClipLabel? Answer(PreparedMachine machine, int clip) => Labeller.Answer(Seed, machine.Name, Trial, clip, machine.IsAnomaly[clip]);

    /// <summary>Budget 0 or strategy none: never queries, so its scores depend on neither the strategy nor the sweep point (but on the scoring).</summary>
    public bool IsOffline => Strategy == QueryStrategyKind.None || Budget == 0;
}

/// <summary>Every row the experiment reports and the computed run that gives it (offline runs are shared).</summary>
public sealed record ExperimentPlan(IReadOnlyList<PreparedMachine> Machines, IReadOnlyList<PlannedRun> Runs,
    IReadOnlyList<(int Run, QueryStrategyKind Strategy, double Budget, SweepPoint Point)> Rows);

/// <summary>A reported row with its clip-by-clip trace.</summary>
public sealed record TrialOutcome(TrialResult Result, StreamTrace Stream);

/// <summary>
/// The paper's prequential evaluation (Section 4.4, docs/design.md §1): per machine and trial, shuffle the test
/// clips with the trial's seed, score each clip with the state before its own label, then query and
/// label from the ground truth; AUC and pAUC over all scores of the stream. Each run enrolls exactly as a
/// machine grain does (<see cref="MachineModel.Enroll"/> under the run's configuration), so the same
/// stream sent through a silo gives the same numbers.
/// </summary>
public static class PrequentialExperiment
{
    public static IReadOnlyList<TrialResult> Run(EmbeddingTable table, ExperimentSettings settings,
        Action<int, int>? progress = null, CancellationToken cancellation = default)
        => RunDetailed(table, settings, progress, cancellation).Select(o => o.Result).ToList();

    public static IReadOnlyList<TrialOutcome> RunDetailed(EmbeddingTable table, ExperimentSettings settings,
        Action<int, int>? progress = null, CancellationToken cancellation = default)
        => RunDetailed(Plan(table, settings), settings.MaxDegreeOfParallelism, progress, cancellation);

    /// <summary>Computes a plan's runs in parallel (each run alone is sequential) and assembles its rows.</summary>
    public static IReadOnlyList<TrialOutcome> RunDetailed(ExperimentPlan plan, int parallelism,
        Action<int, int>? progress = null, CancellationToken cancellation = default)
    {
        var traces = new StreamTrace[plan.Runs.Count];
        int done = 0;
        Parallel.For(0, plan.Runs.Count,
            new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellation },
            i =>
            {
                traces[i] = RunInProcess(plan.Machines[plan.Runs[i].MachineIndex], plan.Runs[i]);
                progress?.Invoke(Interlocked.Increment(ref done), plan.Runs.Count);
            });
        return Assemble(plan, traces);
    }

    /// <summary>The rows in a fixed order (machine, strategy, budget, point, trial) and the distinct runs behind them.</summary>
    public static ExperimentPlan Plan(EmbeddingTable table, ExperimentSettings settings)
    {
        settings.Validate();
        var machines = Prepare(table);
        var runs = new List<PlannedRun>();
        var offline = new Dictionary<(int, int, AsdOrleans.Method.Scoring.ScoringKind), int>();
        var rows = new List<(int, QueryStrategyKind, double, SweepPoint)>();
        var points = settings.Points;
        for (int m = 0; m < machines.Count; m++)
        {
            var machine = machines[m];
            foreach (var strategy in settings.Strategies)
                foreach (var budget in settings.Budgets)
                    foreach (var point in points)
                        for (int trial = 0; trial < settings.Trials; trial++)
                        {
                            var order = StreamOrder(machine.Test.Length, settings.Seed, machine.Name, trial);
                            var config = RunConfig(settings, machine.Name, strategy, budget, trial, point);
                            var run = new PlannedRun(m, strategy, budget, point, trial, config, order) { Labeller = settings.Labeller, Seed = settings.Seed };
                            int index;
                            if (run.IsOffline)
                            {
                                if (!offline.TryGetValue((m, trial, point.Scoring), out index))
                                {
                                    // The first point with this scoring stands for all of them (offline scores depend on nothing else).
                                    var first = points.First(p => p.Scoring == point.Scoring);
                                    index = runs.Count;
                                    offline[(m, trial, point.Scoring)] = index;
                                    runs.Add(run with { Strategy = QueryStrategyKind.None, Budget = 0, Point = first,
                                        Config = RunConfig(settings, machine.Name, QueryStrategyKind.None, 0, trial, first) });
                                }
                            }
                            else
                            {
                                index = runs.Count;
                                runs.Add(run);
                            }
                            rows.Add((index, strategy, budget, point));
                        }
        }
        return new ExperimentPlan(machines, runs, rows);
    }

    /// <summary>Metrics of each reported row from the traces of the plan's runs.</summary>
    public static IReadOnlyList<TrialOutcome> Assemble(ExperimentPlan plan, IReadOnlyList<StreamTrace> traces)
    {
        var computed = new TrialResult[plan.Runs.Count];
        for (int i = 0; i < plan.Runs.Count; i++)
            computed[i] = Measure(plan.Machines[plan.Runs[i].MachineIndex].Name, plan.Runs[i], traces[i]);
        return plan.Rows.Select(row => new TrialOutcome(
            computed[row.Run] with { Strategy = row.Strategy, Budget = row.Budget, Point = row.Point }, traces[row.Run])).ToList();
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
    public static MachineConfig RunConfig(ExperimentSettings settings, string machine, QueryStrategyKind strategy, double budget, int trial, SweepPoint? point = null)
        => (point ?? settings.Points[0]).Apply(settings.Method) with
        {
            Strategy = strategy,
            Budget = budget,
            Seed = RandomState.DeriveSeed(settings.Seed, RandomState.StableHash(machine), (ulong)trial, 0x3A /* machine */),
        };

    /// <summary>Algorithm 1 over the stream with Core's machine model; labels come from the ground truth.</summary>
    public static StreamTrace RunInProcess(PreparedMachine machine, PlannedRun run)
    {
        var model = MachineModel.Create(run.Config, machine.EnrollmentFor(run.Config));
        var trace = NewTrace(machine, run.Order);
        for (int i = 0; i < run.Order.Length; i++)
        {
            int clip = run.Order[i];
            var outcome = model.ProcessNormalized(machine.Test[clip]);
            if (outcome.LabelRequested && run.Answer(machine, clip) is { } label)
            {
                model.ApplyLabelNormalized(machine.Test[clip], outcome.Score, label); // a declined request teaches nothing
                trace.LabelsGiven[i] = label;
            }
            trace.Scores[i] = outcome.Score;
            trace.Alerts[i] = outcome.Anomalous;
            trace.QueryReasons[i] = outcome.QueryReason;
        }
        return trace;
    }

    /// <summary>A trace with files and ground truth in stream order, scores still to fill in.</summary>
    public static StreamTrace NewTrace(PreparedMachine machine, int[] order)
        => new(order.Select(c => machine.TestRecords[c].File).ToArray(), new double[order.Length], new bool[order.Length], new QueryReason[order.Length],
            order.Select(c => machine.IsAnomaly[c]).ToArray(), order.Select(c => machine.IsTarget[c]).ToArray(), new ClipLabel?[order.Length]);

    private static TrialResult Measure(string machine, PlannedRun run, StreamTrace trace)
    {
        var metrics = DetectionMetrics.Evaluate(trace.Scores, trace.IsAnomaly, trace.IsTarget);
        var queried = Enumerable.Range(0, trace.Scores.Length).Where(trace.Queried).ToList();
        long queries = queried.Count;
        // Counted by the label given, so a guess counts as what was answered and a declined request as no label.
        long normal = queried.LongCount(i => trace.LabelsGiven[i] == ClipLabel.Normal);
        long anomalous = queried.LongCount(i => trace.LabelsGiven[i] == ClipLabel.Anomalous);
        long target = queried.LongCount(i => trace.IsTarget[i]);
        long forced = queried.LongCount(i => trace.QueryReasons[i] == QueryReason.BudgetFloor);
        long random = queried.LongCount(i => trace.QueryReasons[i] == QueryReason.Random);
        return new TrialResult(machine, run.Strategy, run.Budget, run.Trial, metrics.Auc, metrics.PartialAuc, metrics.AucSource, metrics.AucTarget,
            trace.Scores.Length, queries, normal, anomalous)
        { Point = run.Point, TargetLabels = target, ForcedLabels = forced, RandomLabels = random, Declined = queries - normal - anomalous };
    }

    private static List<PreparedMachine> Prepare(EmbeddingTable table)
    {
        var prepared = new List<PreparedMachine>();
        foreach (var name in table.Machines)
        {
            var rows = table.Records.Where(r => r.Machine == name).ToList();
            var train = rows.Where(r => !r.IsTest).Select(r => new EnrollmentClip(r.Embedding, r.IsTarget, r.HeldOutDistance)).ToList();
            var test = rows.Where(r => r.IsTest).ToList();
            if (train.Count == 0)
                throw new InputDataException(table.Source, null, $"machine '{name}' has no training clips to enroll from");
            if (!test.Any(r => r.IsAnomaly) || !test.Any(r => !r.IsAnomaly))
                throw new InputDataException(table.Source, null, $"machine '{name}' needs normal and anomalous test clips (AUC is undefined otherwise)");
            foreach (bool target in new[] { false, true })
                if (!test.Any(r => !r.IsAnomaly && r.IsTarget == target))
                    throw new InputDataException(table.Source, null, $"machine '{name}' has no {(target ? "target" : "source")}-domain normal test clips (AUC({(target ? "target" : "source")}) is undefined)");
            prepared.Add(new PreparedMachine(name, train, test));
        }
        return prepared;
    }
}
