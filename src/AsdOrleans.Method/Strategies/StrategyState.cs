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
/// QBC's state (docs/design.md §1): the pool of every labelled normal (enrollment normals + labelled normals), the committee
/// derived from it, and the balanced incremental quantile filter's window and counters.
/// </summary>
public sealed class QbcState : StrategyState
{
    private QbcState(MachineConfig config, EmbeddingSet pool, BalancedIncrementalQuantileFilter filter)
    {
        Pool = pool;
        Filter = filter;
        Committee = new Committee(config.CommitteeSize, config.CommitteeSubsetFraction, RandomState.DeriveSeed(config.Seed, 0xC0 /* committee */));
    }

    /// <summary>Every labelled normal embedding: the committee's pool.</summary>
    public EmbeddingSet Pool { get; }
    public BalancedIncrementalQuantileFilter Filter { get; }
    internal Committee Committee { get; }

    public static QbcState Create(MachineConfig config, EmbeddingSet pool)
        => new(config, pool, new BalancedIncrementalQuantileFilter(config.UtilityWindow, config.ToleranceWindow));

    public double Utility(ReadOnlySpan<float> normalizedEmbedding) => Committee.Utility(Pool, normalizedEmbedding);

    public override void Commit(in StrategyStep step) => Filter.Record(step.Utility, step.Query);

    public override void OnLabel(ReadOnlySpan<float> normalizedEmbedding, ClipLabel label)
    {
        if (label == ClipLabel.Normal) Pool.AddNormalized(normalizedEmbedding);
    }

    public override StrategyState Clone(MachineConfig config)
    {
        var copy = Create(config, Pool.Clone());
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
