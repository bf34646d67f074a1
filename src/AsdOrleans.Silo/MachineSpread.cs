using System.Diagnostics;
using AsdOrleans.Abstractions;
using AsdOrleans.Grains;
using AsdOrleans.Grains.Placement;
using Orleans.Providers;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;

namespace AsdOrleans.Silo;

/// <summary>One machine-holding silo as a spreading round sees it: how many machine grains it holds.</summary>
public readonly record struct SiloHolding(SiloAddress Silo, int Machines);

/// <summary>Machines that one silo is to hand to another in a spreading round (<see cref="SpreadPlan"/>).</summary>
[GenerateSerializer, Alias("AsdOrleans.SpreadMove")]
public sealed record SpreadMove([property: Id(0)] SiloAddress From, [property: Id(1)] SiloAddress To, [property: Id(2)] int Count);

/// <summary>What every silo is told in a round's first step: all the moves (each silo does its own) and the
/// cluster-wide pace.</summary>
[GenerateSerializer, Alias("AsdOrleans.SpreadOrder")]
public sealed record SpreadOrder([property: Id(0)] List<SpreadMove> Moves, [property: Id(1)] int PerSecond);

/// <summary>Machines that left a silo for <see cref="To"/>, to be woken there.</summary>
[GenerateSerializer, Alias("AsdOrleans.SpreadLeft")]
public sealed record SpreadLeft([property: Id(0)] SiloAddress To, [property: Id(1)] List<GrainId> Machines);

/// <summary>What one silo did in the first step: how many machines it was asked to let go, which left (deactivated,
/// by the silo they go to), and how many had not gone in time (they stay where they are). <see cref="Refused"/>: why it
/// let none go (its Redis store lost, an older copy, or not durable: a machine's flush on leaving would write there).</summary>
[GenerateSerializer, Alias("AsdOrleans.SpreadShed")]
public sealed record SpreadShed([property: Id(0)] SiloAddress Silo, [property: Id(1)] int Asked, [property: Id(2)] List<SpreadLeft> Left,
    [property: Id(3)] int StillGoing, [property: Id(4)] string? Refused = null);

/// <summary>What every silo is told in a round's second step: the machines that left, each silo wakes those it receives.</summary>
[GenerateSerializer, Alias("AsdOrleans.SpreadWake")]
public sealed record SpreadWake([property: Id(0)] List<SpreadLeft> Left, [property: Id(1)] int PerSecond);

/// <summary>What one silo did in the second step: how many machines it was to wake, and how many of them it holds now
/// (the others were called meanwhile, and activated where that call placed them; or failed to wake).</summary>
[GenerateSerializer, Alias("AsdOrleans.SpreadArrived")]
public sealed record SpreadArrived([property: Id(0)] SiloAddress Silo, [property: Id(1)] int ToWake, [property: Id(2)] int Arrived);

/// <summary>
/// Which silos give machines to which in one round: each machines-role silo that holds more than the mean by more than
/// <see cref="Tolerance"/> gives its excess over the mean (rounded up) to the silos below it, the largest excess to the
/// largest room first, at most <c>max</c> machines in all. Pure: the tests judge it without a cluster.
/// </summary>
public static class SpreadPlan
{
    /// <summary>How far above the mean a silo may hold before it sheds: 10 % of the mean, and at least 2 (a cluster that
    /// is even but for rounding, or for a few machines activated since, moves nothing).</summary>
    public static int Tolerance(double mean) => Math.Max(2, (int)Math.Ceiling(mean * 0.10));

    /// <summary>Whether a silo holding <paramref name="machines"/> sheds some in a round: above the mean by more than the tolerance.</summary>
    public static bool Sheds(int machines, double mean) => machines - mean > Tolerance(mean);

