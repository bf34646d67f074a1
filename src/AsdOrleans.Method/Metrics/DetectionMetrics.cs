using System.Buffers;

namespace AsdOrleans.Method.Metrics;

/// <summary>AUC, raw pAUC area and McClish-standardised pAUC from one sort of the scores.</summary>
public readonly record struct RocAreas(double Auc, double PartialAuc, double PartialAucRawArea);

/// <summary>
/// Binary-decision counts for one domain, with the anomaly as the positive class.
/// Precision, recall and F1 follow scikit-learn's binary averaging with zero division giving 0.
/// </summary>
public readonly record struct ConfusionCounts(int TrueNegatives, int FalsePositives, int FalseNegatives, int TruePositives)
{
    public double Precision => Ratio(TruePositives, TruePositives + FalsePositives);

    public double Recall => Ratio(TruePositives, TruePositives + FalseNegatives);

    /// <summary>The share of normal clips decided anomalous (false alerts); NaN without a normal clip.</summary>
    public double FalseAlertRate => FalsePositives + TrueNegatives == 0 ? double.NaN : (double)FalsePositives / (FalsePositives + TrueNegatives);

    /// <summary>The counts of two sets of clips together (machines, or domains, pooled).</summary>
    public static ConfusionCounts operator +(ConfusionCounts a, ConfusionCounts b) => new(a.TrueNegatives + b.TrueNegatives,
        a.FalsePositives + b.FalsePositives, a.FalseNegatives + b.FalseNegatives, a.TruePositives + b.TruePositives);

    /// <summary>2PR/(P+R) computed from the rounded P and R, as scikit-learn and the evaluator do.</summary>
    public double F1
    {
        get
        {
            double p = Precision, r = Recall;
            return p + r == 0.0 ? 0.0 : 2.0 * p * r / (p + r);
        }
    }

    private static double Ratio(int numerator, int denominator) => denominator == 0 ? 0.0 : (double)numerator / denominator;
}

/// <summary>The DCASE 2023 Task 2 numbers for one machine section.</summary>
/// <param name="Auc">AUC over all clips of both domains.</param>
/// <param name="PartialAuc">Standardised pAUC (max FPR 0.1) over all clips of both domains.</param>
/// <param name="PartialAucRawArea">The unstandardised ROC area over FPR in [0, maxFpr].</param>
/// <param name="AucSource">AUC of source-domain normals against all anomalies.</param>
/// <param name="AucTarget">AUC of target-domain normals against all anomalies.</param>
/// <param name="AucSourceClipCount">Clips that AUC(source) used (source normals plus all anomalies).</param>
/// <param name="AucTargetClipCount">Clips that AUC(target) used.</param>
/// <param name="DecisionsSource">Decision counts over source clips; null when no decisions were given.</param>
/// <param name="DecisionsTarget">Decision counts over target clips; null when no decisions were given.</param>
public readonly record struct DomainMetrics(
    double Auc,
    double PartialAuc,
    double PartialAucRawArea,
    double AucSource,
    double AucTarget,
    int AucSourceClipCount,
    int AucTargetClipCount,
    ConfusionCounts? DecisionsSource,
    ConfusionCounts? DecisionsTarget)
{
    public bool HasDecisions => DecisionsSource.HasValue;
}

/// <summary>
/// The DCASE 2023 Task 2 numbers for one machine section where they are defined, null where they are not: AUC and pAUC
/// need a normal and an anomalous clip, AUC(source) a source normal and an anomaly, AUC(target) a target normal and an
/// anomaly. Defined values are computed exactly as <see cref="DetectionMetrics.Evaluate(ReadOnlySpan{double}, ReadOnlySpan{bool}, ReadOnlySpan{bool})"/>
/// computes them (the same numbers, bit for bit). <paramref name="Undefined"/> says, per undefined metric, why.
/// </summary>
public readonly record struct DefinedMetrics(
    double? Auc,
    double? PartialAuc,
    double? PartialAucRawArea,
    double? AucSource,
    double? AucTarget,
    int AucSourceClipCount,
    int AucTargetClipCount,
    ConfusionCounts? DecisionsSource,
    ConfusionCounts? DecisionsTarget,
    IReadOnlyList<string> Undefined)
{
    public bool HasDecisions => DecisionsSource.HasValue;
}

