using System.Text.Json;
using AsdOrleans.Method.Metrics;

namespace AsdOrleans.Core.Tests.Metrics;

public class DetectionMetricsTests
{
    private const double Tolerance = 1e-12;

    // ---- reference vectors (scikit-learn / scipy run of the official evaluator logic) ----

    public static TheoryData<string> BinaryCaseIds() => CaseIds("binary_cases");

    public static TheoryData<string> DomainCaseIds() => CaseIds("domain_cases");

    public static TheoryData<string> HmeanCaseIds() => CaseIds("hmean_cases");

    [Theory]
    [MemberData(nameof(BinaryCaseIds))]
    public void BinaryCaseMatchesReference(string id)
    {
        var c = Case("binary_cases", id);
        var scores = Doubles(c, "scores");
        var isAnomaly = Flags(c, "labels");
        var expected = c.GetProperty("expected");

        AssertClose(expected.GetProperty("auc").GetDouble(), DetectionMetrics.Auc(scores, isAnomaly));
        AssertClose(expected.GetProperty("pauc").GetDouble(), DetectionMetrics.PartialAuc(scores, isAnomaly));
        AssertClose(expected.GetProperty("pauc_raw_area").GetDouble(), DetectionMetrics.PartialAucRawArea(scores, isAnomaly));

        var roc = DetectionMetrics.Roc(scores, isAnomaly);
        AssertClose(expected.GetProperty("auc").GetDouble(), roc.Auc);
        AssertClose(expected.GetProperty("pauc").GetDouble(), roc.PartialAuc);
        AssertClose(expected.GetProperty("pauc_raw_area").GetDouble(), roc.PartialAucRawArea);
    }

    [Theory]
    [MemberData(nameof(DomainCaseIds))]
    public void DomainCaseMatchesReference(string id)
    {
        var c = Case("domain_cases", id);
        var scores = Doubles(c, "scores");
        var isAnomaly = Flags(c, "labels");
        var isTarget = Flags(c, "domains");
        var decisions = Flags(c, "decisions");
        var expected = c.GetProperty("expected");

        var m = DetectionMetrics.Evaluate(scores, isAnomaly, isTarget, decisions);

        AssertClose(expected.GetProperty("auc_all").GetDouble(), m.Auc);
        AssertClose(expected.GetProperty("pauc").GetDouble(), m.PartialAuc);
        AssertClose(expected.GetProperty("auc_source").GetDouble(), m.AucSource);
        AssertClose(expected.GetProperty("auc_target").GetDouble(), m.AucTarget);
        Assert.Equal(expected.GetProperty("n_auc_source").GetInt32(), m.AucSourceClipCount);
        Assert.Equal(expected.GetProperty("n_auc_target").GetInt32(), m.AucTargetClipCount);
        AssertDecisions(expected, "source", m.DecisionsSource);
        AssertDecisions(expected, "target", m.DecisionsTarget);

        // Without decisions the AUC side is identical and the decision side absent.
        var withoutDecisions = DetectionMetrics.Evaluate(scores, isAnomaly, isTarget);
        Assert.False(withoutDecisions.HasDecisions);
        Assert.Equal(m.AucSource, withoutDecisions.AucSource);
        Assert.Equal(m.PartialAuc, withoutDecisions.PartialAuc);

        // Where everything is defined, the nullable form gives the same numbers bit for bit.
        var defined = DetectionMetrics.EvaluateWhereDefined(scores, isAnomaly, isTarget, decisions);
        Assert.Empty(defined.Undefined);
        Assert.Equal(m.Auc, defined.Auc);
        Assert.Equal(m.PartialAuc, defined.PartialAuc);
        Assert.Equal(m.PartialAucRawArea, defined.PartialAucRawArea);
        Assert.Equal(m.AucSource, defined.AucSource);
        Assert.Equal(m.AucTarget, defined.AucTarget);
        Assert.Equal(m.DecisionsSource, defined.DecisionsSource);
        Assert.Equal(m.DecisionsTarget, defined.DecisionsTarget);
    }

    [Fact]
    public void OneDomainGivesAucAndPaucAndLeavesTheOtherDomainUndefined()
    {
        double[] scores = [0.1, 0.4, 0.35, 0.8, 0.2];
        bool[] isAnomaly = [false, false, true, true, false];
        bool[] source = [false, false, false, false, false];

        var m = DetectionMetrics.EvaluateWhereDefined(scores, isAnomaly, source, [false, true, false, true, false]);

        var roc = DetectionMetrics.Roc(scores, isAnomaly);
        Assert.Equal(roc.Auc, m.Auc);
        Assert.Equal(roc.PartialAuc, m.PartialAuc);
        Assert.Equal(roc.Auc, m.AucSource);
        Assert.Null(m.AucTarget);
        Assert.Equal(2, m.AucTargetClipCount);
        Assert.Equal(new ConfusionCounts(2, 1, 1, 1), m.DecisionsSource);
        Assert.Equal(new ConfusionCounts(0, 0, 0, 0), m.DecisionsTarget);
        Assert.Equal(["no normal clips in the target domain: AUC(target) is undefined"], m.Undefined);
    }

