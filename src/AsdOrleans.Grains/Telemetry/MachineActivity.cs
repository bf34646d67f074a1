using AsdOrleans.Abstractions;
using AsdOrleans.Method.Machines;

namespace AsdOrleans.Grains.Telemetry;

/// <summary>
/// What a machine grain reports besides its answer: metrics (<see cref="AsdMetrics"/>), its score history (in memory,
/// written behind) and the plant-wide alert index (<see cref="AlertOutbox"/>: alerts and label outcomes, each until written). Nothing here waits or throws into the clip's path.
/// </summary>
internal static class MachineActivity
{
    public static void OnClip(MachineScoreHistory history, AlertOutbox alerts, string machineId, ClipVerdict verdict, double decisionThreshold, int pending, MachineModel model,
        string? audioReference)
    {
        AsdMetrics.OnClip(machineId, verdict, decisionThreshold, pending, model);
        // An alert keeps where its audio is, so the alert list can point a labeller at a gateway's copy.
        var point = new ScorePoint(DateTimeOffset.UtcNow, verdict.ClipId, verdict.ClipIndex, verdict.Score, decisionThreshold,
            verdict.Anomalous, verdict.LabelRequested, AudioReference: verdict.Anomalous ? audioReference : null);
        history.Record(point);
        alerts.Send(point);
    }

    /// <summary>How a clip's label request ended, in the score history and the alert index.</summary>
    public static void MarkClosed(MachineScoreHistory history, AlertOutbox alerts, string clipId, LabelRequestOutcome outcome, string? by = null)
    {
        var point = history.RecordOutcome(clipId, outcome, by);
        alerts.Closed(clipId, point, outcome, by);
    }
}