/// <summary>
/// Anomaly-detection metrics exactly as the official DCASE 2023 Task 2 evaluator computes them
/// (scikit-learn roc_auc_score, scipy hmean). Higher score = more anomalous.
/// Every metric is one O(n log n) sort plus one sweep over tied-score groups; buffers come from the
/// stack or the shared array pool, so repeated calls allocate nothing on the heap.
/// </summary>
public static class DetectionMetrics
{
    public const double DefaultMaxFpr = 0.1;

    /// <summary>float64 machine epsilon: the floor the evaluator applies before the harmonic mean.</summary>
    public const double MachineEpsilon = 2.220446049250313e-16;

    private const int StackLimit = 1024;

    // Clip kinds for the sweep; binary metrics use only Anomaly and SourceNormal.
    private const byte Anomaly = 0;
    private const byte SourceNormal = 1;
    private const byte TargetNormal = 2;

    /// <summary>ROC AUC with tied scores counted half (scikit-learn roc_auc_score).</summary>
    public static double Auc(ReadOnlySpan<double> scores, ReadOnlySpan<bool> isAnomaly) =>
        Roc(scores, isAnomaly, DefaultMaxFpr).Auc;

    /// <summary>scikit-learn's McClish-standardised partial AUC, roc_auc_score(max_fpr=maxFpr).</summary>
    public static double PartialAuc(ReadOnlySpan<double> scores, ReadOnlySpan<bool> isAnomaly, double maxFpr = DefaultMaxFpr) =>
        Roc(scores, isAnomaly, maxFpr).PartialAuc;

    /// <summary>The raw ROC area over FPR in [0, maxFpr], before standardisation.</summary>
    public static double PartialAucRawArea(ReadOnlySpan<double> scores, ReadOnlySpan<bool> isAnomaly, double maxFpr = DefaultMaxFpr) =>
        Roc(scores, isAnomaly, maxFpr).PartialAucRawArea;

    /// <summary>AUC, pAUC and raw pAUC area from a single sort.</summary>
    public static RocAreas Roc(ReadOnlySpan<double> scores, ReadOnlySpan<bool> isAnomaly, double maxFpr = DefaultMaxFpr)
    {
        ValidateMaxFpr(maxFpr);
        ValidateScores(scores, isAnomaly.Length, nameof(isAnomaly));
        int n = scores.Length;
        double[]? rentedKeys = null;
        byte[]? rentedKinds = null;
        try
        {
            Span<double> keys = n <= StackLimit ? stackalloc double[n] : (rentedKeys = ArrayPool<double>.Shared.Rent(n)).AsSpan(0, n);
            Span<byte> kinds = n <= StackLimit ? stackalloc byte[n] : (rentedKinds = ArrayPool<byte>.Shared.Rent(n)).AsSpan(0, n);
            scores.CopyTo(keys);
            int anomalies = 0;
            for (int i = 0; i < n; i++)
            {
                kinds[i] = isAnomaly[i] ? Anomaly : SourceNormal;
                if (isAnomaly[i]) anomalies++;
            }
            if (anomalies == 0)
                throw new ArgumentException($"all {n} clips are normal: AUC is undefined without at least one anomalous clip", nameof(isAnomaly));
            if (anomalies == n)
                throw new ArgumentException($"all {n} clips are anomalous: AUC is undefined without at least one normal clip", nameof(isAnomaly));

            var sweep = Sweep(keys, kinds, anomalies, n - anomalies, 0, maxFpr);
            double auc = sweep.TwiceWinsSource / (2.0 * anomalies * (n - anomalies));
            return new RocAreas(auc, Standardise(sweep.PartialArea, maxFpr, auc), sweep.PartialArea);
        }
        finally
        {
            if (rentedKeys is not null) ArrayPool<double>.Shared.Return(rentedKeys);
            if (rentedKinds is not null) ArrayPool<byte>.Shared.Return(rentedKinds);
        }
    }

