using AsdOrleans.Abstractions;
using AsdOrleans.Grains.Placement;
using AsdOrleans.Grains.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AsdOrleans.Grains;

/// <summary>
/// Where a silo sends alerts (registered only on silos configured with a webhook): one POST per batch of a shard's
/// alerts. The silo's implementation writes the JSON, signs it and makes the request.
/// </summary>
public interface IAlertWebhookSender
{
    /// <summary>The receiver, as configured; a machine-independent name, so a changed destination starts afresh.</summary>
    string Destination { get; }
    /// <summary>Most alerts in one POST.</summary>
    int BatchSize { get; }
    /// <summary>The longest wait between two tries of a failing batch.</summary>
    TimeSpan MaxRetryDelay { get; }
    /// <summary>Posts <paramref name="alerts"/>, numbered from <paramref name="first"/> in shard <paramref name="shard"/>;
    /// null when the receiver acknowledged them (2xx), else what went wrong.</summary>
    Task<string?> Send(long shard, long first, IReadOnlyList<IndexedAlert> alerts, CancellationToken cancellation);
}

[GenerateSerializer]
public sealed class AlertWebhookState
{
    /// <summary>The shard's next alert number to deliver.</summary>
    [Id(0)] public long Next { get; set; }
    /// <summary>The receiver <see cref="Next"/> counts for; empty before the first delivery.</summary>
    [Id(1)] public string Destination { get; set; } = "";
}

