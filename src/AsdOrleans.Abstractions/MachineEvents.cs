namespace AsdOrleans.Abstractions;

/// <summary>
/// Where machine grains publish their events: one Orleans stream provider, and one plant-wide stream per event kind
/// (<c>StreamId.Create(namespace, PlantKey)</c>) carrying every machine's events. A subscriber that wants one machine filters on
/// <see cref="IMachineEvent.MachineId"/>. See docs/decisions.md (streams) for why plant-wide and for the delivery
/// guarantees; the durable record of label requests remains <see cref="IMachineGrain.GetPendingLabelRequests"/>.
/// </summary>
public static class MachineEventStreams
{
    /// <summary>Name of the stream provider on silos and clients.</summary>
    public const string ProviderName = "asd-events";

    /// <summary>Stream namespace of <see cref="AnomalyAlert"/> events.</summary>
    public const string AlertNamespace = "asd.alerts";

    /// <summary>Stream namespace of <see cref="LabelRequestEvent"/> events.</summary>
    public const string LabelRequestNamespace = "asd.label-requests";

    /// <summary>Stream namespace of <see cref="LabelRequestClosed"/> events.</summary>
    public const string LabelRequestClosedNamespace = "asd.label-requests.closed";

    /// <summary>Stream namespace of <see cref="LabelRequestClaim"/> events (a labeller took, renewed or released a claim).</summary>
    public const string LabelRequestClaimNamespace = "asd.label-requests.claims";

    /// <summary>Key of the plant-wide stream in each namespace.</summary>
    public const string PlantKey = "plant";
}

/// <summary>An event from one machine grain.</summary>
public interface IMachineEvent
{
    /// <summary>The machine that raised the event.</summary>
    string MachineId { get; }
}

/// <summary>A clip scored above the machine's decision threshold.</summary>
/// <param name="MachineId">The machine.</param>
/// <param name="ClipId">The clip, as the device named it.</param>
/// <param name="ClipIndex">The clip's position in the machine's stream (0-based count of clips scored before it).</param>
/// <param name="Score">Anomaly score (k-NN distance to the normal reference set).</param>
/// <param name="DecisionThreshold">The threshold the score exceeded.</param>
/// <param name="LabelRequested">Whether the machine also asked for this clip's label (a <see cref="LabelRequestEvent"/> follows on its stream).</param>
/// <param name="DetectedAt">When the machine scored the clip (UTC).</param>
/// <param name="AudioReference">Where the clip's audio is kept, if anywhere (the silo keeps only queried clips' audio).</param>
[GenerateSerializer, Immutable]
public sealed record AnomalyAlert(
    [property: Id(0)] string MachineId,
    [property: Id(1)] string ClipId,
    [property: Id(2)] long ClipIndex,
    [property: Id(3)] double Score,
    [property: Id(4)] double DecisionThreshold,
    [property: Id(5)] bool LabelRequested,
    [property: Id(6)] DateTimeOffset DetectedAt,
    [property: Id(7)] string? AudioReference) : IMachineEvent;

/// <summary>A machine asked for a clip's label; published after the request is persisted, so it is already listed
/// by <see cref="IMachineGrain.GetPendingLabelRequests"/> and can be answered with <see cref="IMachineGrain.SubmitLabel"/>.</summary>
/// <param name="Request">The pending request, as the pending list shows it.</param>
/// <param name="Anomalous">Whether the clip was also scored anomalous (an <see cref="AnomalyAlert"/> was raised).</param>
/// <param name="ClipIndex">The clip's position in the machine's stream.</param>
[GenerateSerializer, Immutable]
public sealed record LabelRequestEvent(
    [property: Id(0)] LabelRequest Request,
    [property: Id(1)] bool Anomalous,
    [property: Id(2)] long ClipIndex) : IMachineEvent
{
    /// <inheritdoc/>
    public string MachineId => Request.MachineId;
}

/// <summary>How a label request ended. Numeric values are stored: never renumber. JSON writes the words, as the
/// <c>label-request-closed</c> event does.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<LabelRequestOutcome>))]
public enum LabelRequestOutcome
{
    /// <summary>Labelled normal.</summary>
    [System.Text.Json.Serialization.JsonStringEnumMemberName("normal")] Normal = 0,
    /// <summary>Labelled anomalous.</summary>
    [System.Text.Json.Serialization.JsonStringEnumMemberName("anomalous")] Anomalous = 1,
    /// <summary>A labeller could not tell and closed it without a label.</summary>
    [System.Text.Json.Serialization.JsonStringEnumMemberName("declined")] Declined = 2,
    /// <summary>Its time-to-live passed unanswered.</summary>
    [System.Text.Json.Serialization.JsonStringEnumMemberName("expired")] Expired = 3,
    /// <summary>Dropped unanswered: newer requests went beyond the machine's limit of open ones, or it was re-enrolled.</summary>
    [System.Text.Json.Serialization.JsonStringEnumMemberName("withdrawn")] Withdrawn = 4,
}

/// <summary>A label request closed: answered, declined, expired or withdrawn; published after the machine wrote it, so
/// labellers' queues can drop it at once instead of at their next listing.</summary>
[GenerateSerializer, Immutable]
public sealed record LabelRequestClosed(
    [property: Id(0)] string MachineId,
    [property: Id(1)] string ClipId,
    [property: Id(2)] LabelRequestOutcome Outcome,
    [property: Id(3)] DateTimeOffset ClosedAt,
    [property: Id(4)] string? ClosedBy = null) : IMachineEvent;