    /// <summary>
    /// The per-section DCASE numbers without decisions: AUC and pAUC over all clips, AUC(source) over
    /// source normals plus ALL anomalies, AUC(target) likewise.
    /// </summary>
    public static DomainMetrics Evaluate(ReadOnlySpan<double> scores, ReadOnlySpan<bool> isAnomaly, ReadOnlySpan<bool> isTarget) =>
        Strict(EvaluateCore(scores, isAnomaly, isTarget, default, hasDecisions: false));

    /// <summary>
    /// As <see cref="Evaluate(ReadOnlySpan{double}, ReadOnlySpan{bool}, ReadOnlySpan{bool})"/>, but a metric whose clips are
    /// missing (e.g. AUC(target) on clips of the source domain only) is null instead of an error.
    /// </summary>
    public static DefinedMetrics EvaluateWhereDefined(ReadOnlySpan<double> scores, ReadOnlySpan<bool> isAnomaly, ReadOnlySpan<bool> isTarget) =>
        EvaluateCore(scores, isAnomaly, isTarget, default, hasDecisions: false);

    /// <summary>As the other overload, plus precision/recall/F1 per domain (always defined; zero division gives 0).</summary>
    public static DefinedMetrics EvaluateWhereDefined(ReadOnlySpan<double> scores, ReadOnlySpan<bool> isAnomaly, ReadOnlySpan<bool> isTarget, ReadOnlySpan<bool> decisions)
    {
        if (decisions.Length != scores.Length)
            throw new ArgumentException($"scores has {scores.Length} values but decisions has {decisions.Length}", nameof(decisions));
        return EvaluateCore(scores, isAnomaly, isTarget, decisions, hasDecisions: true);
    }

    /// <summary>As the other overload, plus precision/recall/F1 per domain from that domain's clips only.</summary>
    /// <param name="decisions">true = the system decided "anomaly".</param>
    public static DomainMetrics Evaluate(ReadOnlySpan<double> scores, ReadOnlySpan<bool> isAnomaly, ReadOnlySpan<bool> isTarget, ReadOnlySpan<bool> decisions)
    {
        if (decisions.Length != scores.Length)
            throw new ArgumentException($"scores has {scores.Length} values but decisions has {decisions.Length}", nameof(decisions));
        return Strict(EvaluateCore(scores, isAnomaly, isTarget, decisions, hasDecisions: true));
    }

    /// <summary>
    /// The harmonic mean (as <see cref="HarmonicMean"/>) of the defined values only; null when none is defined.
    /// An undefined value is left out, not counted as 0 or as machine epsilon: callers report how many were left out.
    /// </summary>
    public static double? HarmonicMeanOfDefined(IEnumerable<double?> values)
    {
        var defined = values.Where(v => v.HasValue).Select(v => v!.Value).ToArray();
        return defined.Length == 0 ? null : HarmonicMean(defined);
    }

    /// <summary>scipy hmean after raising every value to at least machine epsilon (so a 0 does not divide by zero).</summary>
    public static double HarmonicMean(ReadOnlySpan<double> values)
    {
        if (values.IsEmpty)
            throw new ArgumentException("the harmonic mean of no values is undefined", nameof(values));
        double sumOfInverses = 0.0;
        for (int i = 0; i < values.Length; i++)
        {
            if (!double.IsFinite(values[i]))
                throw new ArgumentException($"value {i} is {values[i]}; every value must be a finite number", nameof(values));
            sumOfInverses += 1.0 / Math.Max(values[i], MachineEpsilon);
        }
        return 1.0 / (sumOfInverses / values.Length);
    }

    public static double ArithmeticMean(ReadOnlySpan<double> values)
    {
        if (values.IsEmpty)
            throw new ArgumentException("the arithmetic mean of no values is undefined", nameof(values));
        double sum = 0.0;
        for (int i = 0; i < values.Length; i++)
        {
            if (!double.IsFinite(values[i]))
                throw new ArgumentException($"value {i} is {values[i]}; every value must be a finite number", nameof(values));
            sum += values[i];
        }
        return sum / values.Length;
    }

