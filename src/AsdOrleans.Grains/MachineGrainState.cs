using AsdOrleans.Abstractions;

namespace AsdOrleans.Grains;

/// <summary>A clip the machine asked about, kept until it is labelled: its embedding and score as processed.</summary>
[GenerateSerializer]
public sealed class PendingLabel
{
    [Id(0)] public required string ClipId { get; init; }
    [Id(1)] public required float[] Embedding { get; init; }
    [Id(2)] public required double Score { get; init; }
    [Id(3)] public required DateTimeOffset RequestedAt { get; init; }
    [Id(4)] public string? AudioReference { get; init; }
    /// <summary>Why it was asked (a <c>QueryReason</c> name); null in requests stored before it was recorded.</summary>
    [Id(5)] public string? QueryReason { get; init; }
    /// <summary>The φ the clip's score was compared with; null in requests stored before it was recorded.</summary>
    [Id(6)] public double? DecisionThreshold { get; init; }
    /// <summary>The clip's <see cref="ClipAudioFingerprint"/>, so its label keeps this clip's audio and never another file
    /// left under its id; <see cref="ClipAudioFingerprint.Unknown"/> for embeddings sent without audio and in requests
    /// stored before it was recorded.</summary>
    [Id(7)] public uint AudioFingerprint { get; init; }

    public LabelRequest ToRequest(string machineId) => new(machineId, ClipId, Score, RequestedAt, AudioReference, QueryReason,
        DecisionThreshold: DecisionThreshold);
}

/// <summary>What a machine grain persists: the method's state as Core's bytes, plus the grain's own bookkeeping.</summary>
[GenerateSerializer]
public sealed class MachineGrainState
{
    [Id(0)] public MachineSettings Settings { get; set; } = new();
    /// <summary><c>MachineModel.Serialize()</c>; null until enrolled.</summary>
    [Id(1)] public byte[]? Model { get; set; }
    [Id(2)] public Dictionary<string, PendingLabel> Pending { get; set; } = [];
    /// <summary>
    /// How many answered, recent and expired clips a machine remembers (<see cref="ClipMemory{TValue}"/>). Each is in
    /// memory and in every full write (a label is one), so each costs a long-running machine its capacity × (8 bytes +
    /// value): 10,000 answered and 10,000 expired were 280 KB per machine after about 12 days at 6 clips a minute
    /// (docs/decisions.md, "smaller clip memories").
    /// </summary>
    public const int AnsweredMemory = 1_000, RecentClipMemory = 1_000, ExpiredMemory = 1_000;

    /// <summary>Recently answered clips, so a repeated label is recognised (idempotency).</summary>
    [Id(12)] public ClipMemory<ClipLabelValue> AnsweredClips { get; set; } = new(AnsweredMemory);
    /// <summary>Verdicts of the most recent clips, so a device's retry gets the original answer instead of a second count.</summary>
    [Id(13)] public ClipMemory<RecentVerdict> RecentClips { get; set; } = new(RecentClipMemory);
    /// <summary>Recently expired requests (clip → when, UTC ticks), so a late label is told "expired", not "unknown clip".</summary>
    [Id(14)] public ClipMemory<long> ExpiredClips { get; set; } = new(ExpiredMemory);

