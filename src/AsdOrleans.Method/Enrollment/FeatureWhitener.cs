using System.Buffers.Binary;
using MathNet.Numerics.LinearAlgebra;

namespace AsdOrleans.Method.Enrollment;

/// <summary>
/// Per-machine whitening of raw features, fitted on the machine's training clips: z = C^(−1/2)(x − c), where c is the
/// midpoint of the source-domain and target-domain means (the one domain's mean when only one has clips) and C the
/// within-domain covariance (each clip minus its own domain's mean), shrunk towards a multiple of the identity by the
/// Ledoit–Wolf estimate (Ledoit and Wolf 2004; the formula of scikit-learn's <c>ledoit_wolf_shrinkage</c>). Cosine
/// distance between whitened clips is then a Mahalanobis-type distance: directions in which normal clips hardly vary
/// weigh most, which is where faults show. Centring at the midpoint keeps both domains equally far from the origin, so
/// the cosine treats them alike (docs/decisions.md, "Issue 11 — whitened spectral statistics").
/// <para>Stored low-rank: C = s·μ·I + (1 − s)·S and S has rank r ≤ n − 1 for n clips, so C^(−1/2) = a·I + U·diag(g)·Uᵀ
/// with U the d × r eigenvectors of S, a = (s·μ)^(−1/2) and g_k = (s·μ + (1 − s)·λ_k)^(−1/2) − a. With fewer clips than
/// dimensions that is d·r numbers instead of d², and the eigenvectors come from the n × n Gram matrix.</para>
/// Immutable and thread-safe once fitted.
/// </summary>
public sealed class FeatureWhitener : IFeatureTransform
{
    private readonly double[] _centre;
    /// <summary>U, row-major d × r: component k of input j is at <c>j * r + k</c>.</summary>
    private readonly float[] _basis;
    private readonly double[] _gains;
    private readonly double _isotropic;

    public FeatureWhitener(double[] centre, float[] basis, double[] gains, double isotropic, double shrinkage)
    {
        int d = centre.Length, r = gains.Length;
        if (d == 0 || r > d || basis.Length != (long)d * r)
            throw new ArgumentException($"a whitener of dimension {d} and rank {r} needs {(long)d * r} basis values, got {basis.Length}");
        if (!centre.All(double.IsFinite) || !basis.All(float.IsFinite) || !gains.All(double.IsFinite) || !(double.IsFinite(isotropic) && isotropic > 0)
            || !(shrinkage >= 0 && shrinkage <= 1))
            throw new ArgumentException("a whitener's numbers must be finite, its isotropic gain positive and its shrinkage in [0, 1]");
        _centre = centre;
        _basis = basis;
        _gains = gains;
        _isotropic = isotropic;
        Shrinkage = shrinkage;
    }

    public int Dimension => _centre.Length;
    /// <summary>r: the directions with their own gain; every other direction gets the isotropic one.</summary>
    public int Rank => _gains.Length;
    /// <summary>The Ledoit–Wolf shrinkage the covariance was fitted with (0: the sample covariance, 1: a multiple of I).</summary>
    public double Shrinkage { get; }
    public IReadOnlyList<double> Centre => _centre;

    /// <summary>Fits the whitener on training rows (at least two, all of one dimension) and their domains. Rows that do not
    /// vary within their domain (copies of one recording per domain) are refused (<see cref="UnvaryingTrainingException"/>):
    /// the covariance is zero, so there is no direction to whiten by; a constant dimension beside varying ones is fine
    /// (the shrinkage gives it the isotropic gain).</summary>
    public static FeatureWhitener Fit(IReadOnlyList<float[]> training, IReadOnlyList<bool> isTargetDomain)
        => FitIfVarying(training, isTargetDomain, out var counts) ?? throw new UnvaryingTrainingException(counts switch
        {
            (_, 0) or (0, _) => $"{UnvaryingTrainingException.Clips(training.Count, counts.Source == 0 ? "target" : "source")} do not vary "
                + "(copies of one recording), so there is nothing to whiten them on",
            var (source, target) => $"{UnvaryingTrainingException.Clips(training.Count)} do not vary within their domain ({WithinDomain(source, "source")} and "
                + $"{WithinDomain(target, "target")}), so there is nothing to whiten them on"
                + (source == 1 || target == 1 ? " (a domain needs two distinct clips for that)" : ""),
        });