    /// <summary>The strict form: the first undefined metric's reason is an error (in the order all-normal, all-anomalous, source, target).</summary>
    private static DomainMetrics Strict(DefinedMetrics m)
    {
        if (m.Undefined.Count > 0)
            throw new ArgumentException(m.Undefined[0], m.Auc is null ? "isAnomaly" : "isTarget");
        return new DomainMetrics(m.Auc!.Value, m.PartialAuc!.Value, m.PartialAucRawArea!.Value, m.AucSource!.Value, m.AucTarget!.Value,
            m.AucSourceClipCount, m.AucTargetClipCount, m.DecisionsSource, m.DecisionsTarget);
    }

    private static DefinedMetrics EvaluateCore(
        ReadOnlySpan<double> scores, ReadOnlySpan<bool> isAnomaly, ReadOnlySpan<bool> isTarget, ReadOnlySpan<bool> decisions, bool hasDecisions)
    {
        ValidateScores(scores, isAnomaly.Length, nameof(isAnomaly));
        if (isTarget.Length != scores.Length)
            throw new ArgumentException($"scores has {scores.Length} values but isTarget has {isTarget.Length}", nameof(isTarget));
        int n = scores.Length;
        double[]? rentedKeys = null;
        byte[]? rentedKinds = null;
        try
        {
            Span<double> keys = n <= StackLimit ? stackalloc double[n] : (rentedKeys = ArrayPool<double>.Shared.Rent(n)).AsSpan(0, n);
            Span<byte> kinds = n <= StackLimit ? stackalloc byte[n] : (rentedKinds = ArrayPool<byte>.Shared.Rent(n)).AsSpan(0, n);
            scores.CopyTo(keys);
            int anomalies = 0, sourceNormals = 0, targetNormals = 0;
            int sTn = 0, sFp = 0, sFn = 0, sTp = 0, tTn = 0, tFp = 0, tFn = 0, tTp = 0;
            for (int i = 0; i < n; i++)
            {
                if (isAnomaly[i]) { kinds[i] = Anomaly; anomalies++; }
                else if (isTarget[i]) { kinds[i] = TargetNormal; targetNormals++; }
                else { kinds[i] = SourceNormal; sourceNormals++; }
                if (!hasDecisions) continue;
                bool decided = decisions[i];
                if (isTarget[i])
                {
                    if (isAnomaly[i]) { if (decided) tTp++; else tFn++; }
                    else if (decided) tFp++; else tTn++;
                }
                else
                {
                    if (isAnomaly[i]) { if (decided) sTp++; else sFn++; }
                    else if (decided) sFp++; else sTn++;
                }
            }
            var undefined = new List<string>(2);
            if (anomalies == 0)
                undefined.Add($"all {n} clips are normal: AUC is undefined without at least one anomalous clip");
            else if (anomalies == n)
                undefined.Add($"all {n} clips are anomalous: AUC is undefined without at least one normal clip");
            else
            {
                if (sourceNormals == 0)
                    undefined.Add("no normal clips in the source domain: AUC(source) is undefined");
                if (targetNormals == 0)
                    undefined.Add("no normal clips in the target domain: AUC(target) is undefined");
            }

            double? auc = null, partialAuc = null, rawArea = null, aucSource = null, aucTarget = null;
            if (anomalies > 0 && anomalies < n)
            {
                var sweep = Sweep(keys, kinds, anomalies, sourceNormals, targetNormals, DefaultMaxFpr);
                double all = (sweep.TwiceWinsSource + sweep.TwiceWinsTarget) / (2.0 * anomalies * (sourceNormals + targetNormals));
                auc = all;
                partialAuc = Standardise(sweep.PartialArea, DefaultMaxFpr, all);
                rawArea = sweep.PartialArea;
                if (sourceNormals > 0) aucSource = sweep.TwiceWinsSource / (2.0 * anomalies * sourceNormals);
                if (targetNormals > 0) aucTarget = sweep.TwiceWinsTarget / (2.0 * anomalies * targetNormals);
            }
            return new DefinedMetrics(
                Auc: auc,
                PartialAuc: partialAuc,
                PartialAucRawArea: rawArea,
                AucSource: aucSource,
                AucTarget: aucTarget,
                AucSourceClipCount: anomalies + sourceNormals,
                AucTargetClipCount: anomalies + targetNormals,
                DecisionsSource: hasDecisions ? new ConfusionCounts(sTn, sFp, sFn, sTp) : null,
                DecisionsTarget: hasDecisions ? new ConfusionCounts(tTn, tFp, tFn, tTp) : null,
                Undefined: undefined);
        }
        finally
        {
            if (rentedKeys is not null) ArrayPool<double>.Shared.Return(rentedKeys);
            if (rentedKinds is not null) ArrayPool<byte>.Shared.Return(rentedKinds);
        }
    }

