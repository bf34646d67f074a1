using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Hosting;

namespace AsdOrleans.Grains.Telemetry;

/// <summary>
/// An Orleans reminder that wakes a machine while its score history stores alerts the alert index has not confirmed
/// (<see cref="AlertOutbox"/>), so that they reach the index although nobody calls the machine any more: its silo
/// crashed and its clips stopped, or it went idle before its shard answered. Registered after a flush that stores an
/// alert unconfirmed for <see cref="RegisterAfter"/> or longer (shards confirm within a tick or two when well, so a
/// well cluster writes no reminders), and at deactivation while any is stored; removed by a wake that finds nothing
/// waiting and no alert raised since the last wake, at deactivation when nothing is stored, and at retirement. A
/// reminder this activation does not know of (left by a crashed one) removes itself at its next wake. Runs on the
/// grain's turn.
/// </summary>
/// <param name="handedOver">A migration's old activation had it: this one removes it once nothing waits.</param>
internal sealed class AlertResendReminder(Grain grain, IServiceProvider services, string machineId, ILogger logger, bool handedOver = false)
{
    public const string Name = "alert-resend";

    /// <summary>How long an alert waits unconfirmed before its machine registers the reminder: three flush ticks.</summary>
    public static readonly TimeSpan RegisterAfter = 3 * MachineGrain.FlushInterval;

    private readonly bool _available = services.GetService<IReminderTable>() is not null;
    private readonly TimeSpan _period = Max(services.GetService<IOptions<AlertResendOptions>>()?.Value.WakePeriod ?? AlertResendOptions.DefaultWakePeriod,
        services.GetService<IOptions<ReminderOptions>>()?.Value.MinimumReminderPeriod ?? TimeSpan.Zero);
    /// <summary>Whether this activation's registration succeeded (and it has not removed it since).</summary>
    private bool _registered;
    /// <summary>Whether a wake came to this activation (or a migration's old one had it): a reminder may exist that it
    /// did not register.</summary>
    private bool _woken = handedOver;

    /// <summary>Whether the reminder may exist as far as this activation knows (handed over by a migration).</summary>
    public bool MayExist => _registered || _woken || _registering is { IsCompleted: false };

    /// <summary>No registration is tried again before this (<see cref="Environment.TickCount64"/>) after one failed.</summary>
    private long _retryAt;
    private bool _warnedFailure;
    /// <summary>A registration under way, started by a flush tick and not awaited there (see <see cref="AfterFlush"/>).</summary>
    private Task? _registering;
    private long _sentAtLastWake = -1;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>After a flush: starts registering the reminder when <paramref name="storedWaiting"/> (the stored list holds
    /// alerts that have waited long enough) and this activation has not. Not awaited: the tick is a turn of the grain, and
    /// a reminder write (an fsync in the SQLite table, queued behind every other machine's) must not hold its clips.</summary>
    public void AfterFlush(bool storedWaiting)
    {
        // A wake means it exists (registering again would only put the next wake off by a period).
        if (!_available || !storedWaiting || _registered || _woken || _registering is { IsCompleted: false } || Environment.TickCount64 < _retryAt) return;
        _registering = Register(leaving: false);
    }

    private async Task Register(bool leaving)
    {
        try
        {
            await grain.RegisterOrUpdateReminder(Name, _period, _period);
            _registered = true;
        }
        catch (Exception e)
        {
            // Not thrown: callers are a flush tick's follow-up and a deactivation, which must go on. Tried again after
            // RegisterAfter (not at every tick), warned once per activation.
            _retryAt = Environment.TickCount64 + (long)RegisterAfter.TotalMilliseconds;
            if (_warnedFailure && !leaving) return;
            _warnedFailure = true;
            logger.LogWarning(e, leaving
                ? "machine {Machine}: could not register the reminder that resends its unconfirmed alerts; they are sent at its next activation"
                : "machine {Machine}: could not register the reminder that resends its unconfirmed alerts if it goes idle; trying again later", machineId);
        }
    }

    /// <summary>A wake: the caller has resent and flushed. Removes the reminder when nothing waits and no alert was
    /// raised since the last wake (<paramref name="alertsSent"/>: the outbox's count).</summary>
    public Task OnWake(bool waiting, long alertsSent)
    {
        _woken = true;
        bool quiet = alertsSent == _sentAtLastWake || _sentAtLastWake < 0 && alertsSent == 0;
        _sentAtLastWake = alertsSent;
        return waiting || !quiet ? Task.CompletedTask : Remove();
    }

    /// <summary>At deactivation: registers it when alerts are stored unconfirmed (awaited: the activation is going), else
    /// removes one this activation registered or was woken by.</summary>
    public async Task OnLeaving(bool storedWaiting)
    {
        if (!_available) return;
        if (_registering is { } registering) await registering;
        if (storedWaiting)
        {
            if (!_registered) await Register(leaving: true);
        }
        else if (_registered || _woken)
            await Remove();
    }

    /// <summary>A retirement: removes the reminder whoever registered it.</summary>
    public async Task Forget()
    {
        if (!_available) return;
        await Remove(); // after a registration under way
    }

    private async Task Remove()
    {
        try
        {
            if (_registering is { IsCompleted: false } registering) await registering;
            if (await grain.GetReminder(Name) is { } reminder)
                await grain.UnregisterReminder(reminder);
            (_registered, _woken) = (false, false);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "machine {Machine}: could not remove its alert-resend reminder; it removes itself at a later wake", machineId);
        }
    }
}
