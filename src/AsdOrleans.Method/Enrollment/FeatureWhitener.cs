using System.Buffers.Binary;
using MathNet.Numerics.LinearAlgebra;

namespace AsdOrleans.Method.Enrollment;

/// <summary>
/// Per-machine whitening of raw features, fitted on the machine's training clips: z = Wᵀ(x − c), where c is the
/// midpoint of the source-domain and target-domain means (the one domain's mean when only one has clips) and
/// W = V·Λ^(−1/2) from the eigen-decomposition V·Λ·Vᵀ of the within-domain covariance (each clip minus its own
/// domain's mean), shrunk towards a multiple of the identity by the Ledoit–Wolf estimate (Ledoit and Wolf 2004;
/// the formula of scikit-learn's <c>ledoit_wolf_shrinkage</c>). Cosine distance between whitened clips is then a
/// Mahalanobis-type distance: directions in which normal clips hardly vary weigh most, which is where faults show.
/// Centring at the midpoint keeps both domains equally far from the origin, so the cosine treats them alike
/// (docs/decisions.md, "Issue 11 — whitened spectral statistics"). Immutable and thread-safe once fitted.
/// </summary>
public sealed class FeatureWhitener : IFeatureTransform
{
    private readonly double[] _centre;
    /// <summary>W, row-major d × d: output k of input j is at <c>j * d + k</c>.</summary>
    private readonly float[] _weights;

    public FeatureWhitener(double[] centre, float[] weights, double shrinkage)
    {
        int d = centre.Length;
        if (d == 0 || weights.Length != (long)d * d)
            throw new ArgumentException($"a whitener of dimension {d} needs {d * d} weights, got {weights.Length}");
        if (!centre.All(double.IsFinite) || !weights.All(float.IsFinite) || !(shrinkage >= 0 && shrinkage <= 1))
            throw new ArgumentException("a whitener's centre and weights must be finite and its shrinkage in [0, 1]");
        _centre = centre;
        _weights = weights;
        Shrinkage = shrinkage;
    }

    public int Dimension => _centre.Length;
    /// <summary>The Ledoit–Wolf shrinkage the covariance was fitted with (0: the sample covariance, 1: a multiple of I).</summary>
    public double Shrinkage { get; }
    public IReadOnlyList<double> Centre => _centre;

    /// <summary>Fits the whitener on training rows (at least two, all of one dimension) and their domains.</summary>
    public static FeatureWhitener Fit(IReadOnlyList<float[]> training, IReadOnlyList<bool> isTargetDomain)
    {
        if (training.Count < 2) throw new ArgumentException("whitening needs at least two training clips", nameof(training));
        if (isTargetDomain.Count != training.Count) throw new ArgumentException("one domain flag per training clip is needed", nameof(isTargetDomain));
        int d = training[0].Length, n = training.Count;
        var means = new double[2][] { new double[d], new double[d] };
        var counts = new int[2];
        for (int i = 0; i < n; i++)
        {
            var row = training[i];
            if (row.Length != d) throw new ArgumentException($"training rows differ in dimension ({d} and {row.Length})", nameof(training));
            int k = isTargetDomain[i] ? 1 : 0;
            counts[k]++;
            for (int j = 0; j < d; j++)
            {
                if (!float.IsFinite(row[j])) throw new ArgumentException($"training clip {i}: value {j} is not a finite number", nameof(training));
                means[k][j] += row[j];
            }
        }
        for (int k = 0; k < 2; k++)
            for (int j = 0; j < d; j++) means[k][j] /= Math.Max(1, counts[k]);
        var centre = new double[d];
        for (int j = 0; j < d; j++)
            centre[j] = counts[0] == 0 ? means[1][j] : counts[1] == 0 ? means[0][j] : 0.5 * (means[0][j] + means[1][j]);

        var residuals = Matrix<double>.Build.Dense(n, d);
        for (int i = 0; i < n; i++)
        {
            var mean = means[isTargetDomain[i] ? 1 : 0];
            for (int j = 0; j < d; j++) residuals[i, j] = training[i][j] - mean[j];
        }
        var (covariance, shrinkage) = LedoitWolf(residuals);
        var evd = covariance.Evd(Symmetricity.Symmetric);
        var eigenvalues = evd.EigenValues.Select(v => v.Real).ToArray();
        // Without spread at all (e.g. identical clips) every direction counts alike; a tiny floor keeps 1/√λ finite.
        double largest = eigenvalues.Max();
        double floor = largest > 0 ? largest * 1e-9 : 1;
        var weights = new float[d * d];
        for (int k = 0; k < d; k++)
        {
            double inverseRoot = 1 / Math.Sqrt(Math.Max(eigenvalues[k], floor));
            for (int j = 0; j < d; j++)
                weights[j * d + k] = (float)(evd.EigenVectors[j, k] * inverseRoot);
        }
        return new FeatureWhitener(centre, weights, shrinkage);
    }