    private readonly record struct SweepResult(long TwiceWinsSource, long TwiceWinsTarget, double PartialArea);

    /// <summary>
    /// Sorts, then walks tied-score groups from the highest score down. Counts anomaly-above-normal
    /// pairs (ties as half, kept doubled so the sums stay exact integers) per normal domain, and
    /// integrates the all-clips ROC curve up to maxFpr the way scikit-learn does: one point per distinct
    /// threshold, trapezoids between points, linear interpolation where FPR crosses maxFpr.
    /// </summary>
    private static SweepResult Sweep(Span<double> keys, Span<byte> kinds, long anomalies, long sourceNormals, long targetNormals, double maxFpr)
    {
        keys.Sort(kinds);
        long normals = sourceNormals + targetNormals;
        long anomaliesAbove = 0, normalsAbove = 0, twiceWinsSource = 0, twiceWinsTarget = 0;
        double fpr0 = 0.0, tpr0 = 0.0, area = 0.0;
        bool areaDone = false;
        int i = keys.Length - 1;
        while (i >= 0)
        {
            double score = keys[i];
            long groupAnomalies = 0, groupSource = 0, groupTarget = 0;
            do
            {
                switch (kinds[i])
                {
                    case Anomaly: groupAnomalies++; break;
                    case SourceNormal: groupSource++; break;
                    default: groupTarget++; break;
                }
                i--;
            } while (i >= 0 && keys[i] == score);

            long twicePairsPerNormal = 2 * anomaliesAbove + groupAnomalies;
            twiceWinsSource += groupSource * twicePairsPerNormal;
            twiceWinsTarget += groupTarget * twicePairsPerNormal;
            anomaliesAbove += groupAnomalies;
            normalsAbove += groupSource + groupTarget;

            if (areaDone) continue;
            double fpr1 = (double)normalsAbove / normals;
            double tpr1 = (double)anomaliesAbove / anomalies;
            if (fpr1 <= maxFpr)
            {
                area += (fpr1 - fpr0) * (tpr0 + tpr1) / 2.0;
                fpr0 = fpr1;
                tpr0 = tpr1;
            }
            else
            {
                double tprAtMax = (tpr1 - tpr0) / (fpr1 - fpr0) * (maxFpr - fpr0) + tpr0;
                area += (maxFpr - fpr0) * (tpr0 + tprAtMax) / 2.0;
                areaDone = true;
            }
        }
        return new SweepResult(twiceWinsSource, twiceWinsTarget, area);
    }

    /// <summary>McClish correction: maps the diagonal's area to 0.5 and the perfect area to 1.</summary>
    private static double Standardise(double rawArea, double maxFpr, double fullAuc)
    {
        if (maxFpr == 1.0)
            return fullAuc; // scikit-learn returns the plain AUC when max_fpr is 1
        double minArea = 0.5 * maxFpr * maxFpr;
        return 0.5 * (1.0 + (rawArea - minArea) / (maxFpr - minArea));
    }

    private static void ValidateMaxFpr(double maxFpr)
    {
        if (!(maxFpr > 0.0 && maxFpr <= 1.0))
            throw new ArgumentOutOfRangeException(nameof(maxFpr), maxFpr, $"maxFpr must be in (0, 1], got {maxFpr}");
    }

    private static void ValidateScores(ReadOnlySpan<double> scores, int labelCount, string labelName)
    {
        if (labelCount != scores.Length)
            throw new ArgumentException($"scores has {scores.Length} values but {labelName} has {labelCount}", labelName);
        if (scores.IsEmpty)
            throw new ArgumentException("no scores given: AUC needs at least one normal and one anomalous clip", nameof(scores));
        for (int i = 0; i < scores.Length; i++)
        {
            if (!double.IsFinite(scores[i]))
                throw new ArgumentException($"score {i} is {scores[i]}; every score must be a finite number", nameof(scores));
        }
    }
}
