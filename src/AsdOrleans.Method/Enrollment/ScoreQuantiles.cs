using MathNet.Numerics.Distributions;
using MathNet.Numerics.Statistics;

namespace AsdOrleans.Method.Enrollment;

/// <summary>
/// The decision threshold φ: a quantile of a Gamma distribution fitted to normal scores, as the
/// DCASE baseline does. Fitted by the method of moments rather than maximum likelihood because
/// enrollment scores contain exact zeros (target clips are members of N), where the log-likelihood
/// is undefined (docs/decisions.md).
/// </summary>
public static class ScoreQuantiles
{
    public static double GammaFitQuantile(IReadOnlyList<double> normalScores, double quantile)
    {
        if (normalScores.Count == 0)
            throw new ArgumentException("a decision threshold needs at least one normal score");
        var values = normalScores.Select(s => Math.Max(s, 0.0)).ToArray();
        double mean = values.Mean();
        double variance = values.Length > 1 ? values.Variance() : 0;
        if (mean <= 0 || variance <= 0 || !double.IsFinite(variance))
            return EmpiricalQuantile(values, quantile); // degenerate: no spread to fit
        double shape = mean * mean / variance;
        double rate = mean / variance;
        return Gamma.InvCDF(shape, rate, quantile);
    }

    /// <summary>Linear-interpolation quantile (numpy's default, R type 7).</summary>
    public static double EmpiricalQuantile(IReadOnlyList<double> values, double quantile)
    {
        if (values.Count == 0)
            throw new ArgumentException("a quantile needs at least one value");
        var copy = values.ToArray();
        return ArrayStatistics.QuantileCustomInplace(copy, quantile, QuantileDefinition.R7);
    }
}
