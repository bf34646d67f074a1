using AsdOrleans.Method.Enrollment;

namespace AsdOrleans.Method.Machines;

/// <summary>
/// φ per domain under the <c>domain</c> scoring. A pooled φ is fitted mostly on source clips (200 of 210 on a default
/// plant), while target normals score higher: on 40 machines of ten default plants 24.7 % of target normals raised an
/// alert against 9.2 % of source normals (docs/decisions.md, "Alerts — a decision threshold per domain"). Each domain's
/// enrollment scores get their own Gamma fit, and a clip is compared with the φ of the domain whose scale divided its
/// distance: the domain of its nearest reference. Rows that closest-pair merges gave a scale between the two take φ
/// in proportion. Kept as the two fits, so a changed decision quantile refits both.
/// </summary>
public sealed record DomainDecisionThresholds(GammaFit Source, GammaFit Target, float SourceScale, float TargetScale)
{
    /// <summary>The thresholds of an enrollment with clips of both domains and two different domain scales; null otherwise
    /// (one domain, or scales that cannot tell the domains apart): then the machine keeps one φ.</summary>
    public static DomainDecisionThresholds? Fit(IReadOnlyList<double> enrollmentScores, IReadOnlyList<bool> isTarget,
        float sourceScale, float targetScale)
    {
        var source = enrollmentScores.Where((_, i) => !isTarget[i]).ToList();
        var target = enrollmentScores.Where((_, i) => isTarget[i]).ToList();
        if (source.Count == 0 || target.Count == 0 || sourceScale == targetScale)
            return null;
        return new DomainDecisionThresholds(GammaFit.Of(source), GammaFit.Of(target), sourceScale, targetScale);
    }

    /// <summary>φ for a clip whose nearest reference has scale <paramref name="rowScale"/>, given each domain's φ.</summary>
    public double For(float rowScale, double sourceThreshold, double targetThreshold)
    {
        if (rowScale == SourceScale) return sourceThreshold;
        if (rowScale == TargetScale) return targetThreshold;
        double share = Math.Clamp((rowScale - (double)SourceScale) / (TargetScale - (double)SourceScale), 0, 1);
        return sourceThreshold + share * (targetThreshold - sourceThreshold);
    }

    public bool IsValid => IsFinite(Source) && IsFinite(Target) && SourceScale > 0 && TargetScale > 0
        && float.IsFinite(SourceScale) && float.IsFinite(TargetScale) && SourceScale != TargetScale;

    private static bool IsFinite(GammaFit fit) => double.IsFinite(fit.Mean) && double.IsFinite(fit.Variance) && fit.Mean >= 0 && fit.Variance >= 0;
}
