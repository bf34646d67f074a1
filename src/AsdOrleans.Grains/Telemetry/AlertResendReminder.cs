using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Hosting;

namespace AsdOrleans.Grains.Telemetry;

/// <summary>
/// An Orleans reminder that wakes a machine while its score history stores alerts the alert index has not confirmed
/// (<see cref="AlertOutbox"/>), so that they reach the index although nobody calls the machine any more: its silo
/// crashed and its clips stopped, or it went idle before its shard answered. Registered at a flush that stores an
/// alert unconfirmed for <see cref="RegisterAfter"/> or longer (shards confirm within a tick or two when well, so a
/// well cluster writes no reminders), and at deactivation while any is stored; removed by a wake that finds nothing
/// waiting and no alert raised since the last wake, and at deactivation when nothing is stored. A reminder this
/// activation does not know of (left by a crashed one) removes itself at its next wake. Runs on the grain's turn.
/// </summary>
internal sealed class AlertResendReminder(Grain grain, IServiceProvider services, string machineId, ILogger logger)
{
    public const string Name = "alert-resend";

    /// <summary>How long an alert waits unconfirmed before its machine registers the reminder: three flush ticks.</summary>
    public static readonly TimeSpan RegisterAfter = 3 * MachineGrain.FlushInterval;

    private readonly bool _available = services.GetService<IReminderTable>() is not null;
    private readonly TimeSpan _period = Max(services.GetService<IOptions<AlertResendOptions>>()?.Value.WakePeriod ?? AlertResendOptions.DefaultWakePeriod,
        services.GetService<IOptions<ReminderOptions>>()?.Value.MinimumReminderPeriod ?? TimeSpan.Zero);
    /// <summary>Whether this activation registered it (or was woken by it); false once removed; null: not known.</summary>
    private bool? _registered;
    private long _sentAtLastWake = -1;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>After a flush: registers the reminder when <paramref name="storedWaiting"/> (the stored list holds alerts
    /// that have waited long enough) and this activation has not.</summary>
    public async Task AfterFlush(bool storedWaiting)
    {
        if (!_available || !storedWaiting || _registered == true) return;
        try
        {
            await grain.RegisterOrUpdateReminder(Name, _period, _period);
            _registered = true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "machine {Machine}: could not register the reminder that resends its unconfirmed alerts if it goes idle; trying again at the next flush", machineId);
        }
    }

    /// <summary>A wake: the caller has resent and flushed. Removes the reminder when nothing waits and no alert was
    /// raised since the last wake (<paramref name="alertsSent"/>: the outbox's count).</summary>
    public Task OnWake(bool waiting, long alertsSent)
    {
        _registered = true;
        bool quiet = alertsSent == _sentAtLastWake || _sentAtLastWake < 0 && alertsSent == 0;
        _sentAtLastWake = alertsSent;
        return waiting || !quiet ? Task.CompletedTask : Remove();
    }

    /// <summary>At deactivation, or a retirement: registers it when alerts are stored unconfirmed, else removes one this
    /// activation registered.</summary>
    public Task OnLeaving(bool storedWaiting) => storedWaiting ? AfterFlush(true) : _registered == true ? Remove() : Task.CompletedTask;

    private async Task Remove()
    {
        try
        {
            if (await grain.GetReminder(Name) is { } reminder)
                await grain.UnregisterReminder(reminder);
            _registered = false;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "machine {Machine}: could not remove its alert-resend reminder; it removes itself at a later wake", machineId);
        }
    }
}