/// <summary>
/// Delivers one alert-index shard's alerts to the webhook (<see cref="IAlertWebhookGrain"/>): at least once, in the
/// shard's order, only alerts the shard has written. A batch is retried with a doubling wait (1 s up to
/// <see cref="IAlertWebhookSender.MaxRetryDelay"/>) until the receiver takes it, and the position moves only then. A
/// reminder is registered while the grain is behind, so a backlog left by a stopped or crashed silo is delivered
/// without waiting for the next alert.
/// </summary>
[RequiresSiloRole(SiloRoles.Machines)]
public sealed class AlertWebhookGrain(
    [PersistentState("alert-webhook", MachineGrain.StorageName)] IPersistentState<AlertWebhookState> state,
    IServiceProvider services, ILogger<AlertWebhookGrain> logger) : Grain, IAlertWebhookGrain, IRemindable
{
    public const string ReminderName = "alert-webhook-behind";
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromSeconds(1);
    private readonly IAlertWebhookSender? _sender = services.GetService<IAlertWebhookSender>();
    private readonly bool _remindersAvailable = services.GetService<IReminderTable>() is not null;
    private IGrainTimer? _retry;
    private TimeSpan _retryDelay = TimeSpan.Zero;
    private string? _lastFailure;
    /// <summary>Failed tries since the last delivery, and when the last warning about them was logged.</summary>
    private int _failures;
    private DateTime _warnedAt;
    /// <summary>A receiver that keeps failing is logged again at most this often (its metrics count every try).</summary>
    public static readonly TimeSpan FailureLogInterval = TimeSpan.FromMinutes(10);
    private bool? _reminderRegistered; // unknown on activation: a reminder may survive from an earlier one

    private long Shard => this.GetPrimaryKeyLong();

    public async Task Wake(long from)
    {
        if (_sender is null) return;
        if (state.State.Destination != _sender.Destination)
        {
            if (from == IAlertWebhookGrain.ResumeOnly) return;
            // Configured now, or pointed elsewhere: deliver from these alerts on, not the shard's whole past.
            state.State.Destination = _sender.Destination;
            state.State.Next = from;
            await state.WriteStateAsync();
        }
        if (_retry is null) await DeliverOrRetry();
    }

    public Task<AlertWebhookPosition> Position() =>
        Task.FromResult(new AlertWebhookPosition(state.State.Next, _lastFailure, _sender is not null && state.State.Destination == _sender.Destination));

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (_sender is null || state.State.Destination != _sender.Destination)
        {
            await SetReminder(false); // this silo sends nowhere, or the destination changed: the next alert starts it
            return;
        }
        if (_retry is null) await DeliverOrRetry();
    }

    /// <summary>Delivers; a fault of ours on the way (the shard or storage unreachable) is retried like a refused POST,
    /// so a backlog never waits for the next alert.</summary>
    private async Task DeliverOrRetry()
    {
        try
        {
            await Deliver();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            await RetryLater($"{e.GetType().Name}: {e.Message}", alerts: null);
        }
    }

    private async Task Deliver()
    {
        var index = GrainFactory.GetGrain<IAlertIndexGrain>(Shard);
        while (true)
        {
            var run = await index.Written(state.State.Next, _sender!.BatchSize);
            if (run.End < state.State.Next)
            {
                // The shard's storage holds fewer alerts than were delivered (it was cleared): start again at its oldest.
                logger.LogWarning("alert webhook, shard {Shard}: the shard has written {End} alerts, fewer than the {Next} delivered; delivering from its oldest", Shard, run.End, state.State.Next);
                state.State.Next = 0;
                continue;
            }
            if (run.First > state.State.Next)
            {
                long dropped = run.First - state.State.Next;
                AsdMetrics.OnWebhookDropped(dropped);
                logger.LogError("alert webhook, shard {Shard}: {Dropped} alerts left the shard's list before they were delivered (it keeps the newest {Capacity}); they are in the machines' score histories",
                    Shard, dropped, AlertIndexGrain.Capacity);
                state.State.Next = run.First;
            }
            if (run.Alerts.Count == 0)
            {
                await SetReminder(false);
                return;
            }
            string? failure;
            try
            {
                failure = await _sender.Send(Shard, run.First, run.Alerts, CancellationToken.None);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failure = e.Message;
            }
            if (failure is not null)
            {
                await RetryLater(failure, run.Alerts.Count);
                return;
            }
            state.State.Next = run.First + run.Alerts.Count;
            await state.WriteStateAsync();
            AsdMetrics.OnWebhookDelivered(Shard, run.Alerts.Count);
            if (_lastFailure is not null)
                logger.LogInformation("alert webhook, shard {Shard}: delivering again after {Failures} failed tries", Shard, _failures);
            _lastFailure = null;
            _failures = 0;
            _retryDelay = TimeSpan.Zero;
        }
    }

    /// <param name="alerts">The batch refused; null when none was sent.</param>
    private async Task RetryLater(string failure, int? alerts)
    {
        _retryDelay = _retryDelay == TimeSpan.Zero ? FirstRetryDelay : TimeSpan.FromTicks(Math.Min(_retryDelay.Ticks * 2, _sender!.MaxRetryDelay.Ticks));
        _failures++;
        if (_lastFailure is null || DateTime.UtcNow - _warnedAt >= FailureLogInterval)
        {
            logger.LogWarning("alert webhook, shard {Shard}: {Alerts} alert(s) not delivered to {Destination} ({Failures} tries so far): {Failure}; retrying, the wait doubling up to {Max}",
                Shard, alerts?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "no", _sender!.Destination, _failures, failure, _sender.MaxRetryDelay);
            _warnedAt = DateTime.UtcNow;
        }
        _lastFailure = failure;
        AsdMetrics.OnWebhookFailure(Shard);
        _retry = this.RegisterGrainTimer(async _ =>
        {
            _retry?.Dispose();
            _retry = null;
            await DeliverOrRetry();
        }, _retryDelay, Timeout.InfiniteTimeSpan);
        await SetReminder(true);
    }

    private async Task SetReminder(bool behind)
    {
        if (!_remindersAvailable || _reminderRegistered == behind) return;
        if (behind)
            await this.RegisterOrUpdateReminder(ReminderName, _sender!.MaxRetryDelay, _sender.MaxRetryDelay);
        else if (await this.GetReminder(ReminderName) is { } reminder)
            await this.UnregisterReminder(reminder);
        _reminderRegistered = behind;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        AsdMetrics.OnWebhookIdle(Shard);
        return Task.CompletedTask;
    }
}