    public static List<SpreadMove> Of(IReadOnlyList<SiloHolding> silos, int max)
    {
        var moves = new List<SpreadMove>();
        if (silos.Count < 2 || max <= 0)
            return moves;
        double mean = silos.Sum(s => (double)s.Machines) / silos.Count;
        int level = (int)Math.Ceiling(mean);
        var excess = silos.Where(s => Sheds(s.Machines, mean)).ToDictionary(s => s.Silo, s => s.Machines - level);
        var room = silos.Where(s => s.Machines < level).ToDictionary(s => s.Silo, s => level - s.Machines);
        int left = max;
        while (left > 0 && excess.Values.Any(e => e > 0) && room.Values.Any(r => r > 0))
        {
            // Ties broken by address, so that a plan is the same for the same counts.
            var from = excess.Where(e => e.Value > 0).OrderByDescending(e => e.Value).ThenBy(e => e.Key.ToString(), StringComparer.Ordinal).First().Key;
            var to = room.Where(r => r.Value > 0).OrderByDescending(r => r.Value).ThenBy(r => r.Key.ToString(), StringComparer.Ordinal).First().Key;
            int count = Math.Min(left, Math.Min(excess[from], room[to]));
            moves.Add(new SpreadMove(from, to, count));
            excess[from] -= count;
            room[to] -= count;
            left -= count;
        }
        // One move per pair: a donor's share of several receivers stays in the order found.
        return moves.GroupBy(m => (m.From, m.To)).Select(g => new SpreadMove(g.Key.From, g.Key.To, g.Sum(m => m.Count))).ToList();
    }
}

