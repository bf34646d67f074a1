using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using AsdOrleans.Abstractions;
using AsdOrleans.Method.Machines;

namespace AsdOrleans.Grains.Telemetry;

/// <summary>
/// The project's own meter, <see cref="MeterName"/>: counters of clips, alerts, queries and labels, and gauges of the
/// machines active on this silo (pending label requests, realised budget, overspent budgets), all tagged with the machine type (see
/// <see cref="MachineType"/>), never the machine id, so the series stay few. Exported at /metrics by the silo.
/// </summary>
public static partial class AsdMetrics
{
    public const string MeterName = "AsdOrleans";
    public static readonly Meter Meter = new(MeterName, "1.0");

    private static readonly Counter<long> Clips = Meter.CreateCounter<long>("asd.clips", "{clip}", "Clips scored by machine grains");
    private static readonly Counter<long> Alerts = Meter.CreateCounter<long>("asd.alerts", "{alert}", "Clips scored above their machine's decision threshold");
    private static readonly Counter<long> Queries = Meter.CreateCounter<long>("asd.queries", "{request}", "Label requests raised, by why they were asked");
    private static readonly Counter<long> Labels = Meter.CreateCounter<long>("asd.labels", "{label}", "Labels applied (tag label: normal or anomalous)");
    private static readonly Counter<long> Declined = Meter.CreateCounter<long>("asd.label_requests.declined", "{request}", "Label requests a labeller closed without a label (could not tell)");
    private static readonly Counter<long> Claims = Meter.CreateCounter<long>("asd.label_requests.claims", "{claim}",
        "Claims on pending clips (tag outcome: taken, or refused because another labeller held the clip); renewals are not counted");

    private static readonly Counter<long> Answers = Meter.CreateCounter<long>("asd.answers", "{answer}",
        "Answers to label requests through the HTTP API (tag outcome: normal, anomalous or declined; tag labeller: the owner of a named labeller key, or shared)");
    private static readonly Counter<long> WebhookAlerts = Meter.CreateCounter<long>("asd.alert_webhook.alerts", "{alert}",
        "Alerts the webhook receiver acknowledged (outcome delivered), or that left an alert-index shard undelivered (outcome dropped)");
    private static readonly Counter<long> WebhookFailures = Meter.CreateCounter<long>("asd.alert_webhook.failures", "{request}",
        "Webhook POSTs that failed (no answer in time, or not 2xx); each is retried");
    private static readonly Counter<long> AlertsUnconfirmed = Meter.CreateCounter<long>("asd.alerts.unconfirmed", "{alert}",
        "Alerts a machine stopped sending to the alert index before a shard confirmed them written (over 256 waited on one machine); they stay in the machine's score history");
    /// <summary>Alert-index shards whose webhook deliverer, active on this silo, is retrying a failed batch.</summary>
    private static readonly ConcurrentDictionary<long, bool> WebhookFailing = new();

    /// <summary>Machines active on this silo: machine id → (type, pending requests, realised budget, overspent).</summary>
    private static readonly ConcurrentDictionary<string, (string Type, int Pending, double RealisedBudget, bool Overspent)> Active = new(StringComparer.Ordinal);

    static AsdMetrics()
    {
        Meter.CreateObservableGauge("asd.label_requests.pending", () => Active.Values.GroupBy(m => m.Type)
            .Select(g => new Measurement<long>(g.Sum(m => (long)m.Pending), new KeyValuePair<string, object?>("machine_type", g.Key))),
            "{request}", "Pending label requests of the machines active on this silo");
        Meter.CreateObservableGauge("asd.budget.realised", () => Active.Values.GroupBy(m => m.Type)
            .Select(g => new Measurement<double>(g.Average(m => m.RealisedBudget), new KeyValuePair<string, object?>("machine_type", g.Key))),
            "1", "Mean realised label budget (queries per clip) of the machines of a type active on this silo");
        Meter.CreateObservableGauge("asd.machines.overspent", () => Active.Values.GroupBy(m => m.Type)
            .Select(g => new Measurement<long>(g.Count(m => m.Overspent), new KeyValuePair<string, object?>("machine_type", g.Key))),
            "{machine}", "Machines active on this silo that have labelled more than b + 0.02 of at least 100 clips");
        Meter.CreateObservableGauge("asd.alert_webhook.failing_shards", () => (long)WebhookFailing.Count,
            "{shard}", "Alert-index shards, delivered from this silo, whose last webhook POST failed (their alerts wait)");
        Meter.CreateObservableGauge("asd.machines.active", () => Active.Values.GroupBy(m => m.Type)
            .Select(g => new Measurement<long>(g.Count(), new KeyValuePair<string, object?>("machine_type", g.Key))),
            "{machine}", "Machine grains active on this silo");
    }

