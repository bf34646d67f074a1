namespace AsdOrleans.Abstractions;

/// <summary>One scored clip in a machine's score history (what the console charts and the alert list shows).</summary>
/// <param name="At">When the machine scored the clip (UTC).</param>
/// <param name="ClipId">The clip, as the device named it.</param>
/// <param name="ClipIndex">The clip's position in the machine's stream.</param>
/// <param name="Score">Anomaly score.</param>
/// <param name="DecisionThreshold">The machine's decision threshold φ when it scored the clip.</param>
/// <param name="Anomalous">Score above φ: an alert was raised.</param>
/// <param name="LabelRequested">The machine asked for the clip's label.</param>
/// <param name="Label">The label a human gave, once answered.</param>
/// <param name="RequestOutcome">How its label request ended (labelled, declined, expired or withdrawn); null while it is
/// open, when none was asked, and in points recorded before 2026-12-05 (those carry only <paramref name="Label"/>).</param>
/// <param name="ClosedBy">The labeller who answered or declined, when the answer named one.</param>
/// <param name="AudioReference">An alert's audio reference as the clip came with it (a gateway's URI, or the silo's own
/// file for clips pushed over HTTP); null for points that are not alerts, and in points recorded before 2026-12-05.</param>
[GenerateSerializer, Immutable]
public sealed record ScorePoint(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] string ClipId,
    [property: Id(2)] long ClipIndex,
    [property: Id(3)] double Score,
    [property: Id(4)] double DecisionThreshold,
    [property: Id(5)] bool Anomalous,
    [property: Id(6)] bool LabelRequested,
    [property: Id(7)] ClipLabelValue? Label = null,
    [property: Id(8)] LabelRequestOutcome? RequestOutcome = null,
    [property: Id(9)] string? ClosedBy = null,
    [property: Id(10)] string? AudioReference = null)
{
    /// <summary>This point with its label request closed as <paramref name="outcome"/> (a label's outcome sets <see cref="Label"/>), by <paramref name="by"/>.</summary>
    public ScorePoint Closed(LabelRequestOutcome outcome, string? by) => this with
    {
        RequestOutcome = outcome,
        ClosedBy = by,
        Label = outcome switch { LabelRequestOutcome.Normal => ClipLabelValue.Normal, LabelRequestOutcome.Anomalous => ClipLabelValue.Anomalous, _ => Label },
    };

    /// <summary>The outcome a label gives a request.</summary>
    public static LabelRequestOutcome OutcomeOf(ClipLabelValue label) => label == ClipLabelValue.Anomalous ? LabelRequestOutcome.Anomalous : LabelRequestOutcome.Normal;
}

/// <summary>
/// A machine's bounded, persisted score history (key: the machine id): the last
/// <c>MachineScoreHistory.Capacity</c> clips. Served by the machine's own grain, which records each clip and label
/// itself, in records apart from its state, written behind every few seconds (docs/decisions.md, "Score history" and
/// "the score history inside the machine grain").
/// </summary>
public interface IScoreHistoryGrain : IGrainWithStringKey
{
    /// <summary>Appends a scored clip (one-way). The machine records its own clips; this is for tools that fill a history.</summary>
    [Orleans.Concurrency.OneWay]
    Task Record(ScorePoint point);

    /// <summary>Marks a clip of the history with its label (one-way; the machine marks its own labels).</summary>
    [Orleans.Concurrency.OneWay]
    Task RecordLabel(string clipId, ClipLabelValue label);

    /// <summary>Points scored at or after <paramref name="since"/> (all when null), oldest first, at most <paramref name="limit"/> (the newest).</summary>
    Task<IReadOnlyList<ScorePoint>> Get(DateTimeOffset? since, int limit);
}

/// <summary>An alert in the plant-wide index: the machine and its score-history point.</summary>
[GenerateSerializer, Immutable]
public sealed record IndexedAlert([property: Id(0)] string MachineId, [property: Id(1)] ScorePoint Point);

/// <summary>
/// One shard of the plant-wide alert index (key: shard number, the machine registry's shard of the machine id): the
/// newest alerts of its machines, so a plant-wide alert list asks the shards instead of every machine's history.
/// Fed by the machines, each alert until the shard has written it; written behind, every few seconds (docs/decisions.md,
/// "the alert index").
/// </summary>
public interface IAlertIndexGrain : IGrainWithIntegerKey
{
    [Orleans.Concurrency.OneWay]
    Task Add(string machineId, ScorePoint point);

