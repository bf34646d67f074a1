using System.Diagnostics;
using AsdOrleans.Grains;
using AsdOrleans.Grains.Placement;
using Orleans.Providers;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace AsdOrleans.Silo;

/// <summary>
/// A silo that stops hands its machines to the other silos while it is still an active member of the cluster, before
/// Orleans marks it as shutting down. Orleans' graceful stop (10.4) first marks the silo as shutting down, and only then
/// deactivates its grains; the other silos drop it from the grain directory's ring at the first step, and the entries
/// its partition kept are not handed over on a leave. So a call through another silo, for a machine whose entry the
/// stopping silo kept, found none and activated the machine a second time there, which read the store before the old
/// activation had written its last clips (written behind, within 5 s). Whichever of the two then wrote second failed
/// on the version check, and the clips it had acknowledged were gone (3 of 16 in a CI run of `SiloFailoverTests`).
/// The alert index shards write behind the same way. Handed over first, each such grain writes what it holds and
/// leaves the directory while the membership, and so the directory, is unchanged; its next call activates it on another
/// silo, which reads it all. Handed over: every activation whose class needs the machines role (machines, their
/// registry shards, alert index and webhook grains), which the placement filter keeps off the stopping silo.
/// <para>The steps: every silo is told that this one leaves (Orleans' control channel): it places no new activation here
/// while another silo with the role stays (<see cref="LeavingSilos"/>) and forgets the addresses it cached here
/// (<see cref="ForgettingDirectoryCache.ForgetSilo"/>: a message sent by one would activate the machine here again,
/// unplaced). Then this silo deactivates those grains, in passes of at most a second until two looks in a row find none,
/// telling the others again after each pass (an address cached during a pass). All within <see cref="Limit"/>; what is left then goes as
/// Orleans stops the silo, as before. Nothing is handed over when no other silo with the machines role stays (a single
/// silo, or silos that all stop at once), nor while this silo's store refuses writes (each move writes). A silo that
/// holds none (an encoder silo too: the grain directory keeps entries on every silo) still tells the others, which then
/// write through while it leaves (<see cref="WriteThroughOnLeave"/>).</para>
/// </summary>
public sealed class MachineHandover(StoreLossActivations activations, ForgettingDirectoryCache directoryCache, LeavingSilos leaving,
    WriteThroughOnLeave writeThrough, IClusterMembershipService membership, ISiloMetadataCache metadata, IGrainFactory grains, ILocalSiloDetails local,
    IServiceProvider services, ILogger<MachineHandover> logger) : ILifecycleParticipant<ISiloLifecycle>, IControllable
{
    /// <summary>The name the handover is registered under for Orleans' control channel.</summary>
    public const string ProviderName = "asd.machine-handover";
    public const int LeavingCommand = 1;
    /// <summary>The longest a stopping silo spends handing its machines over: within the host's 30 s for a stop, leaving
    /// Orleans time for the rest of it (Helm and compose allow a stop 60 s).</summary>
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);
    /// <summary>How long the other silos may take to hear that this one leaves.</summary>
    private static readonly TimeSpan TellTimeout = TimeSpan.FromSeconds(5);
    /// <summary>How long one pass waits for its grains to go before this silo looks again.</summary>
    private static readonly TimeSpan PassWait = TimeSpan.FromSeconds(1);
    /// <summary>How long this silo waits between looks, after a pass, for a machine that a cached address activated here again.</summary>
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(250);

    /// <summary>On stop, at the stage before Orleans' own (membership status, deactivation of every grain).</summary>
    public void Participate(ISiloLifecycle lifecycle)
        => lifecycle.Subscribe(nameof(MachineHandover), ServiceLifecycleStage.Active, _ => Task.CompletedTask, HandOverAsync);

    public async Task<object?> ExecuteCommand(int command, object? arg)
    {
        if (command != LeavingCommand || arg is not SiloAddress silo)
            throw new ArgumentException($"the machine handover knows command {LeavingCommand} (a silo that leaves), not {command} with {arg?.GetType().Name ?? "nothing"}");
        leaving.Add(silo);
        int forgotten = directoryCache.ForgetSilo(silo);
        // Before answering: the leaving silo goes on to leave the directory once every silo has answered (or 5 s passed).
        // Not on the leaving silo itself: its grains write as they are handed over, or as it stops.
        if (!silo.Equals(local.SiloAddress))
            await writeThrough.OpenAsync($"silo {silo} said it leaves", writeHeld: true);
        return forgotten;
    }

    private async Task HandOverAsync(CancellationToken stopping)
    {
        if (stopping.IsCancellationRequested)
            return;
        var self = local.SiloAddress;
        if (activations.TakeOfRole(SiloRoles.Machines).Count == 0)
        {
            // Holding none now, it still says it leaves: so that no silo places one here before it is gone, and so that
            // the others write through before it leaves the directory, whose entries every silo keeps, whatever its roles.
            if (OtherSiloStays(self))
                await TellLeaving(self, TellTimeout, stopping);
            return;
        }
        if (!OtherSiloStays(self))
        {
            logger.LogInformation("stopping: no other active silo with the machines role stays, so this silo's machines stay until it stops");
            return;
        }
        if (MachineSpreader.StoreRefusesWrites(services) is { } problem)
        {
            await TellLeaving(self, TellTimeout, stopping); // the others still write through (or are refused, as here)
            logger.LogWarning("stopping: this silo hands no machine over while its store takes no writes ({Problem}); they stay until it stops",
                problem.Split('\n')[0]);
            return;
        }
        var clock = Stopwatch.StartNew();
        TimeSpan Left() => Limit - clock.Elapsed is { Ticks: > 0 } left ? left : TimeSpan.Zero;
        HashSet<GrainId> machines = [], others = [];
        int passes = 0, stillGoing = 0, emptyLooks = 0;
        string? stoppedWhy = null;
        await TellLeaving(self, Left(), stopping);
        while (true)
        {
            if (stopping.IsCancellationRequested || Left() == TimeSpan.Zero)
            {
                stoppedWhy = stopping.IsCancellationRequested ? "the stop was cut short" : $"the {Limit.TotalSeconds:0} s limit was reached";
                break;
            }
            if (!OtherSiloStays(self))
            {
                stoppedWhy = "no other silo with the machines role stays";
                break;
            }
            var here = activations.TakeOfRole(SiloRoles.Machines);
            if (here.Count == 0)
            {
                if (++emptyLooks == 2)
                    break;
                try { await Task.Delay(Settle, stopping); }
                catch (OperationCanceledException) { }
                continue;
            }
            emptyLooks = 0;
            foreach (var context in here)
                directoryCache.Remove(context.GrainId);
            // As at shutdown: a machine that moves does not call its registry shard on the way (100,000 calls at once).
            // A pass waits at most a second: a grain still busy (a webhook delivery) is asked again by the next, while
            // the others that a cached address brought back move meanwhile.
            (_, stillGoing) = await StoreLossActivations.DeactivateAsync(here, $"silo {self} is stopping: its machines move to the other silos",
                Left() < PassWait ? Left() : PassWait, DeactivationReasonCode.ShuttingDown, stopping);
            passes++;
            foreach (var context in here.Where(c => c.Deactivated.IsCompleted))
                (context.GrainInstance is MachineGrain ? machines : others).Add(context.GrainId);
            await TellLeaving(self, Left(), stopping);
        }
        int remaining = activations.TakeOfRole(SiloRoles.Machines).Count;
        logger.LogInformation("stopping: handed {Machines} machines and {Others} registry, alert and webhook grains over to the other silos in {Seconds:0.0} s ({Passes}){Left}",
            machines.Count, others.Count, clock.Elapsed.TotalSeconds, passes == 1 ? "1 pass" : $"{passes} passes",
            remaining > 0 ? $"; {remaining} still here go as the silo stops ({stoppedWhy ?? "called meanwhile"}" + (stillGoing > 0 ? $"; {stillGoing} still going after the last pass)" : ")") : "");
    }

    /// <summary>Whether another active silo with the machines role stays, one that has not said it leaves.</summary>
    private bool OtherSiloStays(SiloAddress self)
        => membership.CurrentSnapshot.Members.Values.Any(m => m.Status == SiloStatus.Active && !m.SiloAddress.Equals(self)
            && !leaving.Contains(m.SiloAddress) && SiloRoles.Includes(SiloRoles.Of(metadata, m.SiloAddress), SiloRoles.Machines));

    /// <summary>Tells every active silo, this one included, that this one leaves, waiting at most <paramref name="wait"/>
    /// (a silo that does not answer holds up no more than that); a silo that does not hear it may still place a machine
    /// here, which the next pass moves on.</summary>
    private async Task TellLeaving(SiloAddress self, TimeSpan wait, CancellationToken stopping)
    {
        leaving.Add(self);
        directoryCache.ForgetSilo(self);
        if (wait <= TimeSpan.Zero)
            return;
        try
        {
            await grains.GetGrain<IManagementGrain>(0).SendControlCommandToProvider<MachineHandover>(ProviderName, LeavingCommand, self)
                .WaitAsync(wait < TellTimeout ? wait : TellTimeout, stopping);
        }
        catch (Exception e)
        {
            logger.LogWarning("stopping: not every silo answered that this one leaves ({Error}); one that did not hear it may place a machine here " +
                "meanwhile, and one still writing what its machines hold goes on writing",
                e.Message.Split('\n')[0]);
        }
    }
}
