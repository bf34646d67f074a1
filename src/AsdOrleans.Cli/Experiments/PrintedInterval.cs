namespace AsdOrleans.Cli.Experiments;

/// <summary>
/// Confidence intervals as the tables print them. A Student-t interval over a few trials or runs can pass the bounds of
/// what it measures; AUC, pAUC, the official score and shares of clips lie in [0, 1], so their printed interval is
/// clipped to [0, 1], and a difference of two such to [−1, 1]. The CSVs keep the interval as computed.
/// </summary>
public static class PrintedInterval
{
    public const string Note = "Intervals of AUC, pAUC, the official score and shares of clips are clipped to [0, 1] where few values take "
        + "the Student-t interval past a bound, and differences to [−1, 1]; the CSVs keep them as computed.";

    public static (double Low, double High) Bounded(double low, double high) => (Math.Max(low, 0), Math.Min(high, 1));

    public static (double Low, double High) Difference(double low, double high) => (Math.Max(low, -1), Math.Min(high, 1));

    /// <summary>Said wherever a run has a single trial: its intervals are not printed and its CSVs hold NaN for them.</summary>
    public const string OneTrialNote = "One trial gives no confidence interval: the tables show the mean alone, and the ci95 columns of summary.csv, table1.csv and baseline.csv hold NaN.";
}
