using System.Diagnostics;
using AsdOrleans.Grains;
using Microsoft.Extensions.Options;

namespace AsdOrleans.Silo;

/// <summary>
/// Opens this silo's <see cref="WriteThroughWindow"/> when a silo leaves the cluster, and has every grain here that
/// writes behind (machines, alert index shards) write what it holds at once. Told first by the leaving silo itself,
/// while it is still active (<see cref="MachineHandover"/>: the telling waits for these writes, up to
/// <see cref="WriteWait"/>), so that nothing is held unwritten here when the other silos drop it from the grain directory
/// and a grain whose entry it kept may be activated a second time; then again by the membership, for a silo that shows
/// active no more (a crash, or a silo that stopped without telling). Off with <see cref="SiloOptions.WriteThroughOnLeave"/>
/// (for measuring). docs/decisions.md, stop 61.
/// </summary>
public sealed class WriteThroughOnLeave(WriteThroughWindow window, StoreLossActivations activations, IGrainFactory grains,
    IClusterMembershipService membership, ILocalSiloDetails local, IOptions<SiloOptions> options, ILogger<WriteThroughOnLeave> logger) : BackgroundService
{
    /// <summary>How long a telling waits for this silo's grains to write what they hold (the leaving silo's telling
    /// gives up after 5 s); what is still writing then goes on.</summary>
    public static readonly TimeSpan WriteWait = TimeSpan.FromSeconds(4);
    private const int WritesAtOnce = 64;

    /// <summary>Opens the window (or keeps it open); when it was closed, has the grains here write what they hold.</summary>
    public async Task OpenAsync(string why)
    {
        if (!options.Value.WriteThroughOnLeave || !window.Open())
            return;
        var clock = Stopwatch.StartNew();
        var writing = activations.TakeWritingBehind();
        int failed = 0;
        var all = Parallel.ForEachAsync(writing, new ParallelOptions { MaxDegreeOfParallelism = WritesAtOnce }, async (context, _) =>
        {
            try
            {
                await grains.GetGrain<IWritesBehind>(context.GrainId).WriteNow();
            }
            catch (Exception)
            {
                Interlocked.Increment(ref failed); // its own log says why; its next call reloads it
            }
        });
        bool done = true;
        try
        {
            await all.WaitAsync(WriteWait);
        }
        catch (TimeoutException)
        {
            done = false;
        }
        logger.LogInformation("{Why}: {Grains} machines and alert shards here {Wrote} what they held in {Seconds:0.00} s{Failed}; " +
            "for {Window:0} s after the last such event, each writes before it answers", why, writing.Count, done ? "wrote" : "are still writing",
            clock.Elapsed.TotalSeconds, failed > 0 ? $" ({failed} failed)" : "", WriteThroughWindow.Length.TotalSeconds);
    }

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        HashSet<SiloAddress>? active = null;
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stopping))
            {
                var now = snapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress).ToHashSet();
                var gone = active?.Where(s => !now.Contains(s) && !s.Equals(local.SiloAddress)).ToList() ?? [];
                active = now;
                if (gone.Count > 0)
                    await OpenAsync($"silo {string.Join(", ", gone)} shows active no more");
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // Not thrown: a BackgroundService that throws stops the host. The tellings of leaving silos still open the window.
            logger.LogError(e, "watching the membership for silos that leave stopped; a silo that crashes no longer opens the write-through window here");
        }
    }
}
