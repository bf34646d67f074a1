using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Core.Tests.Strategies;

/// <summary>
/// Under the default recipe (N capped) QBC's committee draws from N: no pool of every labelled normal, state bounded with
/// N's, a clip at about scoring's cost (issue 13). The paper's unbounded method keeps the pool.
/// </summary>
public class QbcCommitteeOnReferenceSetTests
{
    private static void Stream(MachineModel model, IEnumerable<AsdOrleans.Evaluation.Experiments.EmbeddingRecord> clips)
    {
        foreach (var clip in clips)
        {
            var outcome = model.Process(clip.Embedding);
            if (outcome.LabelRequested)
                model.ApplyLabel(clip.Embedding, outcome.Score, clip.IsAnomaly ? ClipLabel.Anomalous : ClipLabel.Normal);
        }
    }

    [Fact]
    public void The_default_qbc_machine_keeps_no_pool_and_its_state_stops_growing_when_N_is_full()
    {
        var (train, test) = TestData.Machine(seed: 41, testPerDomainAndLabel: 1_000);
        var config = new MachineConfig { Strategy = QueryStrategyKind.Qbc, Budget = 0.2, ReferenceCap = 64, AnomalyCap = 16, Seed = 2 };
        var model = MachineModel.Enroll(config, train);
        var paper = MachineModel.Enroll(MachineConfig.Paper with { Strategy = QueryStrategyKind.Qbc, Budget = 0.2, Seed = 2 }, train);
        Assert.True(((QbcState)model.StrategyState!).DrawsFromReferenceSet);
        Assert.Null(model.LabelledNormals);
        Assert.Equal(train.Count, paper.LabelledNormals!.Count);

        Stream(model, test.Take(3_000));
        Stream(paper, test.Take(3_000));
        int full = model.Serialize().Length;
        Assert.Equal(64, model.ReferenceSet.Count);
        Assert.Equal(16, model.AnomalySet.Count);
        Stream(model, test.Skip(3_000));
        Stream(paper, test.Skip(3_000));
        Assert.True(model.NormalLabels > 300, $"{model.NormalLabels} normal labels");
        Assert.Equal(full, model.Serialize().Length);
        Assert.Equal(train.Count + paper.NormalLabels, paper.LabelledNormals!.Count); // the paper's pool grows by every normal label
        Assert.InRange(model.RealisedBudget, 0.18, 0.21);
    }

    [Fact]
    public void A_default_qbc_machine_restores_and_continues_exactly()
    {
        var (train, test) = TestData.Machine(seed: 42, testPerDomainAndLabel: 100);
        var model = MachineModel.Enroll(new MachineConfig { Strategy = QueryStrategyKind.Qbc, Seed = 4 }, train);
        Stream(model, test.Take(150));
        var restored = MachineModel.Deserialize(model.Serialize());
        foreach (var clip in test.Skip(150))
        {
            var a = model.Process(clip.Embedding);
            var b = restored.Process(clip.Embedding);
            Assert.Equal(a, b);
            if (a.LabelRequested)
            {
                var label = clip.IsAnomaly ? ClipLabel.Anomalous : ClipLabel.Normal;
                model.ApplyLabel(clip.Embedding, a.Score, label);
                restored.ApplyLabel(clip.Embedding, b.Score, label);
            }
        }
        Assert.True(model.Queries > 20);
        Assert.Equal(model.Serialize(), restored.Serialize());
    }

    [Fact]
    public void A_hybrid_machine_switches_to_qbc_on_N_but_not_to_the_papers_pool_committee_it_never_kept()
    {
        var (train, test) = TestData.Machine(seed: 43, testPerDomainAndLabel: 50);
        var hybrid = MachineModel.Enroll(new MachineConfig { Seed = 6 }, train);
        Stream(hybrid, test.Take(100));
        var qbc = hybrid.WithConfig(hybrid.Config with { Strategy = QueryStrategyKind.Qbc });
        Stream(qbc, test.Skip(100));
        Assert.Equal(test.Count, qbc.ClipsSeen);
        Assert.True(qbc.Queries > hybrid.Queries);

        var unbounded = hybrid.Config with { Strategy = QueryStrategyKind.Qbc, ReferenceCap = 0 };
        var error = Assert.Throws<ArgumentException>(() => hybrid.WithConfig(unbounded));
        Assert.Contains("re-enroll", error.Message);
    }
}