    /// <summary>A domain's clips in a refusal: a lone clip is not a copy of anything.</summary>
    private static string WithinDomain(int count, string domain)
        => count == 1 ? $"the {domain} domain has one clip" : $"the {count} {domain}-domain clips are copies of one recording";

    /// <summary><see cref="Fit"/>, or null where the rows do not vary within their domain (a fold of
    /// <see cref="HeldOutWhitening"/> may not, where the whole training set does).</summary>
    public static FeatureWhitener? FitIfVarying(IReadOnlyList<float[]> training, IReadOnlyList<bool> isTargetDomain)
        => FitIfVarying(training, isTargetDomain, out _);

    private static FeatureWhitener? FitIfVarying(IReadOnlyList<float[]> training, IReadOnlyList<bool> isTargetDomain, out (int Source, int Target) domainCounts)
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
        domainCounts = (counts[0], counts[1]);
        // Exact copies, not a zero eigenvalue: a mean of equal floats taken in double can leave residuals of rounding size.
        var firstOfDomain = new float[]?[2];
        bool varies = false;
        for (int i = 0; i < n && !varies; i++)
        {
            ref var first = ref firstOfDomain[isTargetDomain[i] ? 1 : 0];
            first ??= training[i];
            varies = !training[i].AsSpan().SequenceEqual(first);
        }
        if (!varies) return null;
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
        // S's nonzero spectrum from the smaller of XᵀX / n (d × d) and XXᵀ / n (n × n).
        bool gram = n < d;
        var small = (gram ? residuals.TransposeAndMultiply(residuals) : residuals.TransposeThisAndMultiply(residuals)) / n;
        double shrinkage = LedoitWolfShrinkage(residuals, small, gram);
        double mu = small.Trace() / d;
        var evd = small.Evd(Symmetricity.Symmetric);
        double largest = Math.Max(0, evd.EigenValues.Max(v => v.Real));
        // A tiny floor keeps every gain finite.
        double floor = largest * 1e-9;
        double isotropicVariance = Math.Max(shrinkage * mu, floor);
        var kept = Enumerable.Range(0, small.RowCount).Where(k => evd.EigenValues[k].Real > floor).ToList();
        int r = kept.Count;
        var basis = new float[d * r];
        var gains = new double[r];
        double isotropic = 1 / Math.Sqrt(isotropicVariance);
        // Xᵀ·V in one product (d × n): element access per term was most of a fit's time.
        var projected = gram ? residuals.TransposeThisAndMultiply(evd.EigenVectors) : evd.EigenVectors;
        for (int q = 0; q < r; q++)
        {
            int k = kept[q];
            double lambda = evd.EigenValues[k].Real;
            gains[q] = 1 / Math.Sqrt(Math.Max(shrinkage * mu + (1 - shrinkage) * lambda, floor)) - isotropic;
            // A Gram eigenvector v gives S's eigenvector Xᵀv / √(n·λ).
            double norm = gram ? Math.Sqrt(n * lambda) : 1;
            for (int j = 0; j < d; j++)
                basis[j * r + q] = (float)(projected[j, k] / norm);
        }
        return new FeatureWhitener(centre, basis, gains, isotropic, shrinkage);
    }

    /// <summary>
    /// The Ledoit–Wolf shrunk covariance (1 − s)·S + s·μ·I of centred rows, S = XᵀX / n, μ = tr(S) / d, with
    /// s = min(β, δ) / δ, δ = ‖S − μI‖²_F / d and β = (Σₖ‖xₖ‖⁴ / n − ‖S‖²_F) / (d·n).
    /// </summary>
    public static (Matrix<double> Covariance, double Shrinkage) LedoitWolf(Matrix<double> centred)
    {
        int n = centred.RowCount, d = centred.ColumnCount;
        var sample = centred.TransposeThisAndMultiply(centred) / n;
        double shrinkage = LedoitWolfShrinkage(centred, sample, gram: false);
        double mu = sample.Trace() / d;
        var shrunk = sample * (1 - shrinkage);
        for (int i = 0; i < d; i++) shrunk[i, i] += shrinkage * mu;
        return (shrunk, shrinkage);
    }

    /// <summary>s of <see cref="LedoitWolf"/>, from S (d × d) or from the Gram matrix XXᵀ / n (n × n), which share
    /// their trace and Frobenius norm.</summary>
    private static double LedoitWolfShrinkage(Matrix<double> centred, Matrix<double> product, bool gram)
    {
        int n = centred.RowCount, d = centred.ColumnCount;
        double trace = product.Trace();
        double mu = trace / d;
        double frobenius = 0;
        for (int i = 0; i < product.RowCount; i++)
            for (int j = 0; j < product.ColumnCount; j++) frobenius += product[i, j] * product[i, j];
        double fourth = 0;
        for (int r = 0; r < n; r++)
        {
            double norm = 0;
            if (gram) norm = product[r, r] * n;
            else
                for (int j = 0; j < d; j++) norm += centred[r, j] * centred[r, j];
            fourth += norm * norm;
        }
        double delta = (frobenius - 2 * mu * trace + d * mu * mu) / d;
        double beta = Math.Min((fourth / n - frobenius) / ((double)d * n), delta);
        return delta > 0 ? Math.Clamp(beta / delta, 0, 1) : 1;
    }

    public float[] Transform(ReadOnlySpan<float> x)
    {
        int d = Dimension, r = Rank;
        if (x.Length != d) throw new ArgumentException($"expected {d} values, got {x.Length}", nameof(x));
        var centred = new double[d];
        var projection = new double[r];
        for (int j = 0; j < d; j++)
        {
            double v = x[j] - _centre[j];
            centred[j] = v;
            var row = _basis.AsSpan(j * r, r);
            for (int k = 0; k < r; k++) projection[k] += v * row[k];
        }
        for (int k = 0; k < r; k++) projection[k] *= _gains[k];
        var result = new float[d];
        for (int j = 0; j < d; j++)
        {
            double z = _isotropic * centred[j];
            var row = _basis.AsSpan(j * r, r);
            for (int k = 0; k < r; k++) z += row[k] * projection[k];
            result[j] = (float)z;
        }
        return result;
    }

    /// <summary>
    /// A bit-exact binary form for a machine's stored state: "FWHT", int32 version 1, int32 dimension d, int32 rank r,
    /// the shrinkage, the isotropic gain, the centre (d) and the gains (r) as little-endian doubles, then U (d·r) as
    /// little-endian floats.
    /// </summary>
    public byte[] ToBytes()
    {
        int d = Dimension, r = Rank;
        var bytes = new byte[HeaderBytes + 8 * (d + r) + 4L * d * r];
        "FWHT"u8.CopyTo(bytes);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4), 1);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), d);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(12), r);
        BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(16), Shrinkage);
        BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(24), _isotropic);
        int offset = HeaderBytes;
        foreach (double v in _centre) { BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(offset), v); offset += 8; }
        foreach (double v in _gains) { BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(offset), v); offset += 8; }
        foreach (float v in _basis) { BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(offset), v); offset += 4; }
        return bytes;
    }

    private const int HeaderBytes = 32;

    public static bool IsStoredForm(ReadOnlySpan<byte> bytes) => bytes.Length >= 4 && bytes[..4].SequenceEqual("FWHT"u8);

    /// <summary>Reads <see cref="ToBytes"/>'s form; anything else is refused.</summary>
    public static FeatureWhitener FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < HeaderBytes || !IsStoredForm(bytes) || BinaryPrimitives.ReadInt32LittleEndian(bytes[4..]) != 1)
            throw new InvalidDataException("not a stored feature whitener (FWHT version 1)");
        int d = BinaryPrimitives.ReadInt32LittleEndian(bytes[8..]), r = BinaryPrimitives.ReadInt32LittleEndian(bytes[12..]);
        if (d < 1 || d > 65_536 || r < 0 || r > d || bytes.Length != HeaderBytes + 8L * (d + r) + 4L * d * r)
            throw new InvalidDataException($"stored feature whitener: dimension {d} and rank {r} do not match {bytes.Length} bytes");
        double shrinkage = BinaryPrimitives.ReadDoubleLittleEndian(bytes[16..]);
        double isotropic = BinaryPrimitives.ReadDoubleLittleEndian(bytes[24..]);
        int offset = HeaderBytes;
        var centre = new double[d];
        for (int j = 0; j < d; j++, offset += 8) centre[j] = BinaryPrimitives.ReadDoubleLittleEndian(bytes[offset..]);
        var gains = new double[r];
        for (int k = 0; k < r; k++, offset += 8) gains[k] = BinaryPrimitives.ReadDoubleLittleEndian(bytes[offset..]);
        var basis = new float[d * r];
        for (int i = 0; i < basis.Length; i++, offset += 4) basis[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[offset..]);
        try
        {
            return new FeatureWhitener(centre, basis, gains, isotropic, shrinkage);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"stored feature whitener: {e.Message}");
        }
    }
}