    /// <summary>
    /// The type of a machine id: its last '.'-separated segment without a trailing number
    /// (<c>plant-a.line-3.bandsaw-07</c> → <c>bandsaw</c>, <c>fan_id00</c> → <c>fan_id</c>).
    /// </summary>
    public static string MachineType(string machineId)
    {
        string last = machineId[(machineId.LastIndexOf('.') + 1)..];
        string type = TrailingNumber().Replace(last, "");
        return type.Length == 0 ? last : type;
    }

    [GeneratedRegex(@"[-_]?\d+$")]
    private static partial Regex TrailingNumber();

    /// <summary>Distinct <c>machine_type</c> values a silo reports; the machines of any type beyond them are reported as
    /// <see cref="OtherTypes"/>. Machine ids whose last segment does not end in a number (serial numbers such as
    /// <c>SN4471X</c>, GUIDs, <c>pump-07b</c>) give every machine a type of its own, and every type a dozen series:
    /// without a bound a plant of 5,000 such machines would export some 60,000 series, and OpenTelemetry's own limit
    /// (2,000 points per instrument) would then fold the rest into an overflow series without a word.</summary>
    public const int MaxMachineTypes = 100;

    /// <summary>The <c>machine_type</c> of the machines whose types came after the first <see cref="MaxMachineTypes"/>.</summary>
    public const string OtherTypes = "other";

    private static readonly ConcurrentDictionary<string, bool> KnownTypes = new(StringComparer.Ordinal);
    private static int _typesOverflowed;

    /// <summary>Called once, when the first machine type beyond <see cref="MaxMachineTypes"/> is reported as <see cref="OtherTypes"/> (the silo logs it).</summary>
    public static Action<string>? TypesOverflowed { get; set; }

    /// <summary>The <c>machine_type</c> tag of a machine: its <see cref="MachineType"/> while this process has reported
    /// fewer than <see cref="MaxMachineTypes"/> types (or that type already), else <see cref="OtherTypes"/>.</summary>
    public static string MachineTypeTag(string machineId) => TypeTag(MachineType(machineId), KnownTypes, MaxMachineTypes);

    /// <summary>Forgets the types reported so far (tests that fill the bound leave the process as they found it).</summary>
    internal static void ForgetTypes()
    {
        KnownTypes.Clear();
        Interlocked.Exchange(ref _typesOverflowed, 0);
    }

    /// <summary><see cref="MachineTypeTag"/> over a given set of known types and bound (tests use their own).</summary>
    internal static string TypeTag(string type, ConcurrentDictionary<string, bool> known, int max)
    {
        if (known.ContainsKey(type)) return type;
        if (known.Count < max)
        {
            // Another caller adding the same type meanwhile is no overflow: many machines of one type activate
            // together when a silo takes over a dead one's (stop 56 found such losers answered "other", with the warning).
            if (!known.TryAdd(type, true)) return type;
            if (known.Count <= max) return type;
            known.TryRemove(type, out _); // a race past the bound: give the place back
        }
        if (ReferenceEquals(known, KnownTypes) && Interlocked.Exchange(ref _typesOverflowed, 1) == 0)
            TypesOverflowed?.Invoke(type);
        return OtherTypes;
    }

    /// <summary>
    /// Which decision threshold a clip was compared with, the <c>threshold</c> tag of clips and alerts: <c>source</c> or
    /// <c>target</c> (a machine that keeps φ per domain: its nearest reference's domain), <c>between</c> (a merged row's
    /// interpolated φ), or <c>one</c> (a machine that keeps one φ). Alerts over clips per value is each domain's alert
    /// rate, so a plant sees whether a new operating condition is what raises its alerts.
    /// </summary>
    public static string ThresholdOf(MachineModel model, double decisionThreshold)
        => model.DecisionThresholdTarget is not { } target ? "one"
            : decisionThreshold == model.DecisionThreshold ? "source"
            : decisionThreshold == target ? "target"
            : "between";

