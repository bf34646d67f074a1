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
    public static double GammaFitQuantile(IReadOnlyList<double> normalScores, double quantile) =>
        GammaFit.Of(normalScores).Quantile(quantile);

    /// <summary>Linear-interpolation quantile (numpy's default, R type 7).</summary>
    public static double EmpiricalQuantile(IReadOnlyList<double> values, double quantile)
    {
        if (values.Count == 0)
            throw new ArgumentException("a quantile needs at least one value");
        var copy = values.ToArray();
        return ArrayStatistics.QuantileCustomInplace(copy, quantile, QuantileDefinition.R7);
    }
}

/// <summary>
/// A method-of-moments Gamma fit to normal scores (each first raised to 0): its mean and variance are all a quantile
/// needs, so a machine keeps these two numbers and refits φ for any decision quantile without the scores.
/// </summary>
public readonly record struct GammaFit(double Mean, double Variance)
{
    public static GammaFit Of(IReadOnlyList<double> normalScores)
    {
        if (normalScores.Count == 0)
            throw new ArgumentException("a decision threshold needs at least one normal score");
        var values = normalScores.Select(s => Math.Max(s, 0.0)).ToArray();
        return new GammaFit(values.Mean(), values.Length > 1 ? values.Variance() : 0);
    }

    /// <summary>The fitted distribution's <paramref name="quantile"/>; with no spread to fit, the scores' common value.</summary>
    public double Quantile(double quantile)
    {
        if (Mean <= 0 || Variance <= 0 || !double.IsFinite(Variance))
            return Math.Max(Mean, 0); // every (clamped) score equal: any empirical quantile is that value
        return Gamma.InvCDF(Mean * Mean / Variance, Mean / Variance, quantile);
    }
}
