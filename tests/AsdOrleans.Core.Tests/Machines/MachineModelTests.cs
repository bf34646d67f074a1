using AsdOrleans.Method.Enrollment;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Core.Tests.Machines;

public class MachineModelTests
{
    private static readonly (List<EnrollmentClip> Train, List<EmbeddingRecord> Test) Data = TestData.Machine(seed: 31);

    private static MachineModel Enrolled(QueryStrategyKind kind = QueryStrategyKind.Hybrid, double budget = 0.2)
        => MachineModel.Enroll(MachineConfig.Paper with { Strategy = kind, Budget = budget, Seed = 17 }, Data.Train, "model-v1");

    private static void Stream(MachineModel model, IEnumerable<EmbeddingRecord> clips, List<ClipOutcome>? outcomes = null)
    {
        foreach (var clip in clips)
        {
            var outcome = model.Process(clip.Embedding);
            outcomes?.Add(outcome);
            if (outcome.LabelRequested)
                model.ApplyLabel(clip.Embedding, outcome.Score, clip.IsAnomaly ? ClipLabel.Anomalous : ClipLabel.Normal);
        }
    }

    [Fact]
    public void Enrollment_sets_h_from_M_and_phi_from_the_gamma_fit()
    {
        var model = Enrolled();
        Assert.Equal(42, model.ReferenceSet.Count);
        Assert.Equal(Data.Train.Count, model.NormalScores.Count);
        Assert.Equal(ScoreQuantiles.EmpiricalQuantile(model.NormalScores, 0.9), model.LabellingThreshold);
        Assert.Equal(ScoreQuantiles.GammaFitQuantile(model.NormalScores, 0.9), model.DecisionThreshold);
        Assert.Equal(0, model.SpentBudget);
        Assert.Equal("model-v1", model.ModelVersion);
    }

    [Fact]
    public void Labels_grow_the_right_set_and_change_scores_as_eq_3_says()
    {
        var model = Enrolled();
        var normal = Data.Test.First(c => !c.IsAnomaly).Embedding;
        var anomaly = Data.Test.First(c => c.IsAnomaly).Embedding;
        double before = model.Score(anomaly);

        model.ApplyLabel(normal, 0.2, ClipLabel.Normal);
        Assert.Equal(43, model.ReferenceSet.Count);
        Assert.Equal(0.2, model.NormalScores[^1]);
        Assert.True(model.Score(normal) < 1e-5, "a labelled normal is in N, so its Eq. 1 distance is 0");

        model.ApplyLabel(anomaly, before, ClipLabel.Anomalous);
        Assert.Equal(1, model.AnomalySet.Count);
        double expected = 0.5 * AnomalyScore.DistanceToReference(model.ReferenceSet, EmbeddingMath.Normalized(anomaly)) + 0.5 * 1.0;
        Assert.Equal(expected, model.Score(anomaly), 1e-6); // S = cos(x, x) = 1
        Assert.Equal(1, model.NormalLabels);
        Assert.Equal(1, model.AnomalousLabels);
    }

    [Fact]
    public void Deciding_is_pure_and_a_stale_decision_cannot_be_committed()
    {
        var model = Enrolled(QueryStrategyKind.Qbc);
        Stream(model, Data.Test.Take(20));
        var state = model.Serialize();
        var e = EmbeddingMath.Normalized(Data.Test[25].Embedding);
        double score = model.ScoreNormalized(e);
        var first = model.DecideNormalized(e, score);
        var second = model.DecideNormalized(e, score);
        Assert.Equal(first, second);
        Assert.Equal(state, model.Serialize());
        model.Commit(first);
        Assert.Throws<InvalidOperationException>(() => model.Commit(second));
    }

    [Theory]
    [InlineData(QueryStrategyKind.None)]
    [InlineData(QueryStrategyKind.Random)]
    [InlineData(QueryStrategyKind.VariableUncertainty)]
    [InlineData(QueryStrategyKind.Hybrid)]
    [InlineData(QueryStrategyKind.HybridPrinted)]
    [InlineData(QueryStrategyKind.Qbc)]
    public void State_round_trips_exactly_and_the_restored_machine_continues_identically(QueryStrategyKind kind)
    {
        var original = Enrolled(kind);
        Stream(original, Data.Test.Take(120));
        var bytes = original.Serialize();
        var restored = MachineModel.Deserialize(bytes);
        Assert.Equal(bytes, restored.Serialize());

        var a = new List<ClipOutcome>();
        var b = new List<ClipOutcome>();
        Stream(original, Data.Test.Skip(120), a);
        Stream(restored, Data.Test.Skip(120), b);
        Assert.Equal(a, b);
        Assert.Equal(original.Serialize(), restored.Serialize());
    }

    [Fact]
    public void Same_seed_same_decisions_different_seed_different_decisions()
    {
        var config = MachineConfig.Paper with { Strategy = QueryStrategyKind.Random, Budget = 0.3 };
        List<ClipOutcome> Run(ulong seed)
        {
            var model = MachineModel.Enroll(config with { Seed = seed }, Data.Train);
            var outcomes = new List<ClipOutcome>();
            Stream(model, Data.Test, outcomes);
            return outcomes;
        }
        Assert.Equal(Run(1), Run(1));
        Assert.NotEqual(Run(1).Select(o => o.LabelRequested), Run(2).Select(o => o.LabelRequested));
    }