/// <summary>
/// A silo's part in spreading machines, told through Orleans' control channel (<c>IManagementGrain.SendControlCommandToProvider</c>
/// reaches every silo; each does its own part). First step, on the silos that give: deactivate the machines to move —
/// the ordinary deactivation: each finishes the call it runs, flushes in OnDeactivateAsync and leaves the grain
/// directory. Second step, on the silos that receive: wake each with one cheap call, which Orleans places on this silo
/// (the placement hint names it, and the role filter has run first), so that the new activation reads its state from
/// the store here. Nothing is handed over in memory (no migration: docs/decisions.md, stop 57). Orleans keeps a silo's
/// cached address of a grain after its activation elsewhere has gone, and a call sent by that address activates it again
/// there, unplaced: both silos forget the machine first (<see cref="ForgettingDirectoryCache"/>); without that, none of
/// 60 moved in the test.
/// A call that comes between the two steps activates the machine where the default placement puts it: nothing is
/// lost, it just may not move. Paced: the round's machines per second are shared among the silos of each step.
/// </summary>
public sealed class MachineSpreader(StoreLossActivations activations, ForgettingDirectoryCache directoryCache, IGrainFactory grains, ILocalSiloDetails local,
    IServiceProvider services, ILogger<MachineSpreader> logger) : IControllable
{
    /// <summary>Why this silo's store takes no writes now (<see cref="RedisStoreWatch"/>, <see cref="RedisDurabilityWatch"/>), or
    /// null: a machine that leaves flushes what it had not written, so none leaves while the store refuses writes.</summary>
    public static string? StoreRefusesWrites(IServiceProvider services)
        => services.GetService<RedisStoreWatch>()?.Problem ?? services.GetService<RedisDurabilityWatch>()?.Problem;

    /// <summary>The name the spreader is registered under for Orleans' control channel.</summary>
    public const string ProviderName = "asd.machine-spread";
    public const int ShedCommand = 1, WakeCommand = 2;
    /// <summary>How long the wake call of one moved machine may take (its activation reads the store).</summary>
    public static readonly TimeSpan WakeTimeout = TimeSpan.FromSeconds(30);

    public async Task<object?> ExecuteCommand(int command, object? arg)
    {
        // Off the control channel's scheduler: both steps wait for deactivations or make grain calls.
        switch (command, arg)
        {
            case (ShedCommand, SpreadOrder order):
                var mine = order.Moves.Where(m => m.From.Equals(local.SiloAddress)).ToList();
                if (mine.Count == 0)
                    return new SpreadShed(local.SiloAddress, 0, [], 0);
                if (StoreRefusesWrites(services) is { } problem)
                {
                    logger.LogWarning("spreading machines: this silo lets none of the {Asked} asked go while its store takes no writes ({Problem})",
                        mine.Sum(m => m.Count), problem.Split('\n')[0]);
                    return new SpreadShed(local.SiloAddress, mine.Sum(m => m.Count), [], 0, "its Redis store takes no writes now (see its log or /readyz)");
                }
                return await Task.Run(() => ShedAsync(mine, Share(order.PerSecond, mine.Sum(m => m.Count), order.Moves.Sum(m => m.Count))));
            case (WakeCommand, SpreadWake wake):
                var here = wake.Left.Where(l => l.To.Equals(local.SiloAddress)).SelectMany(l => l.Machines).ToList();
                if (here.Count == 0)
                    return new SpreadArrived(local.SiloAddress, 0, 0);
                return await Task.Run(() => WakeAsync(here, Share(wake.PerSecond, here.Count, wake.Left.Sum(l => l.Machines.Count))));
            default:
                throw new ArgumentException($"the machine spreader knows commands {ShedCommand} (a spread order) and {WakeCommand} (machines to wake), not {command} with {arg?.GetType().Name ?? "nothing"}");
        }
    }

    /// <summary>This silo's share of the cluster's pace, by its share of the step's machines.</summary>
    private static int Share(int perSecond, int mine, int all) => Math.Max(1, (int)Math.Round((double)perSecond * mine / Math.Max(1, all)));

    private async Task<SpreadShed> ShedAsync(List<SpreadMove> moves, int perSecond)
    {
        int asked = moves.Sum(m => m.Count);
        var contexts = activations.Take<MachineGrain>(asked);
        var targets = moves.SelectMany(m => Enumerable.Repeat(m.To, m.Count)).ToList();
        var left = moves.Select(m => m.To).Distinct().ToDictionary(to => to, _ => new List<GrainId>());
        int stillGoing = 0;
        string why = $"spreading machines onto {string.Join(", ", left.Keys)}";
        await Paced(contexts.Count, perSecond, async (start, count) =>
        {
            var batch = contexts.GetRange(start, count);
            stillGoing += (await StoreLossActivations.DeactivateAsync(batch, why, StoreLossActivations.DropTimeout)).StillGoing;
            for (int i = 0; i < batch.Count; i++)
                if (batch[i].Deactivated.IsCompleted)
                {
                    left[targets[start + i]].Add(batch[i].GrainId);
                    directoryCache.Remove(batch[i].GrainId); // a call from here meanwhile is placed afresh, not sent to the address gone
                }
        });
        logger.LogInformation("spreading machines: {Left} of {Asked} asked left this silo, for {Targets}{Going}", left.Values.Sum(l => l.Count), asked,
            string.Join(", ", left.Select(l => $"{l.Key} ({l.Value.Count})")),
            stillGoing > 0 ? $"; {stillGoing} had not gone in {StoreLossActivations.DropTimeout.TotalSeconds:0} s and stay" : "");
        return new SpreadShed(local.SiloAddress, asked, left.Select(l => new SpreadLeft(l.Key, l.Value)).ToList(), stillGoing);
    }

    private async Task<SpreadArrived> WakeAsync(List<GrainId> machines, int perSecond)
    {
        await Paced(machines.Count, perSecond, (start, count) => Task.WhenAll(machines.GetRange(start, count).Select(Wake)));
        // Which of them live here now, by this silo's own list of its activations.
        var held = activations.Take<MachineGrain>(int.MaxValue).Select(c => c.GrainId).ToHashSet();
        int arrived = machines.Count(held.Contains);
        logger.LogInformation("spreading machines: {Arrived} of {Count} woken here{Elsewhere}", arrived, machines.Count,
            arrived < machines.Count ? $"; {machines.Count - arrived} were called meanwhile, activated elsewhere, or failed to wake" : "");
        return new SpreadArrived(local.SiloAddress, machines.Count, arrived);
    }

    /// <summary>Runs <paramref name="step"/> over <paramref name="count"/> items, <paramref name="perSecond"/> at a time
    /// and at most that many a second.</summary>
    private static async Task Paced(int count, int perSecond, Func<int, int, Task> step)
    {
        for (int start = 0; start < count; start += perSecond)
        {
            var second = Stopwatch.StartNew();
            await step(start, Math.Min(perSecond, count - start));
            if (start + perSecond < count && TimeSpan.FromSeconds(1) - second.Elapsed is { Ticks: > 0 } rest)
                await Task.Delay(rest);
        }
    }

    /// <summary>Activates the machine on this silo: Orleans' placement takes the hint where this silo is one the grain
    /// may go to (the role filter runs first: never a silo without the machines role).</summary>
    private async Task Wake(GrainId machine)
    {
        // A cached address (the silo it left) would take the call there and activate it again there, unplaced.
        directoryCache.Remove(machine);
        RequestContext.Set(IPlacementDirector.PlacementHintKey, local.SiloAddress); // this call's context only (an async method's own)
        try
        {
            await grains.GetGrain<IMachineGrain>(machine).GetEnrolledEmbedder().WaitAsync(WakeTimeout);
        }
        catch (Exception e) // whatever failed, the machine is not lost: it is deactivated, and its next call activates it
        {
            logger.LogInformation("spreading machines: {Machine} was not woken here ({Why}); its next call activates it", machine, e.GetBaseException().Message.Split('\n')[0]);
        }
    }
}

