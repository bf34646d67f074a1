using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Evaluation.Experiments;

/// <summary>
/// How much a machine's labelled anomalies could change, read from the whole stream's ground truth and the offline model.
/// A labelled anomaly can only raise a clip that is nearer to it than to the clip's nearest normal reference (the
/// default scoring's safe term says so outright; Eq. 3's similarity is largest there too). An anomaly is "within reach"
/// when some other anomaly of the stream is nearer to it than its nearest normal reference is, so it could be raised if
/// that one were labelled. How many normals each anomaly already outscores offline (ties half: its share of the AUC)
/// says whether raising it can matter: within-reach anomalies that are already on top leave labels nothing to do.
/// </summary>
/// <param name="WithinReachOutscore">Mean share of the normal test clips that the within-reach anomalies outscore offline (NaN if none).</param>
/// <param name="OutOfReachOutscore">The same for the other anomalies (NaN if none).</param>
public sealed record LabelHeadroom(string Machine, int Anomalies, int WithinReach, double WithinReachOutscore, double OutOfReachOutscore);

public static class LabelHeadroomAnalysis
{
    /// <summary>
    /// Per machine, under the offline configuration of the plan's first sweep point and trial 0 (the same enrollment the
    /// offline runs use; with k-means centres, trial 0's).
    /// </summary>
    public static IReadOnlyList<LabelHeadroom> Measure(ExperimentPlan plan, ExperimentSettings settings)
        => plan.Machines.Select(machine => Measure(machine,
            PrequentialExperiment.RunConfig(settings, machine.Name, QueryStrategyKind.None, 0, trial: 0, settings.Points[0]))).ToList();

    public static LabelHeadroom Measure(PreparedMachine machine, MachineConfig config)
    {
        var model = MachineModel.Create(config, machine.EnrollmentFor(config));
        var scales = model.ReferenceScales.ToArray();
        int clips = machine.Test.Length;
        var scores = new double[clips];
        var nearestNormalCosine = new double[clips];
        var cosines = new float[model.ReferenceSet.Count];
        for (int i = 0; i < clips; i++)
        {
            scores[i] = model.ScoreNormalized(machine.Test[i]);
            var (_, nearest) = ScaledScore.Distance(model.ReferenceSet, scales, machine.Test[i], cosines);
            nearestNormalCosine[i] = cosines[nearest];
        }

        var anomalies = Enumerable.Range(0, clips).Where(i => machine.IsAnomaly[i]).ToArray();
        var normalScores = Enumerable.Range(0, clips).Where(i => !machine.IsAnomaly[i]).Select(i => scores[i]).ToArray();
        var anomalySet = new EmbeddingSet(machine.Test[0].Length, anomalies.Length);
        foreach (int i in anomalies) anomalySet.AddNormalized(machine.Test[i]);
        var toAnomalies = new float[anomalies.Length];

        var withinReach = new List<double>();
        var outOfReach = new List<double>();
        for (int k = 0; k < anomalies.Length; k++)
        {
            int clip = anomalies[k];
            anomalySet.Cosines(machine.Test[clip], toAnomalies);
            double nearestOtherAnomaly = double.NegativeInfinity;
            for (int j = 0; j < anomalies.Length; j++)
                if (j != k) nearestOtherAnomaly = Math.Max(nearestOtherAnomaly, toAnomalies[j]);
            double outscore = normalScores.Sum(s => s < scores[clip] ? 1.0 : s == scores[clip] ? 0.5 : 0.0) / normalScores.Length;
            (nearestOtherAnomaly > nearestNormalCosine[clip] ? withinReach : outOfReach).Add(outscore);
        }
        return new LabelHeadroom(machine.Name, anomalies.Length, withinReach.Count,
            withinReach.Count > 0 ? withinReach.Average() : double.NaN, outOfReach.Count > 0 ? outOfReach.Average() : double.NaN);
    }
}
