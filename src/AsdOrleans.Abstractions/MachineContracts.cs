namespace AsdOrleans.Abstractions;

/// <summary>A machine's method settings (DESIGN §1); null fields keep the paper's defaults.</summary>
[GenerateSerializer, Immutable]
public sealed record MachineSettings
{
    /// <summary>none, random, variable-uncertainty, hybrid, hybrid-printed or qbc.</summary>
    [Id(0)] public string Strategy { get; init; } = "hybrid";
    [Id(1)] public double Budget { get; init; } = 0.1;
    [Id(2)] public double Gamma { get; init; } = 0.5;
    [Id(3)] public double Alpha { get; init; } = 0.01;
    [Id(4)] public int BudgetWindow { get; init; } = 200;
    [Id(5)] public double RandomShare { get; init; } = 0.1;
    [Id(6)] public double DecisionQuantile { get; init; } = 0.9;
    /// <summary>Seed of the machine's decisions; null derives it from the machine id, so replays repeat.</summary>
    [Id(7)] public ulong? Seed { get; init; }
    [Id(8)] public int SourceClusters { get; init; } = 32;
}

/// <summary>One training clip's embedding for enrollment.</summary>
[GenerateSerializer, Immutable]
public sealed record EnrollmentClip([property: Id(0)] float[] Embedding, [property: Id(1)] bool IsTargetDomain);

/// <summary>Enrollment from training clips, all embedded by one encoder model version.</summary>
[GenerateSerializer, Immutable]
public sealed record EnrollmentRequest([property: Id(0)] IReadOnlyList<EnrollmentClip> Clips, [property: Id(1)] string ModelVersion);

/// <summary>One incoming clip, already embedded.</summary>
/// <param name="ClipId">Unique per machine; used to answer the label request later.</param>
/// <param name="AudioReference">Where the clip's audio is kept for a labeller (path or URI), if anywhere.</param>
[GenerateSerializer, Immutable]
public sealed record ClipSubmission(
    [property: Id(0)] string ClipId,
    [property: Id(1)] float[] Embedding,
    [property: Id(2)] string ModelVersion,
    [property: Id(3)] string? AudioReference = null);

/// <summary>The machine's answer for one clip (DESIGN §2, Flow); <see cref="Repeated"/> when it answers a retry of a clip it already had.</summary>
[GenerateSerializer, Immutable]
public sealed record ClipVerdict(
    [property: Id(0)] string ClipId,
    [property: Id(1)] double Score,
    [property: Id(2)] bool Anomalous,
    [property: Id(3)] bool LabelRequested,
    [property: Id(4)] long ClipIndex,
    [property: Id(5)] bool Repeated = false);

public enum ClipLabelValue { Normal = 0, Anomalous = 1 }

/// <summary>A durable request for a human label.</summary>
[GenerateSerializer, Immutable]
public sealed record LabelRequest(
    [property: Id(0)] string MachineId,
    [property: Id(1)] string ClipId,
    [property: Id(2)] double Score,
    [property: Id(3)] DateTimeOffset RequestedAt,
    [property: Id(4)] string? AudioReference);

/// <summary>Result of submitting a label; <see cref="AlreadyApplied"/> when the same label came before.</summary>
[GenerateSerializer, Immutable]
public sealed record LabelReceipt(
    [property: Id(0)] string ClipId,
    [property: Id(1)] ClipLabelValue Label,
    [property: Id(2)] bool AlreadyApplied,
    [property: Id(3)] int ReferenceSetSize,
    [property: Id(4)] int AnomalySetSize);

/// <summary>What an operator sees of a machine.</summary>
[GenerateSerializer, Immutable]
public sealed record MachineStatus
{
    [Id(0)] public required string MachineId { get; init; }
    [Id(1)] public required bool Enrolled { get; init; }
    [Id(2)] public required MachineSettings Settings { get; init; }
    [Id(3)] public string? ModelVersion { get; init; }
    [Id(4)] public int ReferenceSetSize { get; init; }
    [Id(5)] public int AnomalySetSize { get; init; }
    [Id(6)] public long ClipsSeen { get; init; }
    [Id(7)] public long Queries { get; init; }
    [Id(8)] public double RealisedBudget { get; init; }
    [Id(9)] public double SpentBudget { get; init; }
    [Id(10)] public double LabellingThreshold { get; init; }
    [Id(11)] public double DecisionThreshold { get; init; }
    [Id(12)] public int PendingLabelRequests { get; init; }
    [Id(13)] public long NormalLabels { get; init; }
    [Id(14)] public long AnomalousLabels { get; init; }
    /// <summary>Label requests dropped unanswered after their time-to-live, since the last enrollment.</summary>
    [Id(15)] public long ExpiredLabelRequests { get; init; }
}