/// <summary>One silo in the answer to `POST /api/cluster/spread`: what it held before the round, how many machines it
/// was asked to let go and how many left (deactivated), how many it was to receive and how many arrived (woken on it),
/// and what it holds after.
/// <paramref name="NotAnswering"/>: why its counts are missing (then it took no part).</summary>
public sealed record SiloSpread(string Address, string? Roles, int HeldBefore, int AskedToLeave, int Left, int ToReceive, int Arrived, int HeldAfter,
    string? NotAnswering = null);

/// <summary>The answer to `POST /api/cluster/spread`: the machine grains active on the machines-role silos, their mean,
/// the tolerance a silo may hold above it, the machines moved, how long the round took, and each silo's part;
/// <paramref name="Refusals"/>: the silos that let no machine go because their store takes no writes, each with why (null: none).</summary>
public sealed record SpreadRound(int Machines, int MachineSilos, double Mean, int Tolerance, int Moved, double Seconds, List<SiloSpread> Silos, string Summary,
    List<string>? Refusals = null);

/// <summary>One spreading round across the cluster, run by the silo that was asked (<see cref="ClusterApi"/>).</summary>
public static class MachineSpread
{
    /// <summary>At most this many machines move in one round unless asked otherwise: the migration count per rebalancer
    /// cycle that moved 30,000 machines on 2 cores without a failure (docs/benchmarks.md).</summary>
    public const int DefaultMaxPerRound = SiloOptions.DefaultMigrationsPerRebalancerCycle;
    public const int MaxPerRoundLimit = 10_000;
    /// <summary>Moved machines per second, the whole cluster together: each costs a flush, three store reads and two
    /// registry calls (asleep, awake).</summary>
    public const int DefaultPerSecond = 100;
    public const int PerSecondLimit = 2_000;
    /// <summary>Passes of one round at most (each planned afresh from the counts).</summary>
    public const int PassesPerRound = 3;
    /// <summary>A round must end well within Orleans' response timeout (5 min here) of the control call that runs it.</summary>
    public static readonly TimeSpan LongestRound = TimeSpan.FromMinutes(3);