    // The same memories as written before ClipMemory (keyed by clip-id strings): read on activation, moved into the
    // memories above and never written again (MoveLegacyMemories).
    [Id(3)] public Dictionary<string, ClipLabelValue>? LegacyAnswered { get; set; }
    [Id(4)] public List<string>? LegacyAnsweredOrder { get; set; }
    [Id(5)] public Dictionary<string, ClipVerdict>? LegacyRecentVerdicts { get; set; }
    [Id(6)] public List<string>? LegacyRecentOrder { get; set; }
    [Id(7)] public Dictionary<string, DateTimeOffset>? LegacyExpired { get; set; }
    [Id(8)] public List<string>? LegacyExpiredOrder { get; set; }
    /// <summary>Requests closed unanswered since the last enrollment (expired, or withdrawn beyond the open limit), declines apart.</summary>
    [Id(9)] public long ExpiredCount { get; set; }
    /// <summary>Requests a labeller declined ("can't tell") since the last enrollment; states written before 2026-12-05
    /// counted them in <see cref="ExpiredCount"/>.</summary>
    [Id(15)] public long DeclinedCount { get; set; }
    /// <summary>Labels the last enrollment carried from the earlier ones, and those it could not (no kept audio).</summary>
    [Id(16)] public long CarriedLabels { get; set; }
    [Id(17)] public long LabelsNotCarried { get; set; }
    /// <summary>Enrollments so far (a carry read before another enrollment is refused).</summary>
    [Id(18)] public long Enrollments { get; set; }
    /// <summary>
    /// <c>FeatureStandardizer.ToBytes()</c> or <c>FeatureWhitener.ToBytes()</c> fitted on the enrollment clips when the machine
    /// was enrolled with raw features (the training-free embedders); null otherwise, and in states written before it existed.
    /// </summary>
    [Id(10)] public byte[]? Standardizer { get; set; }
    /// <summary>Counts full writes; a <see cref="MachineJournal"/> applies only to the base of its generation.</summary>
    [Id(11)] public long Generation { get; set; }
    /// <summary>Label requests closed so far (answered, declined, expired, withdrawn), never reset: the score history counts
    /// the outcomes it has marked (<see cref="ScoreHistoryState.OutcomesRecorded"/>), so an activation can tell that a
    /// crash lost marks written behind and restore them from this state (<see cref="OutcomeOf"/>).</summary>
    [Id(19)] public long RequestsClosed { get; set; }

    /// <summary>Who answered or declined the newest requests whose answer named someone, oldest first, at most
    /// <see cref="ClosersKept"/>. The score history's marks carry the name too, but are written behind the answer's own
    /// write: after a crash in between, the outcome is restored from this state (<see cref="OutcomeOf"/>) and the name from
    /// here (<see cref="CloserOf"/>). Null in states stored before it was kept.</summary>
    [Id(20)] public List<RequestCloser>? RecentClosers { get; set; }

    /// <summary>Names kept: many times the answers a machine gets in the seconds a history mark waits to be written.</summary>
    public const int ClosersKept = 64;

    /// <summary>An open request labelled: it leaves the open requests for the answered memory.</summary>
    public void Answered(string clipId, ClipLabelValue label, string? labeller = null)
    {
        Pending.Remove(clipId);
        AnsweredClips.Remember(clipId, label);
        RequestsClosed++;
        RememberCloser(clipId, labeller);
    }

    /// <summary>Keeps who closed <paramref name="clipId"/>'s request, when someone was named.</summary>
    public void RememberCloser(string clipId, string? labeller)
    {
        if (labeller is null) return;
        var closers = RecentClosers ??= [];
        closers.Add(new RequestCloser(clipId, labeller));
        if (closers.Count > ClosersKept) closers.RemoveRange(0, closers.Count - ClosersKept);
    }

    /// <summary>How <paramref name="clipId"/>'s request ended (<see cref="OutcomeOf"/>; null while open or not remembered)
    /// and who answered or declined it, while among the last <see cref="ClosersKept"/> named. An expired or withdrawn
    /// request has nobody, whatever an earlier request of a reused id was answered by.</summary>
    public RequestClosure? ClosureOf(string clipId)
        => OutcomeOf(clipId) is not { } outcome ? null
            : new RequestClosure(outcome, outcome is LabelRequestOutcome.Normal or LabelRequestOutcome.Anomalous or LabelRequestOutcome.Declined
                ? RecentClosers?.FindLast(c => c.ClipId == clipId)?.Labeller : null);

