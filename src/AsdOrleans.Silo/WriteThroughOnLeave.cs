using System.Diagnostics;
using AsdOrleans.Grains;
using Microsoft.Extensions.Options;

namespace AsdOrleans.Silo;

/// <summary>
/// Opens this silo's <see cref="WriteThroughWindow"/> when a silo leaves the cluster. Told first by the leaving silo
/// itself, while it is still active and the grain directory still whole (<see cref="MachineHandover"/>), every grain here
/// that writes behind (machines, alert index shards) writes what it holds at once, and the telling is answered once
/// those writes are done or after <see cref="WriteWait"/>. A telling while the window is open writes nothing more: each
/// grain has written through since it opened. Then the membership, for a silo that shows active no more without having
/// told (a crash): the grains here are told to write soon on their own schedulers, not called (the directory has
/// already lost that silo's entries, and a call could activate a grain whose entry was lost a second time). A second
/// activation may still come first there: a crash is narrowed, not closed. Off with <see cref="SiloOptions.WriteThroughOnLeave"/>
/// (for measuring; set it alike on every silo). docs/decisions.md, stop 61.
/// </summary>
public sealed class WriteThroughOnLeave(WriteThroughWindow window, StoreLossActivations activations, IGrainFactory grains,
    IClusterMembershipService membership, ILocalSiloDetails local, IOptions<SiloOptions> options, ILogger<WriteThroughOnLeave> logger) : BackgroundService
{
    /// <summary>How long a telling waits for this silo's grains to write what they hold (the leaving silo waits 5 s for
    /// the answers); then no further write is started, those under way finish unawaited, and the telling is answered.</summary>
    public static readonly TimeSpan WriteWait = TimeSpan.FromSeconds(4);
    private const int WritesAtOnce = 64;

    /// <summary>Opens the window (or keeps it open). When it was closed: with <paramref name="writeHeld"/> (the directory
    /// still whole), the grains here write what they hold, and this returns once they have; otherwise each is told to
    /// write soon on its own scheduler, with no call.</summary>
    public async Task OpenAsync(string why, bool writeHeld)
    {
        if (!options.Value.WriteThroughOnLeave || !window.Open())
            return;
        var writing = activations.Take<IWritesBehind>(int.MaxValue); // machines, alert index shards
        if (!writeHeld)
        {
            foreach (var context in writing)
                if (context.GrainInstance is IWritesBehindSoon grain)
                    context.Scheduler.QueueAction(grain.WriteSoon);
            logger.LogInformation("{Why}: {Grains} machines and alert shards here were told to write what they hold; for {Window:0} s after the " +
                "last such event, each writes before it answers", why, writing.Count, WriteThroughWindow.Length.TotalSeconds);
            return;
        }
        var clock = Stopwatch.StartNew();
        int failed = 0;
        using var enough = new CancellationTokenSource();
        var all = Parallel.ForEachAsync(writing, new ParallelOptions { MaxDegreeOfParallelism = WritesAtOnce, CancellationToken = enough.Token }, async (context, _) =>
        {
            try
            {
                // Routed as any call: while the leaving silo is still active, the directory names this activation.
                await grains.GetGrain<IWritesBehind>(context.GrainId).WriteNow();
            }
            catch (Exception)
            {
                Interlocked.Increment(ref failed); // its own log says why; its next call reloads it
            }
        });
        bool done = await Task.WhenAny(all, Task.Delay(WriteWait)) == all;
        if (!done)
        {
            enough.Cancel(); // no further write starts; the loop ends canceled once those under way are done
            _ = all.ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
        }
        logger.LogInformation("{Why}: {Grains} machines and alert shards here {Wrote} what they held in {Seconds:0.00} s{Failed}; " +
            "for {Window:0} s after the last such event, each writes before it answers", why, writing.Count, done ? "wrote" : "had not all written",
            clock.Elapsed.TotalSeconds, failed > 0 ? $" ({failed} failed)" : "", WriteThroughWindow.Length.TotalSeconds);
    }

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        HashSet<SiloAddress>? active = null;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stopping))
                {
                    var now = snapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress).ToHashSet();
                    var gone = active?.Where(s => !now.Contains(s) && !s.Equals(local.SiloAddress)).ToList() ?? [];
                    active = now;
                    if (gone.Count > 0)
                        await OpenAsync($"silo {string.Join(", ", gone)} shows active no more", writeHeld: false);
                }
                await Task.Delay(TimeSpan.FromSeconds(5), stopping); // the updates ended without a fault: look again
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Not thrown: a BackgroundService that throws stops the host. The tellings of leaving silos still open the window.
                logger.LogError(e, "watching the membership for silos that leave failed; watching again in 5 s");
                try { await Task.Delay(TimeSpan.FromSeconds(5), stopping); }
                catch (OperationCanceledException) { return; }
            }
        }
    }
}