    /// <summary>Why these bounds would not do, or null.</summary>
    public static string? Problem(int max, int perSecond)
    {
        if (max < 1 || max > MaxPerRoundLimit)
            return $"max is the most machines one round moves: 1 to {MaxPerRoundLimit} (default {DefaultMaxPerRound})";
        if (perSecond < 1 || perSecond > PerSecondLimit)
            return $"perSecond is how many machines move per second, the cluster together: 1 to {PerSecondLimit} (default {DefaultPerSecond})";
        if (TimeSpan.FromSeconds(2.0 * max / perSecond) > LongestRound)
            return $"{max} machines at {perSecond} a second would take longer than a round may ({LongestRound.TotalMinutes:0} min): raise perSecond or move fewer per round";
        return null;
    }

    /// <summary>How long a round holds the cluster's one round (<see cref="ISpreadRoundGrain"/>) at most: the longest
    /// round and some. A round whose silo died holds only until the membership declares that silo dead.</summary>
    public static readonly TimeSpan RoundHold = LongestRound + TimeSpan.FromMinutes(2);

    /// <summary>One round, unless another runs in the cluster now: then no round, and what runs, in words.
    /// <paramref name="runner"/> is this silo (the hold ends if it dies); <paramref name="description"/> says who asked (an operator, or a silo after a join), for whoever is refused;
    /// <paramref name="spreading"/> ties the rounds of one spreading together (<see cref="ISpreadRoundGrain.Look"/>).</summary>
    public static async Task<(SpreadRound? Round, string? Running)> RunAloneAsync(IClusterClient client, ISiloMetadataCache metadata, SiloAddress runner,
        string description, int max, int perSecond, CancellationToken cancellation, string? spreading = null)
    {
        var rounds = client.GetGrain<ISpreadRoundGrain>(0);
        string id = Guid.NewGuid().ToString("N");
        if (await rounds.TryBegin(id, description, RoundHold, spreading, runner) is { } running)
            return (null, running);
        SpreadRound? round = null;
        try
        {
            round = await RunAsync(client, metadata, max, perSecond, cancellation);
            return (round, null);
        }
        finally
        {
            try { await rounds.End(id, round is null ? null : new SpreadRoundEnd(round.Moved, round.Summary)); }
            catch (Exception) { } // its hold ends by itself (RoundHold)
        }
    }

