using AsdOrleans.Abstractions;

namespace AsdOrleans.Grains;

/// <summary>How long a label request waits for its label (silo option <c>Asd:LabelRequestTtl</c>).</summary>
public sealed class LabelRequestExpiryOptions
{
    public static readonly TimeSpan DefaultTtl = TimeSpan.FromDays(7);
    public static readonly TimeSpan MinimumTtl = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaximumTtl = TimeSpan.FromDays(365);

    public const int DefaultMaxPending = 100, MaximumMaxPending = 100_000;

    /// <summary>Time-to-live of a pending label request; after it the request and its audio are dropped.</summary>
    public TimeSpan LabelRequestTtl { get; set; } = DefaultTtl;

    /// <summary>Open label requests a machine keeps (silo option <c>Asd:MaxPendingLabelRequests</c>): a new request
    /// beyond it drops the oldest, as if expired. Bounds a machine's memory and writes when nobody answers.</summary>
    public int MaxPendingLabelRequests { get; set; } = DefaultMaxPending;

    /// <summary>How often a machine with pending requests checks for expired ones: a quarter of the TTL, within
    /// 1 s – 1 h (a request outlives its TTL by at most this much in storage; it is never served after it).</summary>
    public TimeSpan CheckPeriod => TimeSpan.FromTicks(Math.Clamp(LabelRequestTtl.Ticks / 4, TimeSpan.TicksPerSecond, TimeSpan.TicksPerHour));

    /// <summary>Null when valid, else what is wrong.</summary>
    public string? Problem() => LabelRequestTtl < MinimumTtl || LabelRequestTtl > MaximumTtl
        ? $"Asd:LabelRequestTtl must be between {MinimumTtl} and {MaximumTtl} (d.hh:mm:ss), got {LabelRequestTtl}"
        : MaxPendingLabelRequests is < 1 or > MaximumMaxPending
            ? $"Asd:MaxPendingLabelRequests must be between 1 and {MaximumMaxPending}, got {MaxPendingLabelRequests}"
            : null;
}

/// <summary>Removes a dropped request's stored audio; the host that stores the audio provides it (none: nothing to remove).</summary>
public interface IClipAudioRemover
{
    void Remove(string machineId, string clipId);

    /// <summary>A request answered with a label (<paramref name="outcome"/> normal or anomalous). A host may keep its audio
    /// (for a later carry, or as an example of the machine's normal sound); by default it is removed. <paramref name="request"/>
    /// says whose audio it is (its reference and fingerprint), so a host keeps only the clip's own audio, never a file
    /// another clip left under the same id. Requests closed otherwise (expired, declined, withdrawn) are removed.</summary>
    void Answered(string machineId, PendingLabel request, LabelRequestOutcome outcome) => Remove(machineId, request.ClipId);

    /// <summary>Removes this machine's stored audio older than <paramref name="olderThan"/> that no pending request
    /// points at: audio whose removal failed, or whose clip's fate a failed write left unknown.</summary>
    void RemoveOrphans(string machineId, IReadOnlySet<string> pendingClipIds, TimeSpan olderThan) { }

    /// <summary>The machine was enrolled again (changed or repaired): the clips kept as examples of its normal sound are
    /// of the machine before it, and go.</summary>
    void ForgetNormalExamples(string machineId) { }

    /// <summary>The machine was enrolled again without carrying its labels: the audio kept of its labelled clips (for a
    /// later carry) goes with them.</summary>
    void ForgetLabelledClips(string machineId) { }

    /// <summary>The machine was retired: every audio file kept for it goes (queried, alerts, normal examples, labelled).</summary>
    void ForgetMachine(string machineId) { }
}

/// <summary>The expiry rule over a machine's persisted state, in plain code (no Orleans calls).</summary>
public static class LabelRequestExpiry
{
    public const string ReminderName = "label-request-expiry";

    public static bool IsExpired(PendingLabel request, DateTimeOffset now, TimeSpan ttl) => now - request.RequestedAt >= ttl;

    /// <summary>Pending requests whose TTL has passed, oldest first.</summary>
    public static IReadOnlyList<PendingLabel> Due(MachineGrainState state, DateTimeOffset now, TimeSpan ttl)
        => state.Pending.Values.Where(p => IsExpired(p, now, ttl)).OrderBy(p => p.RequestedAt).ToList();

    /// <summary>When the next pending request expires; null when none is pending.</summary>
    public static DateTimeOffset? NextExpiry(MachineGrainState state, TimeSpan ttl)
        => state.Pending.Count == 0 ? null : state.Pending.Values.Min(p => p.RequestedAt) + ttl;

    /// <summary>The oldest pending requests beyond <paramref name="limit"/> open ones, oldest first.</summary>
    public static IReadOnlyList<PendingLabel> OverLimit(MachineGrainState state, int limit)
        => state.Pending.Count <= limit ? []
            : state.Pending.Values.OrderBy(p => p.RequestedAt).ThenBy(p => p.ClipId, StringComparer.Ordinal).Take(state.Pending.Count - limit).ToList();

    /// <summary>Moves <paramref name="due"/> from the pending requests to the (bounded) memory of closed unanswered ones,
    /// with how they closed (<paramref name="outcome"/>: expired, withdrawn, or declined, which is counted apart).</summary>
    public static void CloseUnanswered(MachineGrainState state, IEnumerable<PendingLabel> due, DateTimeOffset now,
        LabelRequestOutcome outcome = LabelRequestOutcome.Expired)
    {
        foreach (var request in due)
        {
            if (!state.Pending.Remove(request.ClipId))
                continue;
            state.ClosedUnanswered(request.ClipId, now, outcome);
            if (outcome == LabelRequestOutcome.Declined) state.DeclinedCount++;
            else state.ExpiredCount++;
        }
    }

    /// <summary>Throws <see cref="LabelRequestExpiredException"/> when <paramref name="clipId"/>'s request expired.</summary>
    public static void ThrowIfExpired(MachineGrainState state, string machineId, string? clipId)
    {
        if (clipId is not null && state.ExpiredClips.TryGet(clipId, out var ticks, out uint tag) && new DateTimeOffset(ticks, TimeSpan.Zero) is var when)
            throw new LabelRequestExpiredException($"machine {machineId}: the label request for clip '{clipId}' " + MachineGrainState.OutcomeOfTag(tag) switch
            {
                LabelRequestOutcome.Declined => $"was declined at {when:u} (a labeller could not tell), which closed it without a label",
                LabelRequestOutcome.Expired => $"expired at {when:u} unanswered (its time-to-live passed)",
                LabelRequestOutcome.Withdrawn => $"was withdrawn at {when:u} unanswered (newer requests went beyond the machine's limit of open ones, or the machine was re-enrolled)",
                // Closed by a build that did not record how.
                _ => $"expired at {when:u} unanswered (its time-to-live passed, newer requests went beyond the machine's limit of open ones, a labeller declined it, or the machine was re-enrolled)",
            } + "; its audio was removed and the label is not applied");
    }
}