    /// <summary>Adds a machine's alert unless the shard holds it already, and says whether it is on storage. Machines send
    /// each alert again (with the receipt they were last given) until it is: an alert a shard lost before writing it (its
    /// silo crashed, or a duplicate activation lost a write race) is indexed again, and an alert indexed twice is not
    /// added twice. Answers without waiting for a write (docs/decisions.md, "alerts reach the index at least once").</summary>
    [ResponseTimeout(CallTimeouts.Quick)]
    Task<AlertIndexReceipt> Index(string machineId, ScorePoint point, AlertIndexReceipt? earlier);

    /// <summary>Marks an indexed alert with how its label request ended: its label, or declined, expired or withdrawn
    /// (one-way; a clip the shard does not hold is ignored). Sent by machines of builds before <see cref="Close"/>.</summary>
    [Orleans.Concurrency.OneWay]
    Task MarkClosed(string machineId, string clipId, LabelRequestOutcome outcome, string? by);

    /// <summary>Marks an indexed alert with how its label request ended, as <see cref="MarkClosed"/>, and says whether that
    /// is done: true once the shard has written the outcome, or when it holds no such alert (never indexed here, or
    /// dropped from its newest alerts); false while the outcome waits for the shard's next write. Machines ask again
    /// until true, so an outcome a shard lost before writing it is marked again. Never adds an alert.</summary>
    [ResponseTimeout(CallTimeouts.Quick)]
    Task<bool> Close(string machineId, string clipId, LabelRequestOutcome outcome, string? by);

    /// <summary>Alerts at or after <paramref name="since"/> (all kept when null), newest first, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<IndexedAlert>> Newest(DateTimeOffset? since, int limit);

    /// <summary>Alerts already written to storage, from the shard's alert number <paramref name="from"/> on (every alert
    /// the shard takes gets the next number), oldest first, at most <paramref name="limit"/>: what the alert webhook
    /// delivers, so it never sends an alert that a crash could take back.</summary>
    Task<WrittenAlerts> Written(long from, int limit);
}

/// <summary>What a shard answers <see cref="IAlertIndexGrain.Index"/>: the activation that holds the alert, its number
/// there, and whether that activation has written it to storage.</summary>
[GenerateSerializer, Immutable]
public sealed record AlertIndexReceipt([property: Id(0)] Guid Activation, [property: Id(1)] long Number, [property: Id(2)] bool Written);

/// <summary>A run of a shard's written alerts (<see cref="IAlertIndexGrain.Written"/>).</summary>
/// <param name="First">The number of <paramref name="Alerts"/>' first; above the number asked for when older alerts
/// were dropped from the shard (it keeps its newest <c>AlertIndexGrain.Capacity</c>) before they were read.</param>
/// <param name="End">One past the newest written alert's number.</param>
[GenerateSerializer, Immutable]
public sealed record WrittenAlerts([property: Id(0)] long First, [property: Id(1)] long End, [property: Id(2)] IReadOnlyList<IndexedAlert> Alerts);

/// <summary>
/// Delivers one alert-index shard's alerts to the plant's webhook (key: the shard number), in order, each batch until
/// the receiver acknowledges it (docs/decisions.md, "alerts to a webhook"). Active only on silos configured with one.
/// </summary>
public interface IAlertWebhookGrain : IGrainWithIntegerKey
{
    /// <summary>Passed to <see cref="Wake"/> by a starting silo: deliver any backlog, but start nothing new.</summary>
    const long ResumeOnly = -1;

    /// <summary>New alerts are written from number <paramref name="from"/> on (one-way; sent by the shard after a write);
    /// <see cref="ResumeOnly"/>: only a deliverer that has started looks for alerts to deliver.</summary>
    [Orleans.Concurrency.OneWay]
    Task Wake(long from);

    /// <summary>Where its delivery stands (answered while a POST is under way: it reads two fields).</summary>
    [Orleans.Concurrency.AlwaysInterleave]
    Task<AlertWebhookPosition> Position();
}

/// <summary>Where a shard's webhook delivery stands.</summary>
/// <param name="Next">The shard's next alert number to deliver.</param>
/// <param name="LastFailure">Why its last POST failed; null when it succeeded (or none was made by this activation).</param>
/// <param name="Started">Whether it has delivered to the webhook this silo is configured with (a deliverer starts
/// with the first alerts written after that).</param>
[GenerateSerializer, Immutable]
public sealed record AlertWebhookPosition([property: Id(0)] long Next, [property: Id(1)] string? LastFailure, [property: Id(2)] bool Started);
