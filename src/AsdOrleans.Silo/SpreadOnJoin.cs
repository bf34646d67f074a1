using System.Diagnostics;
using AsdOrleans.Grains.Placement;
using Microsoft.Extensions.Options;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace AsdOrleans.Silo;

/// <summary>Why a spreading is due: the silos that joined (still active), and the spreading silo that left, if this
/// silo took its place as the oldest.</summary>
public sealed record SpreadDue(IReadOnlyList<SiloAddress> Joined, SiloAddress? SpreaderLeft)
{
    public static readonly SpreadDue None = new([], null);
    public bool IsNone => Joined.Count == 0 && SpreaderLeft is null;

    /// <summary>What the spreading is run after, for its description and log lines.</summary>
    public string Cause => string.Join(" and ", new[]
    {
        Joined.Count > 0 ? $"{string.Join(", ", Joined)} joined" : null,
        SpreaderLeft is not null ? $"the spreading silo {SpreaderLeft} left" : null,
    }.Where(c => c is not null));
}

/// <summary>
/// Notices silos that join the cluster and says when the membership has been quiet long enough to spread machines onto
/// them: a scale-out of several silos, or a rolling restart, is then one spreading, after the last change. It also says
/// when the oldest silo, the one that spreads, left and this silo is the oldest now: the silos that joined may have been
/// left half spread onto (only the oldest acts on a join), so the new oldest looks again. Pure: the tests judge it
/// without a cluster.
/// </summary>
public sealed class JoinWatch(SiloAddress self, TimeSpan quiet)
{
    private HashSet<SiloAddress>? _active;
    private readonly List<SiloAddress> _joined = [];
    private SiloAddress? _spreaderLeft;
    private DateTimeOffset _changed;
    private bool _selfSeen;

    /// <summary>One membership view: the silos active in it, seen at <paramref name="now"/>. The first view is what this
    /// silo found, not a join of those silos. This silo itself joined when it first shows up active beside others: its
    /// generation is its process's start (seconds), not its join, so a silo that started no later than the others but
    /// joined after them can be the oldest, and then only it can spread onto itself.</summary>
    public void Saw(IReadOnlyCollection<SiloAddress> active, DateTimeOffset now)
    {
        if (!_selfSeen && active.Contains(self))
        {
            _selfSeen = true;
            if (active.Count > 1 && !_joined.Contains(self))
            {
                _joined.Add(self);
                _changed = now;
            }
        }
        if (_active is null)
        {
            _active = [.. active];
            return;
        }
        if (_active.SetEquals(active))
            return;
        _changed = now;
        if (Oldest(_active) is { } spreader && !active.Contains(spreader) && self.Equals(Oldest(active)))
            _spreaderLeft = spreader;
        foreach (var silo in active)
            if (!_active.Contains(silo) && !silo.Equals(self) && !_joined.Contains(silo))
                _joined.Add(silo);
        _active = [.. active];
    }

    /// <summary>The silos that joined and are still active, and the spreading silo that left (where this silo took its
    /// place), once no silo has joined or left for the quiet time; each is given once. <see cref="SpreadDue.None"/>
    /// otherwise.</summary>
    public SpreadDue Due(DateTimeOffset now)
    {
        if ((_joined.Count == 0 && _spreaderLeft is null) || now - _changed < quiet)
            return SpreadDue.None;
        var due = new SpreadDue(_joined.Where(s => _active!.Contains(s)).ToList(), _spreaderLeft);
        _joined.Clear();
        _spreaderLeft = null;
        return due;
    }

    /// <summary>The silo that spreads: the oldest active one (the earliest generation; ties by address), so that
    /// every silo, looking at the same membership, agrees on one.</summary>
    public static SiloAddress? Oldest(IEnumerable<SiloAddress> active)
        => active.OrderBy(s => s.Generation).ThenBy(s => s.ToString(), StringComparer.Ordinal).FirstOrDefault();
}

