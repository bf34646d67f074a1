using AsdOrleans.Abstractions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Hosting;

namespace AsdOrleans.Grains;

/// <summary>
/// A machine grain's side of label-request expiry: drops expired requests (audio first, then the persisted state)
/// and keeps one Orleans reminder registered exactly while requests are pending, so a machine nobody calls still
/// cleans up. Runs on the grain's own turn (created and called by the grain only).
/// </summary>
internal sealed class LabelRequestExpiryKeeper(
    Grain grain, IServiceProvider services, string machineId, Func<MachineGrainState> state, Func<Action<MachineGrainState>, Task> persist, ILogger logger)
{
    private readonly TimeSpan _ttl = services.GetRequiredService<IOptions<LabelRequestExpiryOptions>>().Value.LabelRequestTtl;
    private readonly TimeSpan _checkPeriod = services.GetRequiredService<IOptions<LabelRequestExpiryOptions>>().Value.CheckPeriod;
    private readonly IClipAudioRemover? _audio = services.GetService<IClipAudioRemover>();
    // Silos without a reminder service (bare test clusters) still expire requests on calls and activation.
    private readonly bool _remindersAvailable = services.GetService<IReminderTable>() is not null;
    private bool? _reminderRegistered;

    public TimeSpan Ttl => _ttl;

    /// <summary>Told the clips whose requests expired, once their expiry is written.</summary>
    public Action<IEnumerable<string>>? OnExpired { get; init; }

    /// <summary>Whether <see cref="SyncReminder"/> may have something to do now that a request is pending.</summary>
    public bool ReminderUnconfirmed => _remindersAvailable && _reminderRegistered != true;

    /// <summary>Open requests the machine keeps (<see cref="LabelRequestExpiryOptions.MaxPendingLabelRequests"/>).</summary>
    public int MaxPending { get; } = services.GetRequiredService<IOptions<LabelRequestExpiryOptions>>().Value.MaxPendingLabelRequests;

    /// <summary>Drops every request past its TTL. The audio goes first: if the state write then fails, the request is
    /// still expired by the clock and is dropped again next time, so no audio file is left without a request.</summary>
    public async Task ExpireDue()
    {
        var now = DateTimeOffset.UtcNow;
        var due = LabelRequestExpiry.Due(state(), now, _ttl);
        if (due.Count == 0)
            return;
        RemoveAudio(due.Select(d => d.ClipId), LabelRequestOutcome.Expired);
        // Each closed at its own expiry, not at this sweep (a late label is told when its request expired).
        await persist(s => { foreach (var request in due) LabelRequestExpiry.CloseUnanswered(s, [request], request.RequestedAt + _ttl); });
        OnExpired?.Invoke(due.Select(d => d.ClipId));
        logger.LogInformation("machine {Machine}: {Count} label request(s) expired unanswered after {Ttl}", machineId, due.Count, _ttl);
    }

    /// <summary>Removes the stored audio of requests that are dropped (expired, or cleared by a re-enrollment).</summary>
    public void RemoveAudio(IEnumerable<string> clipIds, LabelRequestOutcome outcome)
    {
        foreach (var clipId in clipIds)
        {
            try
            {
                _audio?.Remove(machineId, clipId);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                logger.LogWarning(e, "machine {Machine}: could not remove the audio of clip {Clip} ({Outcome})", machineId, clipId, outcome);
            }
        }
    }

    /// <summary>Closes an answered request's audio: the host may keep it (for a carry, as a normal example) when the stored
    /// file is the request's own; a failure is logged.</summary>
    public void RemoveAnsweredAudio(PendingLabel request, LabelRequestOutcome outcome)
    {
        try
        {
            _audio?.Answered(machineId, request, outcome);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(e, "machine {Machine}: could not remove the audio of clip {Clip} ({Outcome})", machineId, request.ClipId, outcome);
        }
    }

    /// <summary>Removes the clips kept as examples of the machine's normal sound (after a re-enrollment that carried no
    /// labels); a failure is logged.</summary>
    public void ForgetNormalExamples()
    {
        try
        {
            _audio?.ForgetNormalExamples(machineId);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(e, "machine {Machine}: could not remove the normal examples kept from before its re-enrollment", machineId);
        }
    }

    /// <summary>Removes the audio kept of the machine's labelled clips (a re-enrollment that carries no labels: they are of
    /// the machine before it was changed or repaired); a failure is logged. Apart from the normal examples, so that one
    /// failing to go never leaves the other, which a later carry would take for the new machine's labels.</summary>
    public void ForgetLabelledClips()
    {
        try
        {
            _audio?.ForgetLabelledClips(machineId);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(e, "machine {Machine}: could not remove the labelled audio kept from before its re-enrollment; a later keepLabels enrollment would carry it", machineId);
        }
    }

    /// <summary>Removes every audio file kept for the machine (its retirement).</summary>
    public void ForgetMachine() => _audio?.ForgetMachine(machineId);

    /// <summary>Audio younger than this may belong to a clip still on its way to the grain (stored before the call).</summary>
    public static readonly TimeSpan OrphanedAudioAge = TimeSpan.FromHours(1);

    /// <summary>Sweeps stored audio no pending request points at (on activation and on reminder ticks); a failure is logged.</summary>
    public void RemoveOrphanedAudio()
    {
        try
        {
            _audio?.RemoveOrphans(machineId, state().Pending.Keys.ToHashSet(), OrphanedAudioAge);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(e, "machine {Machine}: could not sweep orphaned clip audio", machineId);
        }
    }

    /// <summary>Registers the reminder when requests are pending and it is not, removes it when none are. A failure is
    /// logged, not thrown: the caller's change is already persisted, and the next call or activation tries again.</summary>
    public async Task SyncReminder()
    {
        if (!_remindersAvailable)
            return;
        try
        {
            var next = LabelRequestExpiry.NextExpiry(state(), _ttl);
            _reminderRegistered ??= await grain.GetReminder(LabelRequestExpiry.ReminderName) is not null;
            if (next is { } due && _reminderRegistered == false)
            {
                var minimum = services.GetService<IOptions<ReminderOptions>>()?.Value.MinimumReminderPeriod ?? TimeSpan.Zero;
                var period = _checkPeriod > minimum ? _checkPeriod : minimum;
                var dueIn = due - DateTimeOffset.UtcNow;
                await grain.RegisterOrUpdateReminder(LabelRequestExpiry.ReminderName, dueIn > TimeSpan.Zero ? dueIn : TimeSpan.Zero, period);
                _reminderRegistered = true;
            }
            else if (next is null && _reminderRegistered == true)
            {
                if (await grain.GetReminder(LabelRequestExpiry.ReminderName) is { } reminder)
                    await grain.UnregisterReminder(reminder);
                _reminderRegistered = false;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _reminderRegistered = null; // unknown: ask the reminder service next time
            logger.LogWarning(e, "machine {Machine}: could not update its label-request expiry reminder", machineId);
        }
    }

    /// <summary>The reminder's tick: drop what expired, then drop the reminder if nothing is pending.</summary>
    public async Task OnReminder()
    {
        _reminderRegistered = true;
        await ExpireDue();
        RemoveOrphanedAudio();
        await SyncReminder();
    }
}
