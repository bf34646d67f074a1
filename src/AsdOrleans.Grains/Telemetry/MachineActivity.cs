using AsdOrleans.Abstractions;

namespace AsdOrleans.Grains.Telemetry;

/// <summary>
/// What a machine grain reports besides its answer: metrics (<see cref="AsdMetrics"/>) and its score history
/// (<see cref="IScoreHistoryGrain"/>, one-way). Neither waits nor throws into the clip's path.
/// </summary>
internal static class MachineActivity
{
    public static void OnClip(IGrainFactory grains, string machineId, ClipVerdict verdict, double decisionThreshold, int pending, double realisedBudget)
    {
        AsdMetrics.OnClip(machineId, verdict, pending, realisedBudget);
        var point = new ScorePoint(DateTimeOffset.UtcNow, verdict.ClipId, verdict.ClipIndex, verdict.Score, decisionThreshold,
            verdict.Anomalous, verdict.LabelRequested);
        Forget(grains.GetGrain<IScoreHistoryGrain>(machineId).Record(point));
    }

    public static void OnLabel(IGrainFactory grains, string machineId, string clipId, ClipLabelValue label, int pending, double realisedBudget)
    {
        AsdMetrics.OnLabel(machineId, label, pending, realisedBudget);
        Forget(grains.GetGrain<IScoreHistoryGrain>(machineId).RecordLabel(clipId, label));
    }

    private static void Forget(Task oneWay) => oneWay.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
}