    [Fact]
    public void OneClassLeavesEveryAucUndefined()
    {
        var m = DetectionMetrics.EvaluateWhereDefined([0.1, 0.2], [false, false], [false, true]);
        Assert.Null(m.Auc);
        Assert.Null(m.PartialAuc);
        Assert.Null(m.AucSource);
        Assert.Null(m.AucTarget);
        Assert.Contains("all 2 clips are normal", Assert.Single(m.Undefined));
    }

    [Fact]
    public void HarmonicMeanOfDefinedLeavesUndefinedValuesOut()
    {
        Assert.Equal(DetectionMetrics.HarmonicMean([0.5, 0.8]), DetectionMetrics.HarmonicMeanOfDefined([0.5, null, 0.8]));
        Assert.Null(DetectionMetrics.HarmonicMeanOfDefined([null, null]));
        Assert.Null(DetectionMetrics.HarmonicMeanOfDefined([]));
    }

    [Theory]
    [MemberData(nameof(HmeanCaseIds))]
    public void MeanCaseMatchesReference(string id)
    {
        var c = Case("hmean_cases", id);
        var values = Doubles(c, "values");
        AssertClose(c.GetProperty("expected_hmean").GetDouble(), DetectionMetrics.HarmonicMean(values));
        AssertClose(c.GetProperty("expected_amean").GetDouble(), DetectionMetrics.ArithmeticMean(values));
    }

    private static void AssertDecisions(JsonElement expected, string domain, ConfusionCounts? actual)
    {
        Assert.True(actual.HasValue);
        var counts = actual.Value;
        var tnFpFnTp = Ints(expected.GetProperty($"confusion_{domain}_tn_fp_fn_tp"));
        Assert.Equal(tnFpFnTp, new[] { counts.TrueNegatives, counts.FalsePositives, counts.FalseNegatives, counts.TruePositives });
        AssertClose(expected.GetProperty($"precision_{domain}").GetDouble(), counts.Precision);
        AssertClose(expected.GetProperty($"recall_{domain}").GetDouble(), counts.Recall);
        AssertClose(expected.GetProperty($"f1_{domain}").GetDouble(), counts.F1);
    }

    // ---- hand-checked properties ----

    [Fact]
    public void PerfectAndInvertedScoresGiveTheKnownExtremes()
    {
        double[] scores = [0.1, 0.2, 0.3, 0.9, 1.0];
        bool[] labels = [false, false, false, true, true];
        Assert.Equal(1.0, DetectionMetrics.Auc(scores, labels));
        Assert.Equal(1.0, DetectionMetrics.PartialAuc(scores, labels), Tolerance);

        double[] inverted = scores.Select(s => -s).ToArray();
        Assert.Equal(0.0, DetectionMetrics.Auc(inverted, labels));
        // McClish: an area of 0 maps to 0.5 * (1 - 0.005 / 0.095), not to 0.
        Assert.Equal(0.5 * (1 - 0.005 / 0.095), DetectionMetrics.PartialAuc(inverted, labels), Tolerance);
    }

    [Fact]
    public void MaxFprOfOneGivesThePlainAuc()
    {
        var (scores, labels) = RandomCase(new Random(7), 60, ties: true);
        var roc = DetectionMetrics.Roc(scores, labels, maxFpr: 1.0);
        Assert.Equal(roc.Auc, roc.PartialAuc);
        Assert.Equal(roc.Auc, roc.PartialAucRawArea, Tolerance); // the trapezoid area over the full curve
    }

    [Fact]
    public void HarmonicMeanFloorsValuesAtMachineEpsilon()
    {
        Assert.Equal(DetectionMetrics.MachineEpsilon, DetectionMetrics.HarmonicMean([0.0]));
        Assert.Equal(DetectionMetrics.MachineEpsilon, DetectionMetrics.HarmonicMean([-3.0]));
        Assert.Equal(0.5, DetectionMetrics.HarmonicMean([0.5, 0.5, 0.5]), Tolerance);
    }