    public static async Task<SpreadRound> RunAsync(IClusterClient client, ISiloMetadataCache metadata, int max, int perSecond, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        var management = client.GetGrain<IManagementGrain>(0);
        var before = await Holdings(management, metadata);
        var machineSilos = InRound(before);
        double mean = machineSilos.Count == 0 ? 0 : machineSilos.Average(s => (double)s.Machines);
        var asked = new Dictionary<SiloAddress, int>();
        var left = new Dictionary<SiloAddress, int>();
        var toReceive = new Dictionary<SiloAddress, int>();
        var arrived = new Dictionary<SiloAddress, int>();
        static void Add(Dictionary<SiloAddress, int> counts, SiloAddress silo, int n) => counts[silo] = counts.GetValueOrDefault(silo) + n;
        int planned = 0, stillGoing = 0, passes = 0;
        var refusals = new List<string>(); // one pass's at most: the round ends after a pass that met one
        var after = before;
        // Passes, each planned afresh from the counts: a machine that a call activated elsewhere between its two steps
        // is moved by the next pass, within the round's bound.
        for (var current = machineSilos; passes < PassesPerRound && planned < max; passes++)
        {
            var moves = SpreadPlan.Of(current, max - planned);
            if (moves.Count == 0)
                break;
            cancellation.ThrowIfCancellationRequested(); // before a pass starts: once the silos are told, it runs to its end
            planned += moves.Sum(m => m.Count);
            foreach (var m in moves) { Add(asked, m.From, m.Count); Add(toReceive, m.To, m.Count); }
            var sheds = (await management.SendControlCommandToProvider<MachineSpreader>(MachineSpreader.ProviderName, MachineSpreader.ShedCommand,
                new SpreadOrder(moves, perSecond))).OfType<SpreadShed>().ToList();
            foreach (var shed in sheds)
            {
                Add(left, shed.Silo, shed.Left.Sum(l => l.Machines.Count));
                stillGoing += shed.StillGoing;
                if (shed.Refused is { } why) refusals.Add($"silo {shed.Silo} let none go: {why}");
            }
            var gone = sheds.SelectMany(s => s.Left).Where(l => l.Machines.Count > 0).ToList();
            if (gone.Count > 0)
            {
                foreach (var arrival in (await management.SendControlCommandToProvider<MachineSpreader>(MachineSpreader.ProviderName, MachineSpreader.WakeCommand,
                             new SpreadWake(gone, perSecond))).OfType<SpreadArrived>())
                    Add(arrived, arrival.Silo, arrival.Arrived);
            }
            after = await Holdings(management, metadata);
            current = InRound(after);
            if (refusals.Count > 0)
            {
                passes++;
                break; // a next pass would be refused alike
            }
        }
        var afterBySilo = after.ToDictionary(s => s.Silo);
        var rows = before.Select(s => new SiloSpread(s.Silo.ToString(), s.Roles, s.Machines, asked.GetValueOrDefault(s.Silo), left.GetValueOrDefault(s.Silo),
                toReceive.GetValueOrDefault(s.Silo), arrived.GetValueOrDefault(s.Silo), afterBySilo.TryGetValue(s.Silo, out var a) ? a.Machines : 0, s.NotAnswering))
            .ToList();
        int leftInAll = rows.Sum(r => r.Left), moved = rows.Sum(r => r.Arrived);
        string summary = passes == 0
            ? machineSilos.Count < 2
                ? "nothing to spread: fewer than two machines-role silos answered"
                : $"nothing to spread: no machines-role silo holds more than the mean ({mean:0.#}) by more than {SpreadPlan.Tolerance(mean)}"
            : $"{moved} machines moved to the silos below the mean ({mean:0.#}) in {passes} pass(es), each reading its state from the store there"
              + (leftInAll > moved ? $"; {leftInAll - moved} more left but are active elsewhere (called meanwhile, or reactivated where they were: the next pass or round moves them)" : "")
              + (stillGoing > 0 ? $"; {stillGoing} had not finished deactivating in time and stay (see the silos' logs)" : "")
              + (refusals.Count > 0 ? "; " + string.Join("; ", refusals) : "")
              + (planned >= max ? $"; the round moved its most ({max}): run another to go on" : "");
        return new SpreadRound(machineSilos.Sum(s => s.Machines), machineSilos.Count, Math.Round(mean, 1), SpreadPlan.Tolerance(mean), moved,
            Math.Round(clock.Elapsed.TotalSeconds, 2), rows, summary, refusals.Count > 0 ? refusals : null);
    }

    private sealed record Holding(SiloAddress Silo, string? Roles, bool IsMachines, int Machines, string? NotAnswering);

    /// <summary>The silos a round plans over: the machines-role silos that answered.</summary>
    private static List<SiloHolding> InRound(List<Holding> holdings)
        => holdings.Where(s => s.IsMachines && s.NotAnswering is null).Select(s => new SiloHolding(s.Silo, s.Machines)).ToList();

    /// <summary>Every active silo's machine grains, asked one by one as `GET /api/cluster` asks (a silo that does not
    /// answer is left out of the round, not the cause of its failure).</summary>
    private static async Task<List<Holding>> Holdings(IManagementGrain management, ISiloMetadataCache metadata)
    {
        var hosts = await management.GetHosts(onlyActive: true);
        var answers = await Task.WhenAll(hosts.Keys.Select(silo => ClusterApi.Ask(management, silo)));
        return answers.OrderBy(a => a.Silo.ToString(), StringComparer.Ordinal).Select(a =>
        {
            string? roles = SiloRoles.Of(metadata, a.Silo);
            return new Holding(a.Silo, roles, SiloRoles.Includes(roles, SiloRoles.Machines), ClusterApi.MachineGrains(a.Activations), a.NotAnswering);
        }).ToList();
    }
}
