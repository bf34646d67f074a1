using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Core.Tests.Experiments;

public class PrequentialExperimentTests
{
    private static readonly EmbeddingTable Plant = SyntheticEmbeddings.Generate(new SyntheticEmbeddingSettings { Machines = 3, Seed = 3, SourceTrain = 300 });

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static readonly ExperimentSettings Settings = new()
    {
        Strategies = [QueryStrategyKind.None, QueryStrategyKind.Random, QueryStrategyKind.Hybrid, QueryStrategyKind.Qbc],
        Budgets = [0, 0.1],
        Trials = 3,
        Seed = 9,
        Method = AsdOrleans.Method.Machines.MachineConfig.Paper, // these tests pin the paper's method; the default's are in MethodComparisonTests
    };

    [Fact]
    public void Every_run_is_reported_and_deterministic_whatever_the_parallelism()
    {
        var a = PrequentialExperiment.Run(Plant, Settings with { MaxDegreeOfParallelism = 1 }, cancellation: Token);
        var b = PrequentialExperiment.Run(Plant, Settings with { MaxDegreeOfParallelism = 2 }, cancellation: Token);
        Assert.Equal(3 * 4 * 2 * 3, a.Count);
        Assert.Equal(a, b);
        var c = PrequentialExperiment.Run(Plant, Settings with { Seed = 10 }, cancellation: Token);
        Assert.NotEqual(a.Select(r => r.Auc), c.Select(r => r.Auc));
    }

    [Fact]
    public void Budget_zero_is_the_offline_model_for_every_strategy_within_a_trial()
    {
        var results = PrequentialExperiment.Run(Plant, Settings, cancellation: Token);
        foreach (var group in results.Where(r => r.Budget == 0 || r.Strategy == QueryStrategyKind.None).GroupBy(r => (r.Machine, r.Trial)))
        {
            Assert.All(group, r => Assert.Equal(0, r.Queries));
            // Enrollment is seeded per (machine, trial) as a grain's is; within a trial every offline row is the same run.
            Assert.Single(group.Select(r => (r.Auc, r.PartialAuc, r.AucSource, r.AucTarget)).Distinct());
        }
    }

    [Fact]
    public void Each_run_enrolls_as_a_grain_does_so_a_fresh_machine_model_replays_it()
    {
        var plan = PrequentialExperiment.Plan(Plant, Settings);
        var run = plan.Runs.First(r => r.Strategy == QueryStrategyKind.Hybrid && r.Budget == 0.1 && r.Trial == 1);
        var machine = plan.Machines[run.MachineIndex];
        var trace = PrequentialExperiment.RunInProcess(machine, run);
        var model = AsdOrleans.Method.Machines.MachineModel.Enroll(run.Config, machine.Training.ToList());
        for (int i = 0; i < run.Order.Length; i++)
        {
            var record = machine.TestRecords[run.Order[i]];
            var outcome = model.Process(record.Embedding);
            Assert.Equal(trace.Scores[i], outcome.Score);
            Assert.Equal(trace.QueryReasons[i], outcome.QueryReason);
            if (outcome.LabelRequested)
                model.ApplyLabel(record.Embedding, outcome.Score, record.IsAnomaly ? AsdOrleans.Method.Machines.ClipLabel.Anomalous : AsdOrleans.Method.Machines.ClipLabel.Normal);
        }
        Assert.Contains(trace.QueryReasons, r => r != QueryReason.None);
    }

    [Fact]
    public void Strategies_of_one_trial_see_the_same_stream_order()
    {
        var order = PrequentialExperiment.StreamOrder(200, 9, "machine-00", 2);
        Assert.Equal(order, PrequentialExperiment.StreamOrder(200, 9, "machine-00", 2));
        Assert.NotEqual(order, PrequentialExperiment.StreamOrder(200, 9, "machine-00", 3));
        Assert.NotEqual(order, PrequentialExperiment.StreamOrder(200, 9, "machine-01", 2));
        Assert.Equal(Enumerable.Range(0, 200), order.Order());
        Assert.Equal(PrequentialExperiment.RunConfig(Settings, "m", QueryStrategyKind.Random, 0.1, 1).Seed,
            PrequentialExperiment.RunConfig(Settings, "m", QueryStrategyKind.Qbc, 0.2, 1).Seed);
    }