    [Fact]
    public void ZeroDivisionInPrecisionRecallGivesZero()
    {
        // No clip decided anomalous: precision has 0/0, recall 0/k; both 0, F1 0.
        double[] scores = [0.1, 0.2, 0.9, 0.3, 0.4, 0.8];
        bool[] labels = [false, false, true, false, false, true];
        bool[] target = [false, false, false, true, true, true];
        bool[] decisions = new bool[6];
        var m = DetectionMetrics.Evaluate(scores, labels, target, decisions);
        Assert.Equal(new ConfusionCounts(2, 0, 1, 0), m.DecisionsSource);
        Assert.Equal(0.0, m.DecisionsSource!.Value.Precision);
        Assert.Equal(0.0, m.DecisionsSource!.Value.Recall);
        Assert.Equal(0.0, m.DecisionsSource!.Value.F1);
    }

    [Fact]
    public void LargeInputsUsePooledBuffersAndAgreeWithPairwiseDefinition()
    {
        var (scores, labels) = RandomCase(new Random(11), 5000, ties: true);
        Assert.Equal(PairwiseAuc(scores, labels), DetectionMetrics.Auc(scores, labels), Tolerance);
    }

    // ---- invariance and cross-checks ----

    [Fact]
    public void ResultsDoNotDependOnInputOrder()
    {
        var c = Case("domain_cases", "D1_dev_like_200");
        var scores = Doubles(c, "scores");
        var labels = Flags(c, "labels");
        var target = Flags(c, "domains");
        var decisions = Flags(c, "decisions");
        var reference = DetectionMetrics.Evaluate(scores, labels, target, decisions);

        var random = new Random(2023);
        for (int round = 0; round < 20; round++)
        {
            int[] order = Enumerable.Range(0, scores.Length).ToArray();
            random.Shuffle(order);
            var shuffled = DetectionMetrics.Evaluate(
                order.Select(i => scores[i]).ToArray(),
                order.Select(i => labels[i]).ToArray(),
                order.Select(i => target[i]).ToArray(),
                order.Select(i => decisions[i]).ToArray());
            // The tie-group sweep is order-free, so the results are bit-identical, not just close.
            Assert.Equal(reference, shuffled);
        }
    }

    [Fact]
    public void AucAgreesWithPairwiseMannWhitneyOnRandomInputs()
    {
        var random = new Random(12345);
        for (int round = 0; round < 300; round++)
        {
            int n = random.Next(2, 120);
            var (scores, labels) = RandomCase(random, n, ties: round % 2 == 0);
            Assert.Equal(PairwiseAuc(scores, labels), DetectionMetrics.Auc(scores, labels), Tolerance);
        }
    }

    [Fact]
    public void DomainAucsAgreeWithPairwiseDefinitionOnTheirSubsets()
    {
        var random = new Random(99);
        for (int round = 0; round < 100; round++)
        {
            int n = random.Next(6, 80);
            var scores = Enumerable.Range(0, n).Select(_ => Math.Round(random.NextDouble() * 4) / 4).ToArray();
            var labels = Enumerable.Range(0, n).Select(i => i % 3 == 0).ToArray();
            var target = Enumerable.Range(0, n).Select(i => i % 2 == 0).ToArray();
            var m = DetectionMetrics.Evaluate(scores, labels, target);

            var source = Enumerable.Range(0, n).Where(i => labels[i] || !target[i]).ToArray();
            var targetSet = Enumerable.Range(0, n).Where(i => labels[i] || target[i]).ToArray();
            Assert.Equal(PairwiseAuc(source.Select(i => scores[i]).ToArray(), source.Select(i => labels[i]).ToArray()), m.AucSource, Tolerance);
            Assert.Equal(PairwiseAuc(targetSet.Select(i => scores[i]).ToArray(), targetSet.Select(i => labels[i]).ToArray()), m.AucTarget, Tolerance);
            Assert.Equal(PairwiseAuc(scores, labels), m.Auc, Tolerance);
            Assert.Equal(DetectionMetrics.PartialAuc(scores, labels), m.PartialAuc);
        }
    }

    // ---- errors ----

