namespace AsdOrleans.Grains;

/// <summary>
/// One round of spreading machines at a time in the whole cluster: an operator's (`POST /api/cluster/spread`) or one
/// that a silo runs by itself after another joined. Two rounds at once would both plan from the same counts and move up
/// to twice what either meant to. Key 0. Kept in memory only: if its silo goes, the next round simply starts (the hold
/// ends by itself, so a round whose silo died does not block the next for longer than <c>hold</c>).
/// </summary>
public interface ISpreadRoundGrain : IGrainWithIntegerKey
{
    /// <summary>Takes the cluster's round for <paramref name="round"/> (an id unique to it) for at most
    /// <paramref name="hold"/>: null when taken; otherwise what holds it, in words.</summary>
    Task<string?> TryBegin(string round, string description, TimeSpan hold);

    /// <summary>Gives the round back (nothing when <paramref name="round"/> does not hold it).</summary>
    Task End(string round);
}

/// <summary>Immovable: Orleans' activation rebalancer (Asd:ActivationRebalancer) migrates random activations of any
/// grain type not marked immovable, and a migrated activation of this one would start empty, giving up a round that still runs.</summary>
[Orleans.Placement.Immovable]
public sealed class SpreadRoundGrain : Grain, ISpreadRoundGrain
{
    private string? _round, _description;
    private DateTimeOffset _since, _until;

    public Task<string?> TryBegin(string round, string description, TimeSpan hold)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(round);
        if (hold <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(hold), hold, "a round holds for a positive time");
        var now = DateTimeOffset.UtcNow;
        if (_round is not null && _round != round && now < _until)
            return Task.FromResult<string?>($"{_description}, running since {_since:HH:mm:ss} UTC");
        (_round, _description, _since, _until) = (round, description, now, now + hold);
        return Task.FromResult<string?>(null);
    }

    public Task End(string round)
    {
        if (_round == round)
            _round = _description = null;
        return Task.CompletedTask;
    }
}