    /// <summary>
    /// The Ledoit–Wolf shrunk covariance (1 − s)·S + s·μ·I of centred rows, S = XᵀX / n, μ = tr(S) / d, with
    /// s = min(β, δ) / δ, δ = ‖S − μI‖²_F / d and β = (Σₖ‖xₖ‖⁴ / n − ‖S‖²_F) / (d·n).
    /// </summary>
    public static (Matrix<double> Covariance, double Shrinkage) LedoitWolf(Matrix<double> centred)
    {
        int n = centred.RowCount, d = centred.ColumnCount;
        var sample = centred.TransposeThisAndMultiply(centred) / n;
        double mu = sample.Trace() / d;
        double frobenius = 0;
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) frobenius += sample[i, j] * sample[i, j];
        double fourth = 0;
        for (int r = 0; r < n; r++)
        {
            double norm = 0;
            for (int j = 0; j < d; j++) norm += centred[r, j] * centred[r, j];
            fourth += norm * norm;
        }
        double delta = (frobenius - 2 * mu * sample.Trace() + d * mu * mu) / d;
        double beta = Math.Min((fourth / n - frobenius) / ((double)d * n), delta);
        double shrinkage = delta > 0 ? Math.Clamp(beta / delta, 0, 1) : 1;
        var shrunk = sample * (1 - shrinkage);
        for (int i = 0; i < d; i++) shrunk[i, i] += shrinkage * mu;
        return (shrunk, shrinkage);
    }

    public float[] Transform(ReadOnlySpan<float> x)
    {
        int d = Dimension;
        if (x.Length != d) throw new ArgumentException($"expected {d} values, got {x.Length}", nameof(x));
        var z = new double[d];
        for (int j = 0; j < d; j++)
        {
            double v = x[j] - _centre[j];
            var row = _weights.AsSpan(j * d, d);
            for (int k = 0; k < d; k++) z[k] += v * row[k];
        }
        var result = new float[d];
        for (int k = 0; k < d; k++) result[k] = (float)z[k];
        return result;
    }

    /// <summary>
    /// A bit-exact binary form for a machine's stored state: "FWHT", int32 version 1, int32 dimension, the shrinkage and
    /// the centre as little-endian doubles, then W as little-endian floats.
    /// </summary>
    public byte[] ToBytes()
    {
        int d = Dimension;
        var bytes = new byte[20 + 8 * d + 4 * d * d];
        "FWHT"u8.CopyTo(bytes);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4), 1);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), d);
        BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(12), Shrinkage);
        for (int j = 0; j < d; j++) BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(20 + 8 * j), _centre[j]);
        int offset = 20 + 8 * d;
        for (int i = 0; i < _weights.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(offset + 4 * i), _weights[i]);
        return bytes;
    }

    public static bool IsStoredForm(ReadOnlySpan<byte> bytes) => bytes.Length >= 4 && bytes[..4].SequenceEqual("FWHT"u8);

    /// <summary>Reads <see cref="ToBytes"/>'s form; anything else is refused.</summary>
    public static FeatureWhitener FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 20 || !IsStoredForm(bytes) || BinaryPrimitives.ReadInt32LittleEndian(bytes[4..]) != 1)
            throw new InvalidDataException("not a stored feature whitener (FWHT version 1)");
        int d = BinaryPrimitives.ReadInt32LittleEndian(bytes[8..]);
        if (d < 1 || d > 65_536 || bytes.Length != 20 + 8L * d + 4L * d * d)
            throw new InvalidDataException($"stored feature whitener: dimension {d} does not match {bytes.Length} bytes");
        double shrinkage = BinaryPrimitives.ReadDoubleLittleEndian(bytes[12..]);
        var centre = new double[d];
        for (int j = 0; j < d; j++) centre[j] = BinaryPrimitives.ReadDoubleLittleEndian(bytes[(20 + 8 * j)..]);
        var weights = new float[d * d];
        int offset = 20 + 8 * d;
        for (int i = 0; i < weights.Length; i++) weights[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(offset + 4 * i)..]);
        try
        {
            return new FeatureWhitener(centre, weights, shrinkage);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"stored feature whitener: {e.Message}");
        }
    }
}