    [Fact]
    public void Labels_help_on_the_synthetic_plant_as_the_generator_intends()
    {
        var results = PrequentialExperiment.Run(Plant, Settings, cancellation: Token);
        var summary = ExperimentSummary.Summarise(results);
        double Auc(QueryStrategyKind s, double b) => summary.Single(r => r.Machine == "hmean" && r.Strategy == s && r.Budget == b && r.Metric == "auc").Mean;
        double offline = Auc(QueryStrategyKind.None, 0.1);
        Assert.InRange(offline, 0.65, 0.85); // clearly imperfect offline model
        Assert.True(Auc(QueryStrategyKind.Hybrid, 0.1) > offline + 0.05, "hybrid labels should improve AUC clearly");
        Assert.True(Auc(QueryStrategyKind.Random, 0.1) > offline - 0.02);
    }

    [Fact]
    public void A_labeller_who_cannot_tell_declines_or_guesses_on_the_same_clips_for_every_strategy()
    {
        // The unsure clips and a guess's coin depend on (seed, machine, trial, clip) only.
        var labeller = new SimulatedLabeller(0.3, UnsureAnswer.Guess);
        var answers = Enumerable.Range(0, 2_000).Select(c => labeller.Answer(9, "m", 1, c, isAnomaly: c % 2 == 0)).ToList();
        Assert.Equal(answers, Enumerable.Range(0, 2_000).Select(c => labeller.Answer(9, "m", 1, c, isAnomaly: c % 2 == 0)));
        var declining = labeller with { Unsure = UnsureAnswer.Decline };
        var declined = Enumerable.Range(0, 2_000).Where(c => declining.Answer(9, "m", 1, c, c % 2 == 0) is null).ToList();
        Assert.InRange(declined.Count, 520, 680); // 30 % of 2,000
        Assert.All(Enumerable.Range(0, 2_000).Except(declined), c => Assert.Equal(c % 2 == 0 ? AsdOrleans.Method.Machines.ClipLabel.Anomalous : AsdOrleans.Method.Machines.ClipLabel.Normal, answers[c]));
        int wrong = declined.Count(c => answers[c] != (c % 2 == 0 ? AsdOrleans.Method.Machines.ClipLabel.Anomalous : AsdOrleans.Method.Machines.ClipLabel.Normal));
        Assert.InRange(wrong, declined.Count / 2 - 60, declined.Count / 2 + 60); // a guess is a coin
        Assert.Throws<ArgumentException>(() => (Settings with { Labeller = new SimulatedLabeller(1.5) }).Validate());

        // A labeller who can tell nothing and declines: every request closes unlabelled, so every strategy scores as the
        // offline model does, clip for clip, while its queries are spent as before.
        var truthful = PrequentialExperiment.Run(Plant, Settings, cancellation: Token);
        var none = PrequentialExperiment.Run(Plant, Settings with { Labeller = new SimulatedLabeller(1, UnsureAnswer.Decline) }, cancellation: Token);
        var offline = none.Where(r => r.Budget == 0).ToDictionary(r => (r.Machine, r.Trial, r.Strategy));
        foreach (var row in none.Where(r => r.Budget > 0 && r.Strategy != QueryStrategyKind.None))
        {
            var reference = offline[(row.Machine, row.Trial, row.Strategy)];
            Assert.Equal((reference.Auc, reference.PartialAuc), (row.Auc, row.PartialAuc));
            Assert.True(row.Queries > 0);
        }
        Assert.NotEqual(truthful.Select(r => r.Auc), none.Select(r => r.Auc)); // labels do change scores when they are given
    }