    /// <summary>A request closed unanswered at <paramref name="at"/>: remembered (a late label is told it closed) with
    /// how it closed.</summary>
    public void ClosedUnanswered(string clipId, DateTimeOffset at, LabelRequestOutcome outcome)
    {
        ExpiredClips.Remember(clipId, at.UtcTicks, tag: TagOf(outcome));
        RequestsClosed++;
    }

    /// <summary>How this machine's request for <paramref name="clipId"/> ended, as far as its memories still hold it; null
    /// while it is open or when it is not remembered. A request closed unanswered before the outcome was kept with it
    /// reads as expired, as a late label's answer calls every such request.</summary>
    public LabelRequestOutcome? OutcomeOf(string clipId)
    {
        if (Pending.ContainsKey(clipId)) return null;
        if (AnsweredClips.TryGet(clipId, out var label)) return ScorePoint.OutcomeOf(label);
        if (!ExpiredClips.TryGet(clipId, out _, out uint tag)) return null;
        return OutcomeOfTag(tag) ?? LabelRequestOutcome.Expired;
    }

    /// <summary>How an unanswered request closed, as the expired memory's tag keeps it (0: closed by a build that did not
    /// keep it).</summary>
    private static uint TagOf(LabelRequestOutcome outcome) => 1 + (uint)outcome;

    /// <summary>The outcome a tag of <see cref="TagOf"/> names; null for the untagged entries of older builds.</summary>
    public static LabelRequestOutcome? OutcomeOfTag(uint tag) => tag == 0 ? null : (LabelRequestOutcome)(tag - 1);

    /// <summary>A new enrollment starts a new history: no pending, answered, recent or expired clips.</summary>
    public void ForgetHistory()
    {
        Pending.Clear();
        AnsweredClips.Clear();
        RecentClips.Clear();
        ExpiredClips.Clear();
        ExpiredCount = 0;
        DeclinedCount = 0;
        RecentClosers = null;
    }

    /// <summary>Gives the clip memories the current capacities, keeping their newest entries (a state stored under older
    /// defaults); the next full write holds the resized memories.</summary>
    public void ApplyMemoryCapacities()
    {
        AnsweredClips.Resize(AnsweredMemory);
        RecentClips.Resize(RecentClipMemory);
        ExpiredClips.Resize(ExpiredMemory);
    }

    /// <summary>Moves the string-keyed memories of a state written before <see cref="ClipMemory{TValue}"/> into the
    /// clip memories, oldest first; true when there was anything to move (the next full write drops the old form).</summary>
    public bool MoveLegacyMemories()
    {
        bool moved = false;
        moved |= Move(LegacyAnswered, LegacyAnsweredOrder, AnsweredClips, label => label);
        moved |= Move(LegacyRecentVerdicts, LegacyRecentOrder, RecentClips, RecentVerdict.Of);
        moved |= Move(LegacyExpired, LegacyExpiredOrder, ExpiredClips, when => when.UtcTicks);
        LegacyAnswered = null; LegacyAnsweredOrder = null;
        LegacyRecentVerdicts = null; LegacyRecentOrder = null;
        LegacyExpired = null; LegacyExpiredOrder = null;
        return moved;
    }

    private static bool Move<TOld, TNew>(Dictionary<string, TOld>? items, List<string>? order, ClipMemory<TNew> into, Func<TOld, TNew> convert)
        where TNew : unmanaged
    {
        if (items is null || items.Count == 0) return false;
        foreach (var clipId in order ?? [.. items.Keys])
            if (items.TryGetValue(clipId, out var value))
                into.Remember(clipId, convert(value));
        return true;
    }
}

/// <summary>The labeller named with a request's answer or decline (<see cref="MachineGrainState.RecentClosers"/>).</summary>
[GenerateSerializer]
public sealed record RequestCloser([property: Id(0)] string ClipId, [property: Id(1)] string Labeller);

/// <summary>How a request ended, and who answered or declined it when that is known (<see cref="MachineGrainState.ClosureOf"/>).</summary>
public readonly record struct RequestClosure(LabelRequestOutcome Outcome, string? By);
