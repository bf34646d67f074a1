using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Randomness;
using AsdOrleans.Method.Scoring;

namespace AsdOrleans.Method.Strategies;

/// <summary>A strategy's own state, apart from the machine's: committed after each clip and each label, and serialised in its own section.</summary>
public abstract class StrategyState
{
    /// <summary>Applies one clip's committed step.</summary>
    public abstract void Commit(in StrategyStep step);

    /// <summary>A label arrived for a clip (normalised embedding).</summary>
    public virtual void OnLabel(ReadOnlySpan<float> normalizedEmbedding, ClipLabel label) { }

    public abstract StrategyState Clone(MachineConfig config);

    internal abstract void Write(BinaryWriter writer);
}

/// <summary>
/// QBC's state (docs/design.md §1): the committee's pool, the committee derived from it, and the balanced incremental
/// quantile filter's window and counters. Under the paper's unbounded sets the pool is every labelled normal (enrollment
/// normals + labelled normals) and grows forever; where N is capped (<see cref="DrawsFromReferenceSet"/>, the default
/// recipe) the committee's members are subsets of N itself, so QBC keeps no pool, its state stays bounded with N's, and a
/// clip costs about what scoring it does (docs/decisions.md, issue 13).
/// </summary>
public sealed class QbcState : StrategyState
{
    private QbcState(MachineConfig config, EmbeddingSet pool, BalancedIncrementalQuantileFilter filter)
    {
        DrawsFromReferenceSet = DrawsCommitteeFromReferenceSet(config);
        Pool = DrawsFromReferenceSet ? new EmbeddingSet(pool.Dimension, 0, pool.Precision) : pool;
        Filter = filter;
        Committee = new Committee(config.CommitteeSize, config.CommitteeSubsetFraction, RandomState.DeriveSeed(config.Seed, 0xC0 /* committee */));
    }

    /// <summary>Whether a QBC machine under <paramref name="config"/> draws its committee from N (N capped) rather than from a pool of every labelled normal.</summary>
    public static bool DrawsCommitteeFromReferenceSet(MachineConfig config) => config.ReferenceCap > 0;

    /// <summary>True: the members are subsets of the machine's reference set N; <see cref="Pool"/> stays empty.</summary>
    public bool DrawsFromReferenceSet { get; }

    /// <summary>Every labelled normal embedding: the committee's pool (empty where the committee draws from N).</summary>
    public EmbeddingSet Pool { get; }
    public BalancedIncrementalQuantileFilter Filter { get; }
    internal Committee Committee { get; }

    public static QbcState Create(MachineConfig config, EmbeddingSet pool)
        => new(config, pool, new BalancedIncrementalQuantileFilter(config.UtilityWindow, config.ToleranceWindow));

    /// <summary>The committee's disagreement on a clip; <paramref name="referenceSet"/> is the machine's N (used where the committee draws from it).</summary>
    public double Utility(ReadOnlySpan<float> normalizedEmbedding, EmbeddingSet? referenceSet)
    {
        if (!DrawsFromReferenceSet)
            return Committee.Utility(Pool, normalizedEmbedding);
        if (referenceSet is null)
            throw new ArgumentException("this QBC committee draws from the machine's reference set; pass it", nameof(referenceSet));
        return Committee.Utility(referenceSet, normalizedEmbedding);
    }

    public override void Commit(in StrategyStep step) => Filter.Record(step.Utility, step.Query);

    public override void OnLabel(ReadOnlySpan<float> normalizedEmbedding, ClipLabel label)
    {
        if (label == ClipLabel.Normal && !DrawsFromReferenceSet) Pool.AddNormalized(normalizedEmbedding); // N grows itself
    }

    public override StrategyState Clone(MachineConfig config)
    {
        var copy = Create(config, Pool.ConvertedTo(config.EmbeddingPrecision));
        copy.Filter.Restore(Filter.Utilities, Filter.Observed, Filter.Queried);
        return copy;
    }

    internal override void Write(BinaryWriter w)
    {
        MachineModel.WriteSet(w, Pool);
        w.Write(Filter.Utilities.Count);
        foreach (var u in Filter.Utilities) w.Write(u);
        w.Write(Filter.Observed);
        w.Write(Filter.Queried);
    }

    internal static QbcState Read(MachineConfig config, EmbeddingSet pool, IEnumerable<double> utilities, long observed, long queried)
    {
        var state = Create(config, pool);
        state.Filter.Restore(utilities, observed, queried);
        return state;
    }
}