    [Fact]
    public void Reconfiguring_keeps_the_sets_and_counters_and_applies_the_new_parameters()
    {
        var model = Enrolled(QueryStrategyKind.Hybrid);
        Stream(model, Data.Test.Take(60));
        var changed = model.WithConfig(model.Config with { Strategy = QueryStrategyKind.Random, Budget = 0.3, DecisionQuantile = 0.95 });
        Assert.Equal(model.ReferenceSet.ToSingleArray(), changed.ReferenceSet.ToSingleArray());
        Assert.Equal(model.AnomalySet.Count, changed.AnomalySet.Count);
        Assert.Equal(model.ClipsSeen, changed.ClipsSeen);
        Assert.Equal(model.SpentBudget, changed.SpentBudget);
        Assert.Equal(QueryStrategyKind.Random, changed.Config.Strategy);
        Assert.True(changed.DecisionThreshold > model.DecisionThreshold);
        var same = model.WithConfig(model.Config);
        Assert.Equal(model.Serialize(), same.Serialize());
        Assert.Contains("re-enroll", Assert.Throws<ArgumentException>(() => model.WithConfig(model.Config with { Strategy = QueryStrategyKind.Qbc })).Message);
        Assert.Throws<ArgumentException>(() => model.WithConfig(model.Config with { Budget = 2 }));
    }

    [Fact]
    public void The_scratch_serialisation_is_the_models_bytes_after_a_larger_model_used_the_buffer()
    {
        var large = Enrolled(QueryStrategyKind.Qbc);
        Stream(large, Data.Test.Take(40));
        var small = Enrolled();
        byte[] largeBytes = large.SerializeToScratch().ToArray();
        byte[] smallBytes = small.SerializeToScratch().ToArray(); // the same thread's buffer, now holding a shorter model

        Assert.True(largeBytes.Length > smallBytes.Length);
        Assert.Equal(smallBytes, small.Serialize());
        Assert.Equal(largeBytes, large.Serialize());
        Assert.Equal(small.Serialize(), MachineModel.Deserialize(smallBytes).Serialize());
    }

    [Fact]
    public void Corrupt_state_is_refused_with_a_clear_error()
    {
        var bytes = Enrolled(QueryStrategyKind.Qbc).Serialize();
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => MachineModel.Deserialize(bytes.AsSpan(0, bytes.Length - 3))).Message);
        var wrongMagic = (byte[])bytes.Clone();
        wrongMagic[0] ^= 0xFF;
        Assert.Contains("magic", Assert.Throws<InvalidDataException>(() => MachineModel.Deserialize(wrongMagic)).Message);
        var futureVersion = (byte[])bytes.Clone();
        futureVersion[4] = 99;
        Assert.Contains("format 99", Assert.Throws<InvalidDataException>(() => MachineModel.Deserialize(futureVersion)).Message);
        Assert.Contains("trailing", Assert.Throws<InvalidDataException>(() => MachineModel.Deserialize([.. bytes, 0])).Message);
        Assert.Throws<InvalidDataException>(() => MachineModel.Deserialize([]));
    }

    [Fact]
    public void Bad_input_changes_nothing()
    {
        var model = Enrolled();
        Stream(model, Data.Test.Take(10));
        var before = model.Serialize();
        var nan = (float[])Data.Test[11].Embedding.Clone();
        nan[5] = float.NaN;
        Assert.Throws<ArgumentException>(() => model.Process(nan));
        Assert.Throws<ArgumentException>(() => model.Process(new float[64]));
        Assert.Throws<ArgumentException>(() => model.Process(new float[128]));
        Assert.Throws<ArgumentException>(() => model.ApplyLabel(Data.Test[11].Embedding, double.NaN, ClipLabel.Normal));
        Assert.Throws<ArgumentException>(() => model.ApplyLabel(Data.Test[11].Embedding, 0.1, (ClipLabel)7));
        Assert.Throws<ArgumentException>(() => model.ApplyLabel(nan, 0.1, ClipLabel.Anomalous));
        Assert.Equal(before, model.Serialize());
    }

    [Theory]
    [InlineData(nameof(MachineConfig.Budget), 1.5)]
    [InlineData(nameof(MachineConfig.Budget), -0.1)]
    [InlineData(nameof(MachineConfig.Gamma), 1.1)]
    [InlineData(nameof(MachineConfig.Alpha), 1.0)]
    [InlineData(nameof(MachineConfig.RandomShare), double.NaN)]
    [InlineData(nameof(MachineConfig.BudgetWindow), 0)]
    [InlineData(nameof(MachineConfig.CommitteeSize), 1)]
    [InlineData(nameof(MachineConfig.CommitteeSubsetFraction), 0)]
    public void Impossible_parameters_are_refused_naming_the_parameter(string parameter, double value)
    {
        var config = parameter switch
        {
            nameof(MachineConfig.Budget) => new MachineConfig { Budget = value },
            nameof(MachineConfig.Gamma) => new MachineConfig { Gamma = value },
            nameof(MachineConfig.Alpha) => new MachineConfig { Alpha = value },
            nameof(MachineConfig.RandomShare) => new MachineConfig { RandomShare = value },
            nameof(MachineConfig.BudgetWindow) => new MachineConfig { BudgetWindow = (int)value },
            nameof(MachineConfig.CommitteeSize) => new MachineConfig { CommitteeSize = (int)value },
            _ => new MachineConfig { CommitteeSubsetFraction = value },
        };
        var e = Assert.Throws<ArgumentException>(() => config.Validate());
        string word = parameter switch
        {
            nameof(MachineConfig.Budget) => "budget",
            nameof(MachineConfig.Gamma) => "gamma",
            nameof(MachineConfig.Alpha) => "alpha",
            nameof(MachineConfig.RandomShare) => "random share",
            nameof(MachineConfig.BudgetWindow) => "budget window",
            nameof(MachineConfig.CommitteeSize) => "committee size",
            _ => "subset fraction",
        };
        Assert.Contains(word, e.Message);
    }
}
