namespace AsdOrleans.Grains;

/// <summary>
/// One round of spreading machines at a time in the whole cluster: an operator's (`POST /api/cluster/spread`) or one
/// that a silo runs by itself after another joined. Two rounds at once would both plan from the same counts and move up
/// to twice what either meant to. Key 0. Kept in memory only: if its silo goes, the next round simply starts. A round
/// whose silo died holds no longer: at once where it said which silo runs it (the membership declares that silo dead),
/// otherwise once its hold ends.
/// </summary>
public interface ISpreadRoundGrain : IGrainWithIntegerKey
{
    /// <summary>Takes the cluster's round for <paramref name="round"/> (an id unique to it) for at most
    /// <paramref name="hold"/>: null when taken; otherwise what holds it, in words. Consecutive rounds of one
    /// <paramref name="spreading"/> (the rounds a silo runs after a join) are told as one in <see cref="Look"/>.
    /// <paramref name="runner"/>, the silo that runs the round: once the membership declares it dead, the round holds no
    /// longer (its silo cannot end it).</summary>
    Task<string?> TryBegin(string round, string description, TimeSpan hold, string? spreading, SiloAddress runner);

    /// <summary><see cref="TryBegin(string, string, TimeSpan, string?, SiloAddress)"/> without the runner: the call of
    /// silos from before stop 59, kept so that their rounds still take the cluster's round from a silo of this version
    /// during a rolling upgrade (a method's signature is its identity). Such a round holds until its hold ends.</summary>
    Task<string?> TryBegin(string round, string description, TimeSpan hold, string? spreading = null);

    /// <summary>Gives the round back (nothing when <paramref name="round"/> does not hold it), with what it did when it ran
    /// to its end (null: it failed).</summary>
    Task End(string round, SpreadRoundEnd? ended = null);

    /// <summary>The round that runs now, if any, and the last that ended, as long as this grain has lived.</summary>
    Task<SpreadRounds> Look();
}

/// <summary>What a round did: machines moved, and its summary in words.</summary>
[GenerateSerializer, Alias("AsdOrleans.SpreadRoundEnd")]
public sealed record SpreadRoundEnd([property: Id(0)] int Moved, [property: Id(1)] string Summary);

/// <summary>A round as <see cref="ISpreadRoundGrain.Look"/> tells it: who runs it, since when; once ended, when and what it did
/// (<see cref="Summary"/> null where its last round failed). The rounds of one spreading are told as one: how many,
/// the machines they moved in all, and the last one's summary.</summary>
[GenerateSerializer, Alias("AsdOrleans.SpreadRoundView")]
public sealed record SpreadRoundView([property: Id(0)] string Description, [property: Id(1)] DateTimeOffset Since, [property: Id(2)] DateTimeOffset? Ended = null,
    [property: Id(3)] int Moved = 0, [property: Id(4)] string? Summary = null, [property: Id(5)] int Rounds = 1);

/// <summary>The cluster's spreading rounds: the one running now (null: none) and the last that ended (null: none since
/// the grain that keeps them was activated).</summary>
[GenerateSerializer, Alias("AsdOrleans.SpreadRounds")]
public sealed record SpreadRounds([property: Id(0)] SpreadRoundView? Running, [property: Id(1)] SpreadRoundView? Last);

/// <summary>Immovable: Orleans' activation rebalancer (Asd:ActivationRebalancer) migrates random activations of any
/// grain type not marked immovable, and a migrated activation of this one would start empty, giving up a round that still runs.</summary>
[Orleans.Placement.Immovable]
public sealed class SpreadRoundGrain(IClusterMembershipService membership) : Grain, ISpreadRoundGrain
{
    private string? _round, _description, _spreading;
    private SiloAddress? _runner;
    private DateTimeOffset _since, _until;
    private SpreadRoundView? _last;
    /// <summary>The latest spreading's rounds so far, told as one: kept apart from <see cref="_last"/>, which an
    /// operator's round between two of its rounds replaces.</summary>
    private (string Spreading, SpreadRoundView View)? _spreadingSoFar;

    public Task<string?> TryBegin(string round, string description, TimeSpan hold, string? spreading = null)
        => Begin(round, description, hold, spreading, runner: null);

    public Task<string?> TryBegin(string round, string description, TimeSpan hold, string? spreading, SiloAddress runner)
        => Begin(round, description, hold, spreading, runner ?? throw new ArgumentNullException(nameof(runner)));

    private Task<string?> Begin(string round, string description, TimeSpan hold, string? spreading, SiloAddress? runner)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(round);
        if (hold <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(hold), hold, "a round holds for a positive time");
        var now = DateTimeOffset.UtcNow;
        if (_round != round && Holds(now))
            return Task.FromResult<string?>($"{_description}, running since {_since:HH:mm:ss} UTC");
        (_round, _description, _spreading, _runner, _since, _until) = (round, description, spreading, runner, now, now + hold);
        return Task.FromResult<string?>(null);
    }

    /// <summary>Whether a round holds the cluster's round: taken, within its hold, and its silo not declared dead (a
    /// silo shutting down still runs its round's passes to their end).</summary>
    private bool Holds(DateTimeOffset now)
        => _round is not null && now < _until && (_runner is null || membership.CurrentSnapshot.GetSiloStatus(_runner) != SiloStatus.Dead);

    public Task End(string round, SpreadRoundEnd? ended = null)
    {
        if (_round != round)
            return Task.CompletedTask;
        var view = new SpreadRoundView(_description!, _since, DateTimeOffset.UtcNow, ended?.Moved ?? 0, ended?.Summary);
        // The next round of the latest spreading (an operator's round may have ended between): one spreading, from its
        // first round's start.
        if (_spreading is not null && _spreadingSoFar is { } soFar && soFar.Spreading == _spreading)
            view = view with { Since = soFar.View.Since, Moved = soFar.View.Moved + view.Moved, Rounds = soFar.View.Rounds + 1 };
        if (_spreading is not null)
            _spreadingSoFar = (_spreading, view);
        (_last, _round, _description, _spreading, _runner) = (view, null, null, null, null);
        return Task.CompletedTask;
    }

    public Task<SpreadRounds> Look()
        => Task.FromResult(new SpreadRounds(Holds(DateTimeOffset.UtcNow) ? new SpreadRoundView(_description!, _since) : null, _last));
}
