using AsdOrleans.Method.Randomness;
using AsdOrleans.Method.Scoring;

namespace AsdOrleans.Core.Tests.Scoring;

public class ScoringTests
{
    private static double NaiveCosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++) { dot += (double)a[i] * b[i]; na += (double)a[i] * a[i]; nb += (double)b[i] * b[i]; }
        return dot / Math.Sqrt(na * nb);
    }

    [Fact]
    public void A_vector_shorter_than_a_float_can_invert_still_normalises_to_unit_length()
    {
        // 1/|v| overflows a float below about 3e-39; such a vector still has a direction.
        var tiny = EmbeddingMath.Normalized([1e-45f, 0f]);
        Assert.Equal([1f, 0f], tiny);
        var diagonal = EmbeddingMath.Normalized([2e-39f, 2e-39f]);
        Assert.All(diagonal, v => Assert.Equal(Math.Sqrt(0.5), v, 1e-6));
    }

    [Fact]
    public void A_set_refuses_a_row_that_is_not_finite_and_stays_as_it_was()
    {
        var set = new EmbeddingSet(2);
        set.AddNormalized([1f, 0f]);
        Assert.Throws<ArgumentException>(() => set.AddNormalized([float.PositiveInfinity, 0f]));
        Assert.Throws<ArgumentException>(() => set.AddNormalized([float.NaN, 1f]));
        Assert.Throws<ArgumentException>(() => set.Replace(0, [float.NaN, 0f]));
        Assert.Throws<ArgumentException>(() => set.Merge(0, [float.NegativeInfinity, 0f], weight: 1));
        Assert.Equal(1, set.Count);
        Assert.Equal([1f, 0f], set.Row(0).ToArray());
    }

    private static EmbeddingSet SetOf(IEnumerable<float[]> rows, int dimension)
    {
        var set = new EmbeddingSet(dimension);
        foreach (var r in rows) set.AddNormalized(EmbeddingMath.Normalized(r));
        return set;
    }

    [Theory]
    [InlineData(128, 42)]
    [InlineData(128, 1000)]
    [InlineData(16, 7)]
    [InlineData(13, 9)]   // not a multiple of any vector width: the fallback path
    [InlineData(8, 5)]
    public void Equations_1_to_3_match_a_naive_double_implementation(int dimension, int rows)
    {
        var random = RandomState.FromSeed(1);
        var normals = Enumerable.Range(0, rows).Select(_ => TestData.RandomVector(ref random, dimension)).ToList();
        var anomalies = Enumerable.Range(0, 5).Select(_ => TestData.RandomVector(ref random, dimension)).ToList();
        var n = SetOf(normals, dimension);
        var a = SetOf(anomalies, dimension);
        for (int trial = 0; trial < 20; trial++)
        {
            var x = TestData.RandomVector(ref random, dimension);
            var xn = EmbeddingMath.Normalized(x);
            double distance = 1 - normals.Max(e => NaiveCosine(x, e));
            double similarity = anomalies.Max(e => NaiveCosine(x, e));
            Assert.Equal(distance, AnomalyScore.DistanceToReference(n, xn), 1e-5);
            Assert.Equal(similarity, AnomalyScore.SimilarityToAnomalies(a, xn), 1e-5);
            Assert.Equal(0.7 * distance + 0.3 * similarity, AnomalyScore.Combined(n, a, xn, 0.3), 1e-5);
            Assert.Equal(distance, AnomalyScore.Combined(n, new EmbeddingSet(dimension), xn, 0.3), 1e-5);
        }
    }

    [Fact]
    public void A_rows_cosine_does_not_depend_on_its_position_in_the_set()
    {
        var random = RandomState.FromSeed(2);
        var query = EmbeddingMath.Normalized(TestData.RandomVector(ref random, 128));
        var first = EmbeddingMath.Normalized(TestData.RandomVector(ref random, 128));
        var set = new EmbeddingSet(128);
        set.AddNormalized(first);
        var expected = new float[1];
        set.Cosines(query, expected);
        for (int size = 2; size <= 9; size++)
        {
            set.AddNormalized(EmbeddingMath.Normalized(TestData.RandomVector(ref random, 128)));
            var all = new float[size];
            set.Cosines(query, all);
            Assert.Equal(expected[0], all[0]); // bit-identical whether in a 4-row block or the remainder
        }
    }

    [Fact]
    public void Max_cosine_over_more_rows_than_one_chunk_finds_the_best()
    {
        var random = RandomState.FromSeed(3);
        var query = TestData.RandomVector(ref random, 32);
        var rows = Enumerable.Range(0, 700).Select(_ => TestData.RandomVector(ref random, 32)).ToList();
        rows[613] = query.Select(v => v * 2).ToArray(); // the same direction: cosine 1
        var set = SetOf(rows, 32);
        Assert.Equal(1.0, set.MaxCosine(EmbeddingMath.Normalized(query)), 1e-6);
    }

    [Fact]
    public void Normalize_rejects_non_finite_and_zero_vectors()
    {
        Assert.Contains("component 1", Assert.Throws<ArgumentException>(() => EmbeddingMath.Normalized([1f, float.NaN, 2f])).Message);
        Assert.Contains("component 0", Assert.Throws<ArgumentException>(() => EmbeddingMath.Normalized([float.PositiveInfinity, 1f])).Message);
        Assert.Contains("no direction", Assert.Throws<ArgumentException>(() => EmbeddingMath.Normalized([0f, 0f, 0f])).Message);
        var tiny = EmbeddingMath.Normalized([1e-30f, 1e-30f]); // float squares underflow; the double path still normalises
        Assert.Equal(1.0, Math.Sqrt(tiny.Sum(v => (double)v * v)), 1e-6);
        var huge = EmbeddingMath.Normalized([3e30f, 4e30f]);
        Assert.Equal(0.6, huge[0], 1e-6);
    }

    [Fact]
    public void Scoring_an_empty_reference_set_is_a_clear_error()
    {
        var e = Assert.Throws<InvalidOperationException>(() => AnomalyScore.DistanceToReference(new EmbeddingSet(4), [1f, 0, 0, 0]));
        Assert.Contains("enroll", e.Message);
    }

    [Fact]
    public void Dimension_mismatch_is_rejected()
    {
        var set = new EmbeddingSet(4);
        Assert.Throws<ArgumentException>(() => set.AddNormalized([1f, 0, 0]));
        set.AddNormalized([1f, 0, 0, 0]);
        Assert.Throws<ArgumentException>(() => set.MaxCosine([1f, 0, 0]));
    }

    [Fact]
    public void A_set_grows_by_doubling_up_to_its_growth_limit_and_past_it_only_when_asked_to()
    {
        var set = new EmbeddingSet(dimension: 2) { GrowthLimit = 10 };
        for (int i = 0; i < 10; i++)
            set.AddNormalized([1f, 0f]);
        Assert.Equal(10, set.CapacityRows); // 4, 8, then the limit instead of 16
        set.AddNormalized([0f, 1f]); // beyond the limit (a set enrolled above its cap): doubling again
        Assert.Equal(20, set.CapacityRows);
        Assert.Equal(11, set.Count);
        var unlimited = new EmbeddingSet(dimension: 2);
        for (int i = 0; i < 10; i++)
            unlimited.AddNormalized([1f, 0f]);
        Assert.Equal(16, unlimited.CapacityRows);
    }
}
