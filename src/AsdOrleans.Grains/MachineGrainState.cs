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
}

/// <summary>What a machine grain persists: the method's state as Core's bytes, plus the grain's own bookkeeping.</summary>
[GenerateSerializer]
public sealed class MachineGrainState
{
    [Id(0)] public MachineSettings Settings { get; set; } = new();
    /// <summary><c>MachineModel.Serialize()</c>; null until enrolled.</summary>
    [Id(1)] public byte[]? Model { get; set; }
    [Id(2)] public Dictionary<string, PendingLabel> Pending { get; set; } = [];
    /// <summary>Recently answered clips, so a repeated label is recognised (idempotency).</summary>
    [Id(3)] public Dictionary<string, ClipLabelValue> Answered { get; set; } = [];
    [Id(4)] public List<string> AnsweredOrder { get; set; } = [];
    /// <summary>Verdicts of the most recent clips, so a device's retry gets the original answer instead of a second count.</summary>
    [Id(5)] public Dictionary<string, ClipVerdict> RecentVerdicts { get; set; } = [];
    [Id(6)] public List<string> RecentOrder { get; set; } = [];
    /// <summary>Recently expired requests (clip id → when), so a late label is told "expired", not "unknown clip".</summary>
    [Id(7)] public Dictionary<string, DateTimeOffset> Expired { get; set; } = [];
    [Id(8)] public List<string> ExpiredOrder { get; set; } = [];
    /// <summary>All requests expired since the last enrollment.</summary>
    [Id(9)] public long ExpiredCount { get; set; }
    /// <summary>
    /// <c>FeatureStandardizer.ToBytes()</c> fitted on the enrollment clips when the machine was enrolled with raw features
    /// (the training-free baseline); null otherwise, and in states written before it existed (a new field id, so they load).
    /// </summary>
    [Id(10)] public byte[]? Standardizer { get; set; }
    /// <summary>Counts full writes; a <see cref="MachineJournal"/> applies only to the base of its generation.</summary>
    [Id(11)] public long Generation { get; set; }

    /// <summary>A new enrollment starts a new history: no pending, answered, recent or expired clips.</summary>
    public void ForgetHistory()
    {
        Pending.Clear();
        Answered.Clear();
        AnsweredOrder.Clear();
        RecentVerdicts.Clear();
        RecentOrder.Clear();
        Expired.Clear();
        ExpiredOrder.Clear();
        ExpiredCount = 0;
    }
}
