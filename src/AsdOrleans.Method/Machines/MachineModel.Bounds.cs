using AsdOrleans.Method.Randomness;

namespace AsdOrleans.Method.Machines;

/// <summary>Bounded N, A and M (issue 13; <see cref="StateBounds"/>). Unbounded machines keep none of this.</summary>
public sealed partial class MachineModel
{
    // Weight of each row of N and A (embeddings merged into it); empty while that set is unbounded.
    private List<float> _referenceWeights = [];
    private List<float> _anomalyWeights = [];
    // Scores ever offered to M (the reservoir's count); equals |M| until M reaches its cap.
    private long _scoresSeen;
    private readonly ClosestPairReducer _referenceReducer = new();
    private readonly ClosestPairReducer _anomalyReducer = new();

    /// <summary>How many embeddings each row of N stands for (empty when N is unbounded).</summary>
    public IReadOnlyList<float> ReferenceWeights => _referenceWeights;
    /// <summary>How many embeddings each row of A stands for (empty when A is unbounded).</summary>
    public IReadOnlyList<float> AnomalyWeights => _anomalyWeights;
    /// <summary>Scores ever offered to M; |M| is min(this, the cap).</summary>
    public long ScoresSeen => _scoresSeen;

    /// <summary>Fresh bounds for this machine's sets: every row stands for one embedding; an oversized M is sampled down.</summary>
    private void StartBounds()
    {
        _referenceWeights = Config.ReferenceCap > 0 ? Enumerable.Repeat(1f, ReferenceSet.Count).ToList() : [];
        _anomalyWeights = Config.AnomalyCap > 0 ? Enumerable.Repeat(1f, AnomalySet.Count).ToList() : [];
        _scoresSeen = _normalScores.Count;
        SampleScoresDown();
    }

    /// <summary>An M above its cap (a large enrollment, or a cap set later) becomes a reservoir sample of itself.</summary>
    private void SampleScoresDown()
    {
        if (Config.ScoreCap == 0 || _normalScores.Count <= Config.ScoreCap)
            return;
        var all = _normalScores.ToArray();
        _normalScores.Clear();
        for (int i = 0; i < all.Length; i++)
            StateBounds.Offer(_normalScores, Config.ScoreCap, i, all[i], ScoreSeed);
    }

    /// <summary>The bounds of <paramref name="from"/> carried to this machine (a new configuration of the same sets).</summary>
    private void CarryBounds(MachineModel from)
    {
        _scoresSeen = from._scoresSeen;
        _referenceWeights = Config.ReferenceCap == 0 ? []
            : from._referenceWeights.Count == ReferenceSet.Count ? from._referenceWeights.ToList() : Enumerable.Repeat(1f, ReferenceSet.Count).ToList();
        _anomalyWeights = Config.AnomalyCap == 0 ? []
            : from._anomalyWeights.Count == AnomalySet.Count ? from._anomalyWeights.ToList() : Enumerable.Repeat(1f, AnomalySet.Count).ToList();
        SampleScoresDown();
    }

    private ulong ScoreSeed => RandomState.DeriveSeed(Config.Seed, 0xB0 /* bounds */);

    /// <summary>A labelled normal into N: added, or (N full) reduced by a closest-pair merge; <paramref name="nearest"/> is the row it was scored against (−1 unscaled).</summary>
    private void AddReference(ReadOnlySpan<float> normalizedEmbedding, int nearest)
    {
        if (Config.ReferenceCap > 0 && ReferenceSet.Count >= Config.ReferenceCap)
        {
            float newcomerScale = _scales.Count > 0 ? _scales[nearest] : 0;
            var outcome = _referenceReducer.Add(ReferenceSet, _referenceWeights, normalizedEmbedding);
            if (_scales.Count > 0 && !outcome.NewcomerMerged)
            {
                // The merged row's scale is the weighted mean of the pair's; the newcomer's row takes the scale of the reference it was scored against.
                int a = outcome.Into, b = outcome.Freed;
                _scales[a] = (outcome.WeightInto * _scales[a] + outcome.WeightFreed * _scales[b]) / (outcome.WeightInto + outcome.WeightFreed);
                _scales[b] = newcomerScale;
            }
            return;
        }
        // A new row takes the scale of the reference it was scored against (its domain is unknown).
        if (_scales.Count > 0) _scales.Add(_scales[nearest]);
        ReferenceSet.AddNormalized(normalizedEmbedding);
        if (Config.ReferenceCap > 0) _referenceWeights.Add(1);
    }

    private void AddAnomaly(ReadOnlySpan<float> normalizedEmbedding)
    {
        if (Config.AnomalyCap > 0 && AnomalySet.Count >= Config.AnomalyCap)
        {
            _anomalyReducer.Add(AnomalySet, _anomalyWeights, normalizedEmbedding);
            return;
        }
        AnomalySet.AddNormalized(normalizedEmbedding);
        if (Config.AnomalyCap > 0) _anomalyWeights.Add(1);
    }

    private void AddScore(double score)
    {
        StateBounds.Offer(_normalScores, Config.ScoreCap, _scoresSeen, score, ScoreSeed);
        _scoresSeen++;
    }
}
