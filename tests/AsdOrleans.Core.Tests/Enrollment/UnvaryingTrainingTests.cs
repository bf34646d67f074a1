using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Enrollment;
using AsdOrleans.Method.Machines;

namespace AsdOrleans.Core.Tests.Enrollment;

/// <summary>
/// Training clips that do not vary are refused where the statistics are fitted (the standardiser, the whitener, the
/// enrollment's direction check), with one message the grain and the experiment harness both pass on; constant dimensions
/// beside varying ones are not degenerate.
/// </summary>
public class UnvaryingTrainingTests
{
    private static readonly float[] Clip = [0.5f, -1.25f, 3f, 0.1f];
    private static List<float[]> Copies(int count) => Enumerable.Range(0, count).Select(_ => (float[])Clip.Clone()).ToList();

    [Fact]
    public void Copies_of_one_clip_are_refused_by_the_standardiser_and_the_whitener()
    {
        var standardise = Assert.Throws<UnvaryingTrainingException>(() => FeatureStandardizer.Fit(Copies(5)));
        Assert.Equal("its 5 training clips do not vary (each value is the same in all of them: copies of one recording), so there is nothing "
            + "to standardise them on; " + UnvaryingTrainingException.Remedy, standardise.Message);

        var whiten = Assert.Throws<UnvaryingTrainingException>(() => FeatureWhitener.Fit(Copies(5), [false, false, false, false, false]));
        Assert.Equal("its 5 source-domain training clips do not vary (copies of one recording), so there is nothing to whiten them on; "
            + UnvaryingTrainingException.Remedy, whiten.Message);
        // The whitener works within each domain: one copied recording per domain leaves it nothing either.
        var other = Clip.Select(v => v + 1).ToArray();
        var perDomain = Assert.Throws<UnvaryingTrainingException>(() => FeatureWhitener.Fit([.. Copies(3), other, other], [false, false, false, true, true]));
        Assert.Equal("its 5 training clips do not vary within their domain (the 3 source-domain clips are copies of one recording and the 2 "
            + "target-domain clips are copies of one recording), so there is nothing to whiten them on; " + UnvaryingTrainingException.Remedy, perDomain.Message);
        // One clip per domain is not a copy: the refusal says a domain needs two.
        var lone = Assert.Throws<UnvaryingTrainingException>(() => FeatureWhitener.Fit([Clip, other], [false, true]));
        Assert.Equal("its 2 training clips do not vary within their domain (the source domain has one clip and the target domain has one clip), so there is "
            + "nothing to whiten them on (a domain needs two distinct clips for that); " + UnvaryingTrainingException.Remedy, lone.Message);
        Assert.Throws<UnvaryingTrainingException>(() => HeldOutWhitening.Fit(Copies(4).Select(c => new EnrollmentClip(c, false)).ToList()));
    }

    [Fact]
    public void Constant_dimensions_and_a_copied_domain_beside_varying_clips_are_fitted()
    {
        // Dimension 1 never varies; the target clips are copies of one recording, the source clips vary.
        List<float[]> rows = [[1f, 7f, 2f], [2f, 7f, 5f], [4f, 7f, 3f], [9f, 7f, 9f], [9f, 7f, 9f]];
        var domains = new[] { false, false, false, true, true };
        var standardizer = FeatureStandardizer.Fit(rows);
        Assert.Equal(1.0, standardizer.Scale[1]);
        var whitener = FeatureWhitener.Fit(rows, domains);
        Assert.All(rows, r => Assert.All(whitener.Transform(r), v => Assert.True(float.IsFinite(v))));
        var model = MachineModel.Enroll(MachineConfig.Default, rows.Select((r, i) => new EnrollmentClip(standardizer.Transform(r), domains[i])).ToList());
        Assert.True(model.DecisionThreshold > 0);
    }

    [Fact]
    public void A_held_out_fold_left_without_spread_gives_no_distances_rather_than_failing()
    {
        // Left out, the third clip leaves two copies to fit on: that fold has nothing to whiten by, the whole set has.
        var raw = new List<EnrollmentClip> { new([1f, 2f, 3f], false), new([1f, 2f, 3f], false), new([2f, 0f, 3f], false) };
        var (_, clips) = HeldOutWhitening.Fit(raw);
        Assert.Equal(3, clips.Count);
        Assert.Null(clips[2].HeldOutDistance);
        Assert.NotNull(clips[0].HeldOutDistance);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(40)] // more than the 32 source clusters: N holds k-means centres of the copies
    public void Copies_of_one_direction_are_refused_by_enrollment_where_no_transform_is_fitted(int count)
    {
        var clips = Copies(count).Select((c, i) => new EnrollmentClip(i % 2 == 0 ? c : c.Select(v => 2 * v).ToArray(), false)).ToList();
        var error = Assert.Throws<UnvaryingTrainingException>(() => MachineModel.Enroll(MachineConfig.Default, clips));
        Assert.StartsWith($"its {count} training clips do not vary in direction (copies of one recording)", error.Message);
        Assert.EndsWith(UnvaryingTrainingException.Remedy, error.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_harness_refuses_a_machine_whose_training_clips_are_copies_naming_it(bool whiten)
    {
        var records = new List<EmbeddingRecord>
        {
            new("fan-01", false, false, false, "a1.wav", [1f, 10f, 3f]),
            new("fan-01", false, false, false, "a2.wav", [3f, 30f, 2f]),
            new("fan-01", false, false, false, "a3.wav", [2f, 20f, 1f]),
            new("fan-01", true, false, false, "a4.wav", [5f, 1f, 1f]),
        };
        records.AddRange(Enumerable.Range(0, 4).Select(i => new EmbeddingRecord("pump-02", false, i == 3, false, $"b{i}.wav", [4f, 4f, 1f])));
        records.Add(new EmbeddingRecord("pump-02", true, false, false, "b9.wav", [1f, 2f, 3f])); // a test clip never enters the fit
        var table = new EmbeddingTable(records, 3);
        var error = Assert.Throws<InvalidDataException>(() => whiten ? EmbeddingStandardization.WhitenedPerMachine(table) : EmbeddingStandardization.PerMachine(table));
        Assert.StartsWith("machine 'pump-02': its 4 training clips do not vary", error.Message);
        Assert.EndsWith(UnvaryingTrainingException.Remedy, error.Message);

        var tooFew = new EmbeddingTable(records.Where(r => r.Machine == "fan-01" && (r.IsTest || r.File == "a1.wav")).ToList(), 3);
        var single = Assert.Throws<InvalidDataException>(() => whiten ? EmbeddingStandardization.WhitenedPerMachine(tooFew) : EmbeddingStandardization.PerMachine(tooFew));
        Assert.Equal($"machine 'fan-01': {MachineEnrollment.TooFewClips(1)}", single.Message);
    }

    [Fact]
    public void The_harness_refuses_a_machine_whose_enrollment_has_one_direction_naming_it()
    {
        var machine = new PreparedMachine("valve-03", Copies(3).Select(c => new EnrollmentClip(c, false)).ToList(), []);
        var error = Assert.Throws<InvalidDataException>(() => machine.EnrollmentFor(MachineConfig.Default));
        Assert.StartsWith("machine 'valve-03': its 3 training clips do not vary in direction (copies of one recording)", error.Message);
        Assert.EndsWith(UnvaryingTrainingException.Remedy, error.Message);
    }
}