/// <summary>
/// Spreads machines onto silos that joined, without an operator: once no silo has joined or left for
/// <see cref="SiloOptions.SpreadOnJoinSeconds"/>, the oldest active silo runs spreading rounds at the defaults
/// (<see cref="MachineSpread"/>: at most 300 machines a round, 100 a second) until a round moves none. Each round takes
/// the cluster's one round (<see cref="AsdOrleans.Grains.ISpreadRoundGrain"/>), so an operator's `asd cluster spread`
/// meanwhile is told that one runs. Every silo watches; only the oldest acts (a silo that joined acts only where it is the
/// oldest, by its process's start: then onto itself, <see cref="JoinWatch.Saw"/>); when the oldest leaves, the next oldest
/// looks again, so a spreading the oldest left unfinished is finished. Redis clusters only. docs/decisions.md, stops 58–59.
/// </summary>
public sealed class SpreadOnJoin(IClusterMembershipService membership, IClusterClient client, ISiloMetadataCache metadata, ILocalSiloDetails local,
    IOptions<SiloOptions> options, IServiceProvider services, ILogger<SpreadOnJoin> logger) : BackgroundService
{
    /// <summary>Rounds of one spreading at most: 300,000 machines at the defaults.</summary>
    public const int MostRounds = 1_000;
    /// <summary>How long a spreading goes on trying while giving silos refuse (their store takes no writes).</summary>
    private static readonly TimeSpan RefusedWait = TimeSpan.FromHours(1);
    /// <summary>How long a spreading waits for every active silo's roles (published metadata) before it plans.</summary>
    private static readonly TimeSpan RolesWait = TimeSpan.FromSeconds(30);

    private TimeSpan Quiet => TimeSpan.FromSeconds(options.Value.SpreadOnJoinSeconds);

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        var watch = new JoinWatch(local.SiloAddress, Quiet);
        var look = TimeSpan.FromSeconds(Math.Clamp(Quiet.TotalSeconds / 4, 0.25, 5));
        var reading = Task.Run(async () =>
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stopping))
                lock (watch)
                    watch.Saw(Active(snapshot), DateTimeOffset.UtcNow);
        }, stopping);
        try
        {
            while (true)
            {
                await Task.Delay(look, stopping);
                if (reading.IsFaulted && !stopping.IsCancellationRequested)
                {
                    // The membership's updates ended with a fault: stop watching, and say it. Not by throwing: a
                    // BackgroundService that throws stops the host (HostOptions.BackgroundServiceExceptionBehavior), the silo.
                    logger.LogError(reading.Exception.GetBaseException(),
                        "watching the membership for silos that join stopped; until this silo restarts it spreads nothing by itself (`asd cluster spread` still does)");
                    return;
                }
                // While this silo's store takes no writes, the joins wait (the silos that give machines would refuse anyway).
                if (MachineSpreader.StoreRefusesWrites(services) is not null)
                    continue;
                SpreadDue due;
                lock (watch)
                    due = watch.Due(DateTimeOffset.UtcNow);
                if (due.IsNone || !local.SiloAddress.Equals(JoinWatch.Oldest(Active(membership.CurrentSnapshot))))
                    continue;
                try
                {
                    await Spread(due, look, stopping);
                }
                catch (Exception e) when (!stopping.IsCancellationRequested)
                {
                    logger.LogWarning("spreading machines after {Cause} failed: {Why}; `asd cluster spread` runs a round by hand",
                        due.Cause, e.GetBaseException().Message.Split('\n')[0]);
                }
            }
        }
        catch (Exception) when (stopping.IsCancellationRequested)
        {
            // The silo stops: a wait cancelled, or a round whose calls failed as the silo went, is no fault of the service.
        }
    }

    private static List<SiloAddress> Active(ClusterMembershipSnapshot snapshot)
        => snapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress).ToList();

    private async Task Spread(SpreadDue due, TimeSpan look, CancellationToken stopping)
    {
        // A silo's roles come with its metadata, a little after it is active; a round plans only over silos whose roles
        // say machines.
        var waitingForRoles = Stopwatch.StartNew();
        while (Active(membership.CurrentSnapshot).Any(s => SiloRoles.Of(metadata, s) is null)
               && waitingForRoles.Elapsed < RolesWait)
            await Task.Delay(look, stopping);
        string cause = due.Cause;
        string description = $"the spreading silo {local.SiloAddress} runs after {cause}", spreading = Guid.NewGuid().ToString("N");
        var clock = Stopwatch.StartNew();
        int rounds = 0, moved = 0;
        SpreadRound? last = null;
        var waited = Stopwatch.StartNew();
        Stopwatch? refused = null;
        while (rounds < MostRounds)
        {
            var (round, running) = await MachineSpread.RunAloneAsync(client, metadata, local.SiloAddress, description, MachineSpread.DefaultMaxPerRound,
                MachineSpread.DefaultPerSecond, stopping, spreading);
            if (round is null)
            {
                // An operator's round runs: wait for it, at most as long as a round may hold the cluster's one round.
                if (waited.Elapsed > MachineSpread.RoundHold)
                {
                    logger.LogWarning("spreading machines after {Cause}: gave up waiting for another round ({Running})", cause, running);
                    return;
                }
                await Task.Delay(look, stopping);
                continue;
            }
            waited.Restart();
            rounds++;
            moved += round.Moved;
            last = round;
            if (round.Moved == 0 && round.Refusals is { Count: > 0 } refusals)
            {
                // A giving silo's store takes no writes (its watch may see it before this silo's does): try again after
                // the quiet time, for as long as RefusedWait, rather than leave the joined silo empty.
                refused ??= Stopwatch.StartNew();
                if (refused.Elapsed > RefusedWait)
                {
                    logger.LogWarning("spreading machines after {Cause}: gave up after {Minutes:0} min of silos refusing ({Refusals}); `asd cluster spread` runs a round by hand",
                        cause, RefusedWait.TotalMinutes, string.Join("; ", refusals));
                    return;
                }
                logger.LogInformation("spreading machines after {Cause} waits: {Refusals}", cause, string.Join("; ", refusals));
                await Task.Delay(Quiet, stopping);
                continue;
            }
            if (round.Moved == 0)
                break;
        }
        if (moved == 0)
            logger.LogInformation("after {Cause}: nothing to spread ({Summary})", cause, last?.Summary);
        else
            logger.LogInformation("after {Cause}: {Moved} machines spread in {Rounds} round(s), {Seconds:0.0} s; machines per machines-role silo now: {Held}",
                cause, moved, rounds, clock.Elapsed.TotalSeconds,
                string.Join(", ", last!.Silos.Where(s => SiloRoles.Includes(s.Roles, SiloRoles.Machines)).Select(s => $"{s.Address} {s.HeldAfter}")));
    }
}