    [Fact]
    public void LengthMismatchIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => DetectionMetrics.Auc([0.1, 0.2], [true]));
        Assert.Contains("2 values", e.Message);
        Assert.Throws<ArgumentException>(() => DetectionMetrics.Evaluate([0.1, 0.2], [true, false], [true]));
        Assert.Throws<ArgumentException>(() => DetectionMetrics.Evaluate([0.1, 0.2], [true, false], [true, false], [true]));
    }

    [Fact]
    public void EmptyInputIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => DetectionMetrics.Auc([], []));
        Assert.Contains("no scores", e.Message);
        Assert.Throws<ArgumentException>(() => DetectionMetrics.HarmonicMean([]));
        Assert.Throws<ArgumentException>(() => DetectionMetrics.ArithmeticMean([]));
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void NonFiniteScoresAreRejected(double bad)
    {
        var e = Assert.Throws<ArgumentException>(() => DetectionMetrics.Auc([0.1, bad, 0.3], [false, true, true]));
        Assert.Contains("score 1", e.Message);
        Assert.Throws<ArgumentException>(() => DetectionMetrics.Evaluate([0.1, bad, 0.3, 0.4], [false, true, false, true], [false, false, true, true]));
        Assert.Throws<ArgumentException>(() => DetectionMetrics.HarmonicMean([0.5, bad]));
    }

    [Fact]
    public void SingleClassIsRejectedAsUndefined()
    {
        var normal = Assert.Throws<ArgumentException>(() => DetectionMetrics.Auc([0.1, 0.2], [false, false]));
        Assert.Contains("undefined", normal.Message);
        Assert.Contains("normal", normal.Message);
        var anomalous = Assert.Throws<ArgumentException>(() => DetectionMetrics.PartialAuc([0.1, 0.2], [true, true]));
        Assert.Contains("undefined", anomalous.Message);
        Assert.Throws<ArgumentException>(() => DetectionMetrics.Evaluate([0.1, 0.2], [true, true], [false, true]));
    }

    [Fact]
    public void DomainWithoutNormalsIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            DetectionMetrics.Evaluate([0.1, 0.2, 0.9], [false, false, true], [false, false, true]));
        Assert.Contains("AUC(target) is undefined", e.Message);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-0.1)]
    [InlineData(1.0000001)]
    [InlineData(double.NaN)]
    public void MaxFprOutsideUnitIntervalIsRejected(double maxFpr)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => DetectionMetrics.PartialAuc([0.1, 0.9], [false, true], maxFpr));
        Assert.Contains("(0, 1]", e.Message);
    }

    // ---- helpers ----

    /// <summary>The O(n²) definition: P(anomaly score > normal score) + 0.5 P(equal).</summary>
    private static double PairwiseAuc(double[] scores, bool[] labels)
    {
        double wins = 0;
        long pairs = 0;
        for (int a = 0; a < scores.Length; a++)
        {
            if (!labels[a]) continue;
            for (int b = 0; b < scores.Length; b++)
            {
                if (labels[b]) continue;
                pairs++;
                if (scores[a] > scores[b]) wins += 1;
                else if (scores[a] == scores[b]) wins += 0.5;
            }
        }
        return wins / pairs;
    }

    private static (double[] Scores, bool[] Labels) RandomCase(Random random, int n, bool ties)
    {
        var scores = new double[n];
        var labels = new bool[n];
        for (int i = 0; i < n; i++)
        {
            labels[i] = random.NextDouble() < 0.4;
            double s = random.NextDouble() + (labels[i] ? 0.3 : 0.0);
            scores[i] = ties ? Math.Round(s * 10) / 10 : s;
        }
        // Both classes must be present for AUC to exist.
        labels[0] = false;
        labels[n - 1] = true;
        return (scores, labels);
    }

    private static void AssertClose(double expected, double actual) =>
        Assert.True(Math.Abs(expected - actual) <= Tolerance, $"expected {expected:R}, got {actual:R} (difference {Math.Abs(expected - actual):E3})");

    private static TheoryData<string> CaseIds(string section)
    {
        var data = new TheoryData<string>();
        foreach (var c in MetricVectors.Document.RootElement.GetProperty(section).EnumerateArray())
            data.Add(c.GetProperty("id").GetString()!);
        return data;
    }

    private static JsonElement Case(string section, string id) =>
        MetricVectors.Document.RootElement.GetProperty(section).EnumerateArray().Single(c => c.GetProperty("id").GetString() == id);

    private static double[] Doubles(JsonElement c, string name) =>
        c.GetProperty(name).EnumerateArray().Select(v => v.GetDouble()).ToArray();

    private static bool[] Flags(JsonElement c, string name) =>
        c.GetProperty(name).EnumerateArray().Select(v => v.GetInt32() switch
        {
            0 => false,
            1 => true,
            var other => throw new InvalidDataException($"{name} holds {other}, expected 0 or 1"),
        }).ToArray();

    private static int[] Ints(JsonElement array) => array.EnumerateArray().Select(v => v.GetInt32()).ToArray();
}

/// <summary>Loads ../shared/data/metric_vectors.json, found by walking up from the test binaries.</summary>
internal static class MetricVectors
{
    private static readonly Lazy<JsonDocument> Lazy = new(Load);

    public static JsonDocument Document => Lazy.Value;

    private static JsonDocument Load() => JsonDocument.Parse(File.ReadAllText(SharedData.MetricVectors));
}
