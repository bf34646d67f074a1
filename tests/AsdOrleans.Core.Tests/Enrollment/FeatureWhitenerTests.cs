using AsdOrleans.Method.Enrollment;
using MathNet.Numerics.LinearAlgebra;

namespace AsdOrleans.Core.Tests.Enrollment;

public class FeatureWhitenerTests
{
    // Twelve rows of four correlated features; the expected values are scikit-learn 1.2's LedoitWolf().fit(X).
    private static readonly double[][] Rows =
    [
        [4.082, -1.535, -0.558, -0.072], [-0.905, -0.442, -1.075, -0.248], [-1.73, 2.89, 1.11, -0.048], [-0.563, -0.809, -0.728, -0.184],
        [0.964, 0.002, 0.407, 0.056], [0.049, 1.558, 0.736, -0.047], [-0.366, 0.449, 1.13, 0.14], [-0.487, 0.881, -0.143, -0.147],
        [1.765, 1.022, 0.22, 0.143], [-5.656, -0.393, -0.173, -0.43], [0.553, 0.839, -0.012, -0.26], [0.052, -0.04, 0.687, 0.29],
    ];

    [Fact]
    public void LedoitWolfMatchesScikitLearn()
    {
        var x = Matrix<double>.Build.DenseOfRowArrays(Rows);
        var mean = x.ColumnSums() / x.RowCount;
        var centred = Matrix<double>.Build.Dense(x.RowCount, x.ColumnCount, (i, j) => x[i, j] - mean[j]);
        var (covariance, shrinkage) = FeatureWhitener.LedoitWolf(centred);
        Assert.Equal(0.5900280335817729, shrinkage, 10);
        double[,] expected =
        {
            { 2.913535190776, -0.191679044794, -0.035389047762, 0.088629055027 },
            { -0.191679044794, 1.483710583354, 0.216011957178, 0.016169516424 },
            { -0.035389047762, 0.216011957178, 1.153422200384, 0.033164554107 },
            { 0.088629055027, 0.016169516424, 0.033164554107, 0.978554511597 },
        };
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                Assert.Equal(expected[i, j], covariance[i, j], 9);
    }

    [Fact]
    public void WhitenedClipsOfOneDomainHaveTheShrunkCovarianceAsIdentity()
    {
        var training = Rows.Select(r => r.Select(v => (float)v).ToArray()).ToList();
        var whitener = FeatureWhitener.Fit(training, training.Select(_ => false).ToList());
        // Wᵀ·C·W = I for the shrunk covariance C: check it through C = Wᵀ⁻¹W⁻¹ by whitening C's defining sample.
        var x = Matrix<double>.Build.DenseOfRowArrays(Rows);
        var mean = x.ColumnSums() / x.RowCount;
        var centred = Matrix<double>.Build.Dense(x.RowCount, x.ColumnCount, (i, j) => x[i, j] - mean[j]);
        var (covariance, _) = FeatureWhitener.LedoitWolf(centred);
        var w = Matrix<double>.Build.Dense(4, 4, (j, k) => Column(whitener, j)[k]);
        var identity = w.Transpose() * covariance * w;
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                Assert.Equal(i == j ? 1 : 0, identity[i, j], 5);
        // One domain: centred at its mean, so the mean clip maps to the origin.
        var z = whitener.Transform(mean.Select(v => (float)v).ToArray());
        Assert.All(z, v => Assert.Equal(0, v, 4));
    }

    /// <summary>Row j of W: the whitened image of the unit vector e_j, from Transform(c + e_j).</summary>
    private static float[] Column(FeatureWhitener whitener, int j)
    {
        var x = whitener.Centre.Select(v => (float)v).ToArray();
        var origin = whitener.Transform(x);
        x[j] += 1;
        var moved = whitener.Transform(x);
        return moved.Select((v, k) => v - origin[k]).ToArray();
    }

    [Fact]
    public void CentreIsTheMidpointOfTheDomainMeans()
    {
        var source = Enumerable.Range(0, 8).Select(i => new float[] { 10 + i % 3, 5 - i % 2, 1 }).ToList();
        var target = Enumerable.Range(0, 3).Select(i => new float[] { -4 + i, 7, 3 + i }).ToList();
        var whitener = FeatureWhitener.Fit([.. source, .. target], [.. source.Select(_ => false), .. target.Select(_ => true)]);
        double[] expected =
        [
            0.5 * (source.Average(r => r[0]) + target.Average(r => r[0])),
            0.5 * (source.Average(r => r[1]) + target.Average(r => r[1])),
            0.5 * (source.Average(r => r[2]) + target.Average(r => r[2])),
        ];
        for (int j = 0; j < 3; j++) Assert.Equal(expected[j], whitener.Centre[j], 9);
        // The two domain means land opposite each other, equally far from the origin.
        var a = whitener.Transform(Enumerable.Range(0, 3).Select(j => (float)source.Average(r => r[j])).ToArray());
        var b = whitener.Transform(Enumerable.Range(0, 3).Select(j => (float)target.Average(r => r[j])).ToArray());
        for (int k = 0; k < 3; k++) Assert.Equal(-a[k], b[k], 3);
    }

