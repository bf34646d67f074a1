using AsdOrleans.Method.Enrollment;
using AsdOrleans.Method.Randomness;
using AsdOrleans.Method.Scoring;

namespace AsdOrleans.Core.Tests.Enrollment;

public class EnrollmentTests
{
    [Fact]
    public void KMeans_recovers_well_separated_clusters_and_is_seeded()
    {
        var random = RandomState.FromSeed(11);
        var centres = new[] { new[] { 10f, 0, 0 }, new[] { 0f, 10, 0 }, new[] { 0f, 0, 10 } };
        var points = new List<float>();
        for (int i = 0; i < 300; i++)
            foreach (var v in centres[i % 3]) points.Add(v + (float)(0.3 * random.NextGaussian()));
        var found = KMeans.Fit(points.ToArray(), 3, 3, seed: 4);
        foreach (var centre in centres)
        {
            double nearest = Enumerable.Range(0, 3).Min(c =>
                Math.Sqrt(Enumerable.Range(0, 3).Sum(j => Math.Pow(found[c * 3 + j] - centre[j], 2))));
            Assert.True(nearest < 0.2, $"no centre near ({string.Join(",", centre)}): {nearest}");
        }
        Assert.Equal(found, KMeans.Fit(points.ToArray(), 3, 3, seed: 4));
        Assert.Throws<ArgumentException>(() => KMeans.Fit(points.ToArray().AsSpan(0, 6), 3, 3, seed: 4));
    }

    [Fact]
    public void An_enrollment_of_one_clip_is_refused_because_its_threshold_would_be_zero()
    {
        var (train, _) = TestData.Machine(sourceTrain: 10);
        var error = Assert.Throws<ArgumentException>(() => AsdOrleans.Method.Machines.MachineModel.Enroll(AsdOrleans.Method.Machines.MachineConfig.Default, [train[0]]));
        Assert.Contains("at least 2 training clips (got 1)", error.Message);
        var two = AsdOrleans.Method.Machines.MachineModel.Enroll(AsdOrleans.Method.Machines.MachineConfig.Default, [train[0], train[1]]);
        Assert.True(two.DecisionThreshold > 0, $"φ = {two.DecisionThreshold}");
        // Copies of one clip (or of one direction) are one clip, whatever their number.
        var same = Assert.Throws<UnvaryingTrainingException>(() => AsdOrleans.Method.Machines.MachineModel.Enroll(AsdOrleans.Method.Machines.MachineConfig.Default,
            [train[0], train[0] with { }, new(train[0].Embedding.Select(v => 2 * v).ToArray(), train[0].IsTargetDomain)]));
        Assert.Contains("do not vary in direction", same.Message);
    }

    [Fact]
    public void Reference_set_is_32_centres_plus_10_target_clips_normalised()
    {
        var (train, _) = TestData.Machine(sourceTrain: 990);
        Assert.Equal(1000, train.Count);
        var set = ReferenceSetBuilder.Build(train, 32, seed: 1);
        Assert.Equal(42, set.Count);
        for (int i = 0; i < set.Count; i++)
        {
            var row = set.Row(i);
            double norm = Math.Sqrt(row.ToArray().Sum(v => (double)v * v));
            Assert.Equal(1.0, norm, 1e-5);
        }
        // The last ten rows are the target clips themselves.
        var targets = train.Where(c => c.IsTargetDomain).Select(c => EmbeddingMath.Normalized(c.Embedding)).ToList();
        for (int i = 0; i < 10; i++)
            Assert.Equal(targets[i], set.Row(32 + i).ToArray());
        Assert.Equal(set.ToSingleArray(), ReferenceSetBuilder.Build(train, 32, seed: 1).ToSingleArray());
    }

    [Fact]
    public void Fewer_source_clips_than_centres_keeps_the_clips()
    {
        var (train, _) = TestData.Machine(sourceTrain: 20);
        var set = ReferenceSetBuilder.Build(train, 32, seed: 1);
        Assert.Equal(20 + 10, set.Count);
    }

    [Fact]
    public void Enrollment_scores_and_thresholds()
    {
        var (train, _) = TestData.Machine();
        var enrollment = MachineEnrollment.Build(train, 32, seed: 3);
        Assert.Equal(train.Count, enrollment.NormalScores.Count);
        Assert.All(enrollment.NormalScores, s => Assert.InRange(s, -1e-6, 2));
        double h = ScoreQuantiles.EmpiricalQuantile(enrollment.NormalScores, 0.9);
        double sorted90 = enrollment.NormalScores.Order().ElementAt((int)(0.9 * (train.Count - 1)));
        Assert.InRange(h, sorted90 - 1e-3, sorted90 + 0.05);
        double phi = ScoreQuantiles.GammaFitQuantile(enrollment.NormalScores, 0.9);
        Assert.True(phi > enrollment.NormalScores.Average(), "φ is the 90th percentile of the fit, above the mean");
        Assert.Throws<ArgumentException>(() => MachineEnrollment.Build([], 32, 1));
    }

    [Fact]
    public void Gamma_fit_reproduces_a_known_gamma_quantile()
    {
        // Moments of Gamma(shape 4, rate 20) are mean 0.2 and variance 0.01; its 0.9 quantile is 0.3994…
        var random = RandomState.FromSeed(9);
        var samples = Enumerable.Range(0, 200_000).Select(_ =>
        {
            double sum = 0;
            for (int k = 0; k < 4; k++) sum += -Math.Log(1 - random.NextDouble()) / 20; // sum of 4 exponentials
            return sum;
        }).ToList();
        double expected = MathNet.Numerics.Distributions.Gamma.InvCDF(4, 20, 0.9);
        Assert.Equal(expected, ScoreQuantiles.GammaFitQuantile(samples, 0.9), 3e-3);
    }

    [Fact]
    public void Linear_quantile_matches_numpy()
    {
        // numpy.quantile([1, 2, 3, 4], 0.9) == 3.7
        Assert.Equal(3.7, ScoreQuantiles.EmpiricalQuantile([4.0, 1, 3, 2], 0.9), 12);
    }
}
