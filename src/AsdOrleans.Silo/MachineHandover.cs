using System.Diagnostics;
using AsdOrleans.Grains;
using AsdOrleans.Grains.Placement;
using Orleans.Providers;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace AsdOrleans.Silo;

/// <summary>
/// A silo that stops hands its machines to the other silos while it is still an active member of the cluster, before
/// Orleans marks it as shutting down. Without it, Orleans' graceful stop marks the silo as shutting down and deactivates
/// its grains at the same time, and the other silos drop it from the grain directory's ring at once: a call for a
/// machine whose directory entry the stopping silo kept found none and activated the machine again on another silo,
/// which read the store before the old activation had written its last clips (written behind, within 5 s). Whichever
/// of the two then wrote second failed on the version check, and the clips it had acknowledged were gone (3 of 16 in a
/// CI run of `SiloFailoverTests`). Handed over first, each machine writes what it holds and leaves the directory while
/// the membership, and so the directory, is unchanged; its next call activates it on another silo, which reads it all.
/// <para>The steps: every silo is told that this one leaves (Orleans' control channel): it places no new activation here
/// while another silo with the role is active (<see cref="LeavingSilos"/>) and forgets the addresses it cached here
/// (<see cref="ForgettingDirectoryCache.ForgetSilo"/>: a message sent by one would activate the machine here again,
/// unplaced). Then this silo deactivates its machines, in passes until none is left, telling the others again after
/// each (an address cached during a pass). Bounded by <see cref="Limit"/>; what is left then goes as Orleans stops the
/// silo, as before.</para>
/// </summary>
public sealed class MachineHandover(StoreLossActivations activations, ForgettingDirectoryCache directoryCache, LeavingSilos leaving,
    IClusterMembershipService membership, ISiloMetadataCache metadata, IGrainFactory grains, ILocalSiloDetails local,
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
    /// <summary>How long this silo looks again, after a pass that left none, for a machine that a cached address activated here.</summary>
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(250);

    /// <summary>On stop, at the stage before Orleans' own (membership status, deactivation of every grain).</summary>
    public void Participate(ISiloLifecycle lifecycle)
        => lifecycle.Subscribe(nameof(MachineHandover), ServiceLifecycleStage.Active, _ => Task.CompletedTask, HandOverAsync);

    public Task<object?> ExecuteCommand(int command, object? arg)
    {
        if (command != LeavingCommand || arg is not SiloAddress silo)
            throw new ArgumentException($"the machine handover knows command {LeavingCommand} (a silo that leaves), not {command} with {arg?.GetType().Name ?? "nothing"}");
        leaving.Add(silo);
        return Task.FromResult<object?>(directoryCache.ForgetSilo(silo));
    }

    private async Task HandOverAsync(CancellationToken stopping)
    {
        if (activations.Take<MachineGrain>(1).Count == 0)
            return;
        var self = local.SiloAddress;
        bool othersHoldMachines = membership.CurrentSnapshot.Members.Values.Any(m => m.Status == SiloStatus.Active && !m.SiloAddress.Equals(self)
            && SiloRoles.Includes(SiloRoles.Of(metadata, m.SiloAddress), SiloRoles.Machines));
        if (!othersHoldMachines)
        {
            logger.LogInformation("stopping: no other active silo holds machines, so this silo's machines stay until it stops");
            return;
        }
        if (MachineSpreader.StoreRefusesWrites(services) is { } problem)
        {
            logger.LogWarning("stopping: this silo hands no machine over while its store takes no writes ({Problem}); they stay until it stops",
                problem.Split('\n')[0]);
            return;
        }
        var clock = Stopwatch.StartNew();
        var handedOver = new HashSet<GrainId>();
        int passes = 0, stillGoing = 0;
        bool looked = false;
        await TellLeaving(self);
        while (!stopping.IsCancellationRequested && clock.Elapsed < Limit)
        {
            var here = activations.Take<MachineGrain>(int.MaxValue);
            if (here.Count == 0)
            {
                if (looked) break;
                looked = true;
                await TellLeaving(self);
                try { await Task.Delay(Settle, stopping); }
                catch (OperationCanceledException) { break; }
                continue;
            }
            looked = false;
            foreach (var context in here)
                directoryCache.Remove(context.GrainId);
            (_, stillGoing) = await StoreLossActivations.DeactivateAsync(here, $"silo {self} is stopping: its machines move to the other silos",
                Limit - clock.Elapsed is { Ticks: > 0 } left ? left : TimeSpan.Zero);
            passes++;
            handedOver.UnionWith(here.Where(c => c.Deactivated.IsCompleted).Select(c => c.GrainId));
            if (stillGoing > 0)
                break;
        }
        int remaining = activations.Take<MachineGrain>(int.MaxValue).Count;
        logger.LogInformation("stopping: handed {Machines} machines over to the other silos in {Seconds:0.0} s ({Passes}){Left}",
            handedOver.Count, clock.Elapsed.TotalSeconds, passes == 1 ? "1 pass" : $"{passes} passes",
            remaining > 0 ? $"; {remaining} still here go as the silo stops" + (stillGoing > 0 ? $" ({stillGoing} had not gone in time)" : "") : "");
    }

    /// <summary>Tells every active silo, this one included, that this one leaves; a silo that does not hear it may still
    /// place a machine here, which the next pass moves on.</summary>
    private async Task TellLeaving(SiloAddress self)
    {
        leaving.Add(self);
        directoryCache.ForgetSilo(self);
        try
        {
            await grains.GetGrain<IManagementGrain>(0).SendControlCommandToProvider<MachineHandover>(ProviderName, LeavingCommand, self).WaitAsync(TellTimeout);
        }
        catch (Exception e)
        {
            logger.LogWarning("stopping: not every silo heard that this one leaves ({Error}); one that did not may place a machine here meanwhile",
                e.Message.Split('\n')[0]);
        }
    }
}