    [Fact]
    public void Labels_are_counted_as_given_and_declined_requests_apart()
    {
        // Every request declined: no label was given, so none may be counted as one.
        var none = PrequentialExperiment.Run(Plant, Settings with { Labeller = new SimulatedLabeller(1, UnsureAnswer.Decline) }, cancellation: Token);
        Assert.Contains(none, r => r.Queries > 0);
        Assert.All(none, r => Assert.Equal((0L, 0L, r.Queries), (r.NormalLabels, r.AnomalousLabels, r.Declined)));
        var truthful = PrequentialExperiment.Run(Plant, Settings, cancellation: Token);
        Assert.All(truthful, r => Assert.Equal((r.Queries, 0L), (r.NormalLabels + r.AnomalousLabels, r.Declined)));

        // Every request guessed: the counts are of the labels the labeller answered, not of the clips' truth.
        var guessing = Settings with { Labeller = new SimulatedLabeller(1, UnsureAnswer.Guess) };
        var plan = PrequentialExperiment.Plan(Plant, guessing);
        var outcomes = PrequentialExperiment.RunDetailed(plan, 2, cancellation: Token);
        bool someGuessWrong = false;
        for (int row = 0; row < plan.Rows.Count; row++)
        {
            var run = plan.Runs[plan.Rows[row].Run];
            var machine = plan.Machines[run.MachineIndex];
            var (trace, result) = (outcomes[row].Stream, outcomes[row].Result);
            var answered = Enumerable.Range(0, trace.Scores.Length).Where(trace.Queried).Select(i => run.Answer(machine, run.Order[i])).ToList();
            Assert.Equal(answered.LongCount(a => a == AsdOrleans.Method.Machines.ClipLabel.Normal), result.NormalLabels);
            Assert.Equal(answered.LongCount(a => a == AsdOrleans.Method.Machines.ClipLabel.Anomalous), result.AnomalousLabels);
            Assert.Equal(0, result.Declined);
            someGuessWrong |= result.NormalLabels != Enumerable.Range(0, trace.Scores.Length).LongCount(i => trace.Queried(i) && !trace.IsAnomaly[i]);
        }
        Assert.True(someGuessWrong, "a coin should mislabel some clip, or the test cannot tell given labels from the truth");
    }

    [Fact]
    public void Summary_intervals_use_student_t_and_harmonic_means_per_trial()
    {
        var (mean, low, high) = ExperimentSummary.MeanWithConfidence([1.0, 2, 3]);
        Assert.Equal(2, mean);
        double half = 4.302652729749464 / Math.Sqrt(3); // t(0.975, 2) · s / √n with s = 1
        Assert.Equal(2 - half, low, 12);
        Assert.Equal(2 + half, high, 12);
        Assert.True(double.IsNaN(ExperimentSummary.MeanWithConfidence([0.7]).Low));

        var results = PrequentialExperiment.Run(Plant, Settings, cancellation: Token);
        var summary = ExperimentSummary.Summarise(results);
        var trialZero = results.Where(r => r.Strategy == QueryStrategyKind.Hybrid && r.Budget == 0.1 && r.Trial == 0).ToList();
        double expectedHmean = 3 / trialZero.Sum(r => 1 / r.Auc);
        var trialMeans = Enumerable.Range(0, 3).Select(t =>
            3 / results.Where(r => r.Strategy == QueryStrategyKind.Hybrid && r.Budget == 0.1 && r.Trial == t).Sum(r => 1 / r.Auc)).ToList();
        Assert.Equal(expectedHmean, trialMeans[0], 12);
        var row = summary.Single(r => r.Machine == "hmean" && r.Strategy == QueryStrategyKind.Hybrid && r.Budget == 0.1 && r.Metric == "auc");
        Assert.Equal(trialMeans.Average(), row.Mean, 12);
        Assert.Contains(summary, r => r.Metric == ExperimentSummary.OfficialScore);
    }

    [Fact]
    public void A_machine_without_anomalous_test_clips_is_refused_before_any_run()
    {
        var records = Plant.Records.Where(r => !(r.Machine == "machine-01" && r.IsAnomaly)).ToList();
        var e = Assert.Throws<AsdOrleans.Method.Io.InputDataException>(() => PrequentialExperiment.Run(new EmbeddingTable(records, Plant.Dimension, "plant.csv"), Settings, cancellation: Token));
        Assert.Contains("machine-01", e.Message);
        Assert.Contains("plant.csv", e.Message);
    }
}