    [Fact]
    public void StoredFormRoundTripsExactlyAndBadBytesAreRefused()
    {
        var training = Rows.Select(r => r.Select(v => (float)v).ToArray()).ToList();
        var whitener = FeatureWhitener.Fit(training, training.Select((_, i) => i % 4 == 0).ToList());
        var bytes = whitener.ToBytes();
        var restored = Assert.IsType<FeatureWhitener>(FeatureTransforms.FromBytes(bytes));
        Assert.Equal(whitener.Shrinkage, restored.Shrinkage);
        foreach (var row in training)
            Assert.Equal(whitener.Transform(row), restored.Transform(row));
        Assert.Throws<InvalidDataException>(() => FeatureWhitener.FromBytes(bytes.AsSpan(0, bytes.Length - 1)));
        var standardizer = FeatureStandardizer.Fit(training);
        Assert.IsType<FeatureStandardizer>(FeatureTransforms.FromBytes(standardizer.ToBytes()));
    }

    [Fact]
    public void BadTrainingIsRefused()
    {
        Assert.Throws<ArgumentException>(() => FeatureWhitener.Fit([[1f, 2f]], [false]));
        Assert.Throws<ArgumentException>(() => FeatureWhitener.Fit([[1f, 2f], [1f]], [false, false]));
        Assert.Throws<ArgumentException>(() => FeatureWhitener.Fit([[1f, 2f], [1f, float.NaN]], [false, false]));
        Assert.Throws<ArgumentException>(() => FeatureWhitener.Fit([[1f, 2f], [3f, 4f]], [false]));
        // Identical clips: no spread to whiten by (UnvaryingTrainingTests has the message).
        Assert.Throws<UnvaryingTrainingException>(() => FeatureWhitener.Fit([[1f, 2f], [1f, 2f], [1f, 2f]], [false, false, true]));
        var whitener = FeatureWhitener.Fit([[1f, 2f], [1f, 3f], [1f, 2f]], [false, false, true]);
        Assert.All(whitener.Transform([3f, -1f]), v => Assert.True(float.IsFinite(v)));
        Assert.Throws<ArgumentException>(() => whitener.Transform([1f]));
    }

    [Theory]
    [InlineData(7, 12)]   // fewer clips than dimensions: the Gram route, rank ≤ n − 2
    [InlineData(40, 6)]   // more clips than dimensions: the covariance route, full rank
    public void The_low_rank_form_is_the_inverse_square_root_of_the_shrunk_covariance(int clips, int dimension)
    {
        var random = new Random(clips * 100 + dimension);
        var rows = Enumerable.Range(0, clips).Select(i => Enumerable.Range(0, dimension)
            .Select(j => (float)(random.NextDouble() * (1 + j % 3) + (i % 3 == 0 ? 4 : 0) + 0.3 * j)).ToArray()).ToList();
        var target = rows.Select((_, i) => i % 3 == 0).ToList();
        var whitener = FeatureWhitener.Fit(rows, target);

        // The reference: C^(−1/2) of the Ledoit–Wolf covariance of the within-domain residuals, from a full eigen-decomposition.
        var means = new[] { false, true }.Select(t => Enumerable.Range(0, dimension)
            .Select(j => rows.Where((_, i) => target[i] == t).Average(r => (double)r[j])).ToArray()).ToArray();
        var residuals = Matrix<double>.Build.Dense(clips, dimension, (i, j) => rows[i][j] - means[target[i] ? 1 : 0][j]);
        var (covariance, shrinkage) = FeatureWhitener.LedoitWolf(residuals);
        Assert.Equal(shrinkage, whitener.Shrinkage, 9);
        var evd = covariance.Evd(Symmetricity.Symmetric);
        var inverseRoot = evd.EigenVectors * Matrix<double>.Build.DiagonalOfDiagonalArray(evd.EigenValues.Select(v => 1 / Math.Sqrt(v.Real)).ToArray())
                          * evd.EigenVectors.Transpose();
        foreach (var row in rows.Take(4))
        {
            var centred = Vector<double>.Build.Dense(dimension, j => row[j] - whitener.Centre[j]);
            var expected = inverseRoot * centred;
            var actual = whitener.Transform(row);
            for (int j = 0; j < dimension; j++) Assert.Equal(expected[j], actual[j], 3);
        }
        Assert.True(whitener.Rank <= Math.Min(clips - 2, dimension));
        Assert.Equal(32 + 8 * (dimension + whitener.Rank) + 4 * dimension * whitener.Rank, whitener.ToBytes().Length);
    }
}
