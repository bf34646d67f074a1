using AsdOrleans.Method.Enrollment;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Scoring;

namespace AsdOrleans.Core.Tests.Enrollment;

public class HeldOutWhiteningTests
{
    /// <summary>A machine like a default plant's, small: 60 source and 6 target clips of 40 features, the target shifted.</summary>
    private static List<EnrollmentClip> RawClips(int source = 60, int target = 6, int dimension = 64, int seed = 7)
    {
        var random = new Random(seed);
        var clips = new List<EnrollmentClip>();
        for (int i = 0; i < source + target; i++)
        {
            bool isTarget = i >= source;
            // Neighbouring features move together (a random walk across them), as neighbouring log-mel bands do: the
            // covariance is far from a multiple of I, so little is shrunk and the fit follows its clips closely.
            var x = new float[dimension];
            double walk = 0;
            for (int j = 0; j < dimension; j++)
            {
                walk += Gaussian(random);
                x[j] = (float)(walk + 0.05 * Gaussian(random) + (isTarget && j < 4 ? 3 : 0));
            }
            clips.Add(new EnrollmentClip(x, isTarget));
        }
        return clips;
    }

    private static double Gaussian(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    [Fact]
    public void EachDistanceComesFromAWhitenerFittedWithoutTheClipsFold()
    {
        var raw = RawClips();
        var distances = HeldOutWhitening.Distances(raw.Select(c => c.Embedding).ToList(), raw.Select(c => c.IsTargetDomain).ToList());
        // Fold 3 by hand: the 4th, 14th, … source clip and the 4th target clip (each domain dealt round-robin).
        var held = new[] { 3, 13, 23, 33, 43, 53, 63 };
        var fit = Enumerable.Range(0, raw.Count).Except(held).ToList();
        var whitener = FeatureWhitener.Fit(fit.Select(i => raw[i].Embedding).ToList(), fit.Select(i => raw[i].IsTargetDomain).ToList());
        var rows = fit.Select(i => EmbeddingMath.Normalized(whitener.Transform(raw[i].Embedding))).ToList();
        foreach (int i in held)
        {
            var z = EmbeddingMath.Normalized(whitener.Transform(raw[i].Embedding));
            double expected = rows.Min(r => 1.0 - r.Zip(z, (a, b) => (double)a * b).Sum());
            Assert.Equal(expected, distances[i]!.Value, 5);
        }
        Assert.All(distances, d => Assert.True(d is > 0));
    }

    [Fact]
    public void HeldOutDistancesTellWhereNewNormalsLandBetterThanInSampleOnes()
    {
        // The whitener is fitted on the training clips, so their distances to each other are not those of a new clip; the
        // held-out ones are (decisions.md, cross-fitted domain scales). New normals from the same machine settle it.
        var raw = RawClips();
        var (whitener, clips) = HeldOutWhitening.Fit(raw);
        var normalised = clips.Select(c => EmbeddingMath.Normalized(c.Embedding)).ToList();
        double Nearest(float[] z, int except) => normalised.Where((_, k) => k != except).Min(r => 1.0 - r.Zip(z, (a, b) => (double)a * b).Sum());
        double inSample = Enumerable.Range(0, clips.Count).Where(i => !clips[i].IsTargetDomain).Average(i => Nearest(normalised[i], i));
        double heldOut = clips.Where(c => !c.IsTargetDomain).Average(c => c.HeldOutDistance!.Value);
        double fresh = RawClips(source: 200, target: 0, seed: 8).Average(c => Nearest(EmbeddingMath.Normalized(whitener.Transform(c.Embedding)), -1));
        Assert.True(Math.Abs(heldOut - fresh) < 0.5 * Math.Abs(inSample - fresh),
            $"new normals {fresh:F4}: held-out {heldOut:F4}, in-sample {inSample:F4}");
    }

    [Fact]
    public void TooFewClipsToCrossFitGiveNoDistancesAndTheInSampleScales()
    {
        var raw = RawClips(source: 2, target: 0);
        var (_, clips) = HeldOutWhitening.Fit(raw);
        Assert.All(clips, c => Assert.Null(c.HeldOutDistance));
        Assert.False(MachineEnrollment.Build(clips, sourceClusters: 512, seed: 1).HasHeldOutDistances);
    }

    [Fact]
    public void DomainScalesAreTheGeometricMeanOfInSampleAndHeldOutDistances()
    {
        var (_, clips) = HeldOutWhitening.Fit(RawClips());
        var withHeldOut = MachineEnrollment.Build(clips, sourceClusters: 512, seed: 1);
        var inSampleOnly = MachineEnrollment.Build(clips.Select(c => c with { HeldOutDistance = null }).ToList(), sourceClusters: 512, seed: 1);
        Assert.True(withHeldOut.HasHeldOutDistances);
        var scales = withHeldOut.ReferenceScales(ScoringKind.Domain);
        var inSample = inSampleOnly.ReferenceScales(ScoringKind.Domain);
        for (int domain = 0; domain < 2; domain++)
        {
            bool target = domain == 1;
            double heldOut = clips.Where(c => c.IsTargetDomain == target).Average(c => c.HeldOutDistance!.Value);
            int row = target ? withHeldOut.ReferenceSet.Count - 1 : 0;
            Assert.Equal(Math.Sqrt(inSample[row] * heldOut), scales[row], 5);
        }
        // Other scorings keep the in-sample scales.
        Assert.Equal(inSampleOnly.ReferenceScales(ScoringKind.Local), withHeldOut.ReferenceScales(ScoringKind.Local));
    }

    [Fact]
    public void EnrollmentScoresAreHeldOutScoresSoThresholdsMatchNewNormals()
    {
        var (_, clips) = HeldOutWhitening.Fit(RawClips());
        var config = MachineConfig.Default;
        var model = MachineModel.Enroll(config, clips);
        var enrollment = MachineEnrollment.Build(clips, config.SourceClustersFor(clips.Count(c => c.IsTargetDomain)), MachineModel.EnrollmentSeed(config));
        var scales = enrollment.ReferenceScales(ScoringKind.Domain);
        var expected = clips.Select(c => c.HeldOutDistance!.Value / (c.IsTargetDomain ? scales[^1] : scales[0])).ToList();
        Assert.Equal(ScoreQuantiles.EmpiricalQuantile(expected, config.LabellingQuantile), model.LabellingThreshold, 6);
    }

    [Theory]
    [InlineData(ScoringKind.Margin)]
    [InlineData(ScoringKind.Local)]
    public void MarginAndLocalTakeMFromHeldOutDistancesToo(ScoringKind scoring)
    {
        // In-sample distances in a space whitened on the clips put φ and h below every new clip's score on a plant's
        // spectral features (every clip an alert); each clip's held-out distance, over its nearest row's scale, does not.
        var (_, clips) = HeldOutWhitening.Fit(RawClips());
        var config = MachineConfig.Default with { Scoring = scoring };
        var model = MachineModel.Enroll(config, clips);
        var enrollment = MachineEnrollment.Build(clips, config.SourceClustersFor(clips.Count(c => c.IsTargetDomain)), MachineModel.EnrollmentSeed(config));
        var scales = enrollment.ReferenceScales(scoring);
        var cosines = new float[enrollment.ReferenceSet.Count];
        var expected = clips.Select((c, i) =>
        {
            var (_, nearest) = ScaledScore.Distance(enrollment.ReferenceSet, scales, enrollment.TrainingNormals.Row(i), cosines, excluded: enrollment.OwnReference(i));
            return c.HeldOutDistance!.Value / (scales.Length == 0 ? 1 : scales[nearest]);
        }).ToList();
        Assert.Equal(ScoreQuantiles.EmpiricalQuantile(expected, config.LabellingQuantile), model.LabellingThreshold, 6);
        Assert.Equal(ScoreQuantiles.GammaFitQuantile(expected, config.DecisionQuantile), model.DecisionThreshold, 6);
    }
}
