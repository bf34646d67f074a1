using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Core.Tests.Experiments;

public class LabelHeadroomTests
{
    // Normals lie on a small cone around (1, 0, 0); angles in radians off that axis, at spread-out azimuths.
    private static float[] Around(double x, double y, double z, double angle, double azimuth)
    {
        var axis = new[] { x, y, z };
        double norm = Math.Sqrt(x * x + y * y + z * z);
        for (int i = 0; i < 3; i++) axis[i] /= norm;
        // two unit vectors perpendicular to the axis
        var u = Math.Abs(axis[0]) < 0.9 ? Cross(axis, [1, 0, 0]) : Cross(axis, [0, 1, 0]);
        var v = Cross(axis, u);
        return Enumerable.Range(0, 3).Select(i => (float)(Math.Cos(angle) * axis[i] + Math.Sin(angle) * (Math.Cos(azimuth) * u[i] + Math.Sin(azimuth) * v[i]))).ToArray();
    }

    private static double[] Cross(double[] a, double[] b)
    {
        var c = new[] { a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0] };
        double n = Math.Sqrt(c.Sum(t => t * t));
        return c.Select(t => t / n).ToArray();
    }

    private static EmbeddingTable Table(IEnumerable<float[]> anomalies)
    {
        var records = new List<EmbeddingRecord>();
        int file = 0;
        void Add(bool test, bool target, bool anomaly, float[] e) => records.Add(new EmbeddingRecord("m1", test, target, anomaly, $"clip_{file++:D3}.wav", e));
        for (int k = 0; k < 24; k++) Add(false, k >= 20, false, Around(1, 0, 0, 0.05 + 0.004 * k, 2.4 * k));
        for (int k = 0; k < 20; k++) Add(true, k >= 10, false, Around(1, 0, 0, 0.06 + 0.004 * k, 2.4 * k + 1.1));
        int a = 0;
        foreach (var e in anomalies) Add(true, a++ % 2 == 1, true, e);
        return new EmbeddingTable(records, 3);
    }

    private static LabelHeadroom Measure(EmbeddingTable table)
    {
        var settings = new ExperimentSettings { Strategies = [QueryStrategyKind.None], Budgets = [0], Trials = 1, Method = MachineConfig.Default };
        return Assert.Single(LabelHeadroomAnalysis.Measure(PrequentialExperiment.Plan(table, settings), settings));
    }

    [Fact]
    public void A_tight_group_far_from_the_normals_is_within_reach_and_already_on_top()
    {
        // six anomalies close together around (0, 1, 0); four subtle ones inside the normal cone, far apart from each other
        var group = Enumerable.Range(0, 6).Select(k => Around(0, 1, 0, 0.02, k));
        var subtle = new[] { Around(1, 0, 0, 0.08, 0), Around(1, 0, 0, 0.08, Math.PI / 2), Around(1, 0, 0, 0.08, Math.PI), Around(1, 0, 0, 0.08, 3 * Math.PI / 2) };

        var headroom = Measure(Table(group.Concat(subtle)));

        Assert.Equal(10, headroom.Anomalies);
        Assert.Equal(6, headroom.WithinReach);
        Assert.Equal(1.0, headroom.WithinReachOutscore);
        Assert.InRange(headroom.OutOfReachOutscore, 0.5, 0.999);
    }

    [Fact]
    public void A_tight_group_just_off_the_normals_is_within_reach_and_still_to_be_found()
    {
        // a group hugging the normal cone: its members are nearer each other than any normal, yet scored like normals
        var group = Enumerable.Range(0, 6).Select(k => Around(1, 0.14, 0, 0.005, k));

        var headroom = Measure(Table(group));

        Assert.Equal(6, headroom.WithinReach);
        Assert.True(headroom.WithinReachOutscore < 1.0, $"outscores {headroom.WithinReachOutscore}");
        Assert.True(double.IsNaN(headroom.OutOfReachOutscore));
    }

    [Fact]
    public void Anomalies_each_nearer_a_normal_than_any_other_anomaly_are_out_of_reach()
    {
        var scattered = new[] { Around(1, 0, 0, 0.2, 0), Around(1, 0, 0, 0.2, Math.PI), Around(0, 1, 0, 0, 0), Around(0, -1, 0, 0, 0) };

        var headroom = Measure(Table(scattered));

        Assert.Equal(0, headroom.WithinReach);
        Assert.True(double.IsNaN(headroom.WithinReachOutscore));
        Assert.InRange(headroom.OutOfReachOutscore, 0.75, 1.0); // two far away, two subtle
    }
}