    /// <summary>The <c>labeller</c> tag of an answer made with a role's shared key (or an operator's): the names such
    /// answers carry are typed by whoever sends them, so they are not tags (the series would be unbounded).</summary>
    public const string SharedKey = "shared";

    /// <summary>An answer took effect (not a repeat): <paramref name="labeller"/> is a named key's owner or <see cref="SharedKey"/>.</summary>
    public static void OnAnswer(string labeller, string outcome) =>
        Answers.Add(1, new KeyValuePair<string, object?>("labeller", labeller), new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>The webhook receiver acknowledged <paramref name="alerts"/> of shard <paramref name="shard"/>.</summary>
    public static void OnWebhookDelivered(long shard, int alerts)
    {
        WebhookAlerts.Add(alerts, new KeyValuePair<string, object?>("outcome", "delivered"));
        WebhookFailing.TryRemove(shard, out _);
    }

    /// <summary>A webhook POST of shard <paramref name="shard"/> failed; it will be retried.</summary>
    public static void OnWebhookFailure(long shard)
    {
        WebhookFailures.Add(1);
        WebhookFailing[shard] = true;
    }

    /// <summary>Alerts left a shard's list before the webhook delivered them.</summary>
    public static void OnWebhookDropped(long alerts) => WebhookAlerts.Add(alerts, new KeyValuePair<string, object?>("outcome", "dropped"));

    /// <summary>A shard's webhook deliverer left this silo.</summary>
    public static void OnWebhookIdle(long shard) => WebhookFailing.TryRemove(shard, out _);

    /// <summary>A machine let an alert go that the alert index never confirmed (<see cref="AlertOutbox.Capacity"/>).</summary>
    public static void OnAlertUnconfirmed() => AlertsUnconfirmed.Add(1);

    /// <summary>A machine scored a clip (called by the machine grain after persisting what it must).</summary>
    public static void OnClip(string machineId, ClipVerdict verdict, double decisionThreshold, int pending, MachineModel model)
    {
        var tag = new KeyValuePair<string, object?>("machine_type", MachineTypeTag(machineId));
        var threshold = new KeyValuePair<string, object?>("threshold", ThresholdOf(model, decisionThreshold));
        Clips.Add(1, tag, threshold);
        if (verdict.Anomalous) Alerts.Add(1, tag, threshold);
        if (verdict.LabelRequested) Queries.Add(1, tag, new KeyValuePair<string, object?>("reason", verdict.QueryReason ?? "unrecorded"));
        Update(machineId, pending, model);
    }

    /// <summary>A label was applied.</summary>
    public static void OnLabel(string machineId, ClipLabelValue label, int pending, MachineModel model)
    {
        Labels.Add(1, new KeyValuePair<string, object?>("machine_type", MachineTypeTag(machineId)),
            new KeyValuePair<string, object?>("label", label == ClipLabelValue.Anomalous ? "anomalous" : "normal"));
        Update(machineId, pending, model);
    }

    /// <summary>A labeller declined a request: it closed without a label.</summary>
    public static void OnDecline(string machineId, int pending, MachineModel model)
    {
        Declined.Add(1, new KeyValuePair<string, object?>("machine_type", MachineTypeTag(machineId)));
        Update(machineId, pending, model);
    }

    /// <summary>A labeller claimed a clip (<paramref name="taken"/>), or was refused because another held it: refusals
    /// against claims say how often a team's labellers reach for the same clip.</summary>
    public static void OnClaim(string machineId, bool taken)
        => Claims.Add(1, new KeyValuePair<string, object?>("machine_type", MachineTypeTag(machineId)),
            new KeyValuePair<string, object?>("outcome", taken ? "taken" : "refused"));

    /// <summary>The machine's gauges, as of now (activation, enrollment, requests closed by expiry or withdrawal): its model gives the realised budget and whether
    /// it has overspent.</summary>
    public static void Update(string machineId, int pending, MachineModel model)
        => Active[machineId] = (MachineTypeTag(machineId), pending, model.RealisedBudget, MachineStatusMapping.HasOverspent(model));

    /// <summary>The machine's activation went away: its gauges leave this silo.</summary>
    public static void Forget(string machineId) => Active.TryRemove(machineId, out _);
}
