using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using AsdOrleans.Cli.Commands;
using AsdOrleans.Evaluation.Dcase;

namespace AsdOrleans.Cli.Tests;

public sealed class MetricsCommandTests : IDisposable
{
    private const double Tolerance = 1e-12;
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-metrics-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // ------------------------------------------------------------------ single CSV

    [Fact]
    public async Task CsvReproducesTheD1ReferenceCase()
    {
        var (path, expected) = WriteD1Csv();

        var (code, output, error) = await Run(path);

        Assert.Equal(0, code);
        Assert.Equal("", error);
        foreach (var key in new[] { "auc_all", "pauc", "auc_source", "auc_target", "precision_source", "recall_source", "f1_source", "precision_target", "recall_target", "f1_target" })
            Assert.Contains(expected.GetProperty(key).GetDouble().ToString("F6", CultureInfo.InvariantCulture), output);

        var metrics = DcaseEvaluator.EvaluateCsv(path);
        AssertClose(expected.GetProperty("auc_all").GetDouble(), metrics.Auc);
        AssertClose(expected.GetProperty("pauc").GetDouble(), metrics.PartialAuc);
        AssertClose(expected.GetProperty("auc_source").GetDouble(), metrics.AucSource);
        AssertClose(expected.GetProperty("auc_target").GetDouble(), metrics.AucTarget);
        AssertClose(expected.GetProperty("f1_target").GetDouble(), metrics.DecisionsTarget!.Value.F1);
    }

    [Fact]
    public async Task JsonOutputParsesAndMatchesTheD1ReferenceCase()
    {
        var (path, expected) = WriteD1Csv();

        var (code, output, _) = await Run(path, "--json");

        Assert.Equal(0, code);
        using var json = JsonDocument.Parse(output);
        var keys = json.RootElement.EnumerateObject().Select(p => p.Name).ToHashSet();
        Assert.Equal(
            new HashSet<string> { "auc", "pauc", "auc_source", "auc_target", "precision_source", "recall_source", "f1_source", "precision_target", "recall_target", "f1_target" },
            keys);
        AssertClose(expected.GetProperty("auc_all").GetDouble(), json.RootElement.GetProperty("auc").GetDouble());
        foreach (var key in keys.Where(k => k != "auc"))
            AssertClose(expected.GetProperty(key).GetDouble(), json.RootElement.GetProperty(key).GetDouble());
    }

    [Fact]
    public async Task JsonWithoutDecisionsHasOnlyTheAucKeys()
    {
        var path = Write("plain.csv", "file,label,domain,score\na.wav,0,0,0.1\nb.wav,1,0,0.9\nc.wav,0,1,0.3\nd.wav,1,1,0.2\n");

        var (code, output, _) = await Run(path, "--json");

        Assert.Equal(0, code);
        using var json = JsonDocument.Parse(output);
        Assert.Equal(new[] { "auc", "pauc", "auc_source", "auc_target" }, json.RootElement.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.Equal(0.75, json.RootElement.GetProperty("auc").GetDouble());
    }

    private const string GoodHeader = "file,label,domain,score";
    private const string GoodRows = "a.wav,normal,source,0.1\nb.wav,anomaly,source,0.9\nc.wav,normal,target,0.3\nd.wav,anomaly,target,0.7\n";

    [Theory]
    [InlineData("missing column", "file,label,score\na.wav,normal,0.1\n", 1, "missing column(s) 'domain'")]
    [InlineData("extra column", "file,label,domain,score,weight\na.wav,normal,source,0.1,1\n", 1, "unexpected column(s) 'weight'")]
    [InlineData("NaN score", GoodHeader + "\n" + GoodRows + "e.wav,normal,source,NaN\n", 6, "not a finite number")]
    [InlineData("infinite score", GoodHeader + "\n" + GoodRows + "e.wav,normal,source,1e999\n", 6, "not a finite number")]
    [InlineData("non-numeric score", GoodHeader + "\n" + GoodRows + "e.wav,normal,source,high\n", 6, "'high' is not a number")]
    [InlineData("unknown label", GoodHeader + "\na.wav,normal,source,0.1\nb.wav,broken,source,0.9\n", 3, "column 'label': 'broken' is not normal, anomaly (or anomalous), 0 or 1")]
    [InlineData("unknown domain", GoodHeader + "\na.wav,normal,elsewhere,0.1\n", 2, "column 'domain': 'elsewhere' is not source, target, 0 or 1")]
    [InlineData("bad decision", "file,label,domain,score,decision\na.wav,normal,source,0.1,yes\n", 2, "'yes' is not 0 or 1")]
    [InlineData("ragged row", GoodHeader + "\n" + GoodRows + "e.wav,normal,0.5\n", 6, "expected 4 fields")]
    [InlineData("header only", GoodHeader + "\n", 1, "only a header")]
    [InlineData("pushed clip without a DCASE name", "file,clip_id,score,anomalous,label_requested,labelled,query_reason\n"
        + "section_00_source_test_normal_0001.wav,c1,0.2,0,0,0,\nfan-7.wav,c2,0.4,1,1,1,uncertain\n", 3, "clip 'fan-7.wav' does not name its label and domain")]
    [InlineData("pushed clip with a bad alert", "file,clip_id,score,anomalous,label_requested,labelled,query_reason\n"
        + "section_00_source_test_normal_0001.wav,c1,0.2,maybe,0,0,\n", 2, "'maybe' is not 0 or 1")]
    [InlineData("duplicate file", GoodHeader + "\n" + GoodRows + "b.wav,normal,source,0.4\n", 6, "'b.wav' appears twice (first on line 3)")]
    public async Task BadCsvIsRejectedNamingFileAndLine(string what, string content, int line, string problem)
    {
        var path = Write("bad.csv", content);

        var (code, output, error) = await Run(path);

        Assert.True(code == CliRunner.BadInput, $"{what}: exit code {code}, stderr {error}");
        Assert.Equal("", output);
        Assert.StartsWith($"error: {path}:{line}: ", error);
        Assert.Contains(problem, error);
    }

    [Fact]
    public async Task A_pushed_streams_scores_give_the_metrics_of_the_same_clips_labelled_by_hand()
    {
        string[] names = ["section_00_source_test_normal_0001_a.wav", "section_00_source_test_anomaly_0002_a.wav", "section_00_target_test_normal_0003_b.wav",
            "section_00_target_test_anomaly_0004_b.wav", "section_00_source_test_normal_0005_a.wav", "section_00_target_test_anomaly_0006_b.wav"];
        double[] scores = [0.2, 0.7, 0.5, 0.4, 0.3, 0.9];
        int[] alerts = [0, 1, 1, 0, 0, 1];
        var pushed = new System.Text.StringBuilder("file,clip_id,score,anomalous,label_requested,labelled,query_reason\n");
        var labelled = new System.Text.StringBuilder("file,label,domain,score,decision\n");
        for (int i = 0; i < names.Length; i++)
        {
            string score = scores[i].ToString(System.Globalization.CultureInfo.InvariantCulture);
            pushed.Append($"{names[i]},clip-{i},{score},{alerts[i]},{i % 2},{i % 2},{(i % 2 == 1 ? "uncertain" : "")}\n");
            labelled.Append($"{names[i]},{(names[i].Contains("anomaly") ? "anomaly" : "normal")},{(names[i].Contains("target") ? "target" : "source")},{score},{alerts[i]}\n");
        }
        var (code, fromPush, error) = await Run(Write("pushed.csv", pushed.ToString()), "--json");
        Assert.True(code == 0, error);
        var (_, byHand, _) = await Run(Write("labelled.csv", labelled.ToString()), "--json");
        Assert.Equal(byHand, fromPush);
        Assert.Contains("f1_target", fromPush);
    }

    [Theory]
    [InlineData("empty file", "", "empty")]
    public async Task FileWideProblemsNameTheFile(string what, string content, string problem)
    {
        var path = Write("bad.csv", content);

        var (code, _, error) = await Run(path);

        Assert.True(code == CliRunner.BadInput, $"{what}: exit code {code}, stderr {error}");
        Assert.StartsWith($"error: {path}: ", error);
        Assert.Contains(problem, error);
        Assert.DoesNotContain("(Parameter", error);
    }

    [Fact]
    public async Task ClipsOfOneDomainGetAucAndPaucAndAnUndefinedOtherDomain()
    {
        var path = Write("source-only.csv", "file,label,domain,score,decision\na.wav,normal,source,0.1,0\nb.wav,Anomalous,0,0.35,0\n"
            + "c.wav,anomaly,source,0.8,1\nd.wav,0,source,0.4,1\ne.wav,NORMAL,source,0.2,0\n");
        double[] scores = [0.1, 0.35, 0.8, 0.4, 0.2];
        bool[] isAnomaly = [false, true, true, false, false];
        var roc = AsdOrleans.Method.Metrics.DetectionMetrics.Roc(scores, isAnomaly);

        var (code, output, error) = await Run(path);
        Assert.True(code == 0, error);
        Assert.Equal("", error);
        Assert.Contains(roc.Auc.ToString("F6", CultureInfo.InvariantCulture), output);
        Assert.Contains(roc.PartialAuc.ToString("F6", CultureInfo.InvariantCulture), output);
        Assert.Matches(@"AUC\(target\)\s+undefined", output);
        Assert.Contains("undefined: no normal clips in the target domain", output);

        (code, output, error) = await Run(path, "--json");
        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal(roc.Auc, root.GetProperty("auc").GetDouble());
        Assert.Equal(roc.PartialAuc, root.GetProperty("pauc").GetDouble());
        Assert.Equal(roc.Auc, root.GetProperty("auc_source").GetDouble());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("auc_target").ValueKind);
        Assert.Contains("AUC(target) is undefined", root.GetProperty("undefined")[0].GetString());
        Assert.Equal(0.0, root.GetProperty("precision_target").GetDouble()); // no target clips: zero division gives 0, as scikit-learn
    }

    [Fact]
    public async Task OneClassLeavesEveryAucUndefinedButStillSucceeds()
    {
        var path = Write("normal-only.csv", GoodHeader + "\na.wav,normal,source,0.1\nb.wav,normal,target,0.9\n");

        var (code, output, error) = await Run(path, "--json");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        foreach (var key in new[] { "auc", "pauc", "auc_source", "auc_target" })
            Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty(key).ValueKind);
        Assert.Contains("all 2 clips are normal", json.RootElement.GetProperty("undefined")[0].GetString());
    }

    [Fact]
    public async Task DcaseSectionWithoutTargetNormalsIsLeftOutOfTheHarmonicMeans()
    {
        var full = GenerateMachine("fan", 1, devNames: false);
        var sourceOnly = GenerateMachine("pump", 2, devNames: false);
        var keep = Enumerable.Range(0, sourceOnly.Clips.Length).Where(i => !(sourceOnly.IsTarget[i] && !sourceOnly.IsAnomaly[i])).ToArray();
        sourceOnly = new Machine("pump", [.. keep.Select(i => sourceOnly.Clips[i])], [.. keep.Select(i => sourceOnly.IsAnomaly[i])],
            [.. keep.Select(i => sourceOnly.IsTarget[i])], [.. keep.Select(i => sourceOnly.Scores[i])], [.. keep.Select(i => sourceOnly.Decisions[i])]);
        var (scoresDir, truthDir) = WriteOfficialLayout([full, sourceOnly], withDecisions: false);

        var (code, output, error) = await Run("--dcase", scoresDir, "--ground-truth", truthDir, "--json");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        var pump = root.GetProperty("sections").EnumerateArray().Single(s => s.GetProperty("machine").GetString() == "pump");
        Assert.Equal(JsonValueKind.Null, pump.GetProperty("auc_target").ValueKind);
        AssertClose(PairwiseAuc(sourceOnly, target: false), pump.GetProperty("auc_source").GetDouble());
        // The harmonic means are over the defined values only: 5 of the 6.
        var evaluation = DcaseEvaluator.EvaluateDcase(scoresDir, truthDir);
        var fan = evaluation.Sections.Single(s => s.Machine == "fan").Metrics;
        var p = evaluation.Sections.Single(s => s.Machine == "pump").Metrics;
        double expected = AsdOrleans.Method.Metrics.DetectionMetrics.HarmonicMean([fan.AucSource!.Value, p.AucSource!.Value, fan.AucTarget!.Value, fan.PartialAuc!.Value, p.PartialAuc!.Value]);
        Assert.Equal(expected, root.GetProperty("official_score").GetDouble());
        Assert.Equal(fan.AucTarget!.Value, root.GetProperty("hmean_auc_target").GetDouble(), 12);
        Assert.Equal(5, root.GetProperty("official_score_values").GetInt32());
        Assert.Equal(1, root.GetProperty("official_score_undefined").GetInt32());

        (code, output, error) = await Run("--dcase", scoresDir, "--ground-truth", truthDir);
        Assert.True(code == 0, error);
        Assert.Contains("the 5 defined of 6 values", output);
        Assert.Contains("undefined: pump section 00: no normal clips in the target domain", output);
    }

    [Theory]
    [InlineData(new string[0], "give a CSV FILE")]
    [InlineData(new[] { "x.csv", "--dcase", "d" }, "not both")]
    [InlineData(new[] { "--dcase", "d" }, "needs --ground-truth")]
    [InlineData(new[] { "x.csv", "--ground-truth", "g" }, "only used with --dcase")]
    public async Task InconsistentArgumentsAreUsageErrors(string[] args, string problem)
    {
        var (code, _, error) = await Run(args);

        Assert.Equal(CliRunner.BadInput, code);
        Assert.Contains(problem, error);
    }

    // ------------------------------------------------------------------ --dcase layout

    private sealed record Machine(string Name, string[] Clips, bool[] IsAnomaly, bool[] IsTarget, double[] Scores, bool[] Decisions);

    [Fact]
    public async Task DcaseOfficialLayoutGivesTheIndependentlyComputedHarmonicMean()
    {
        var machines = new[] { GenerateMachine("fan", 1, devNames: false), GenerateMachine("ToyCar", 2, devNames: false) };
        var (scoresDir, truthDir) = WriteOfficialLayout(machines, withDecisions: true);

        var (code, output, error) = await Run("--dcase", scoresDir, "--ground-truth", truthDir, "--json");

        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        AssertClose(ExpectedOfficialScore(machines), json.RootElement.GetProperty("official_score").GetDouble());
        var sections = json.RootElement.GetProperty("sections").EnumerateArray().ToArray();
        Assert.Equal(new[] { "ToyCar", "fan" }, sections.Select(s => s.GetProperty("machine").GetString()!).ToArray()); // ordinal, as the evaluator sorts
        foreach (var section in sections)
        {
            var machine = machines.Single(m => m.Name == section.GetProperty("machine").GetString());
            AssertClose(PairwiseAuc(machine, target: false), section.GetProperty("auc_source").GetDouble());
            AssertClose(PairwiseAuc(machine, target: true), section.GetProperty("auc_target").GetDouble());
            AssertClose(ExpectedF1(machine, target: true), section.GetProperty("f1_target").GetDouble());
        }
    }

    [Fact]
    public async Task DcaseFlatLayoutTakesDomainsFromDevSetNames()
    {
        var machines = new[] { GenerateMachine("bearing", 3, devNames: true), GenerateMachine("valve", 4, devNames: true) };
        string scoresDir = Subdirectory("scores"), truthDir = Subdirectory("truth");
        foreach (var m in machines)
        {
            WriteRows(Path.Combine(truthDir, $"ground_truth_{m.Name}_section_00_test.csv"), m, i => m.IsAnomaly[i] ? "1" : "0");
            WriteRows(Path.Combine(scoresDir, $"anomaly_score_{m.Name}_section_00_test.csv"), m, i => m.Scores[i].ToString("R", CultureInfo.InvariantCulture), shuffle: true);
        }

        var (code, output, error) = await Run("--dcase", scoresDir, "--ground-truth", truthDir);

        Assert.True(code == 0, error);
        Assert.Contains("bearing", output);
        Assert.Contains("valve", output);
        Assert.DoesNotContain("F1", output); // no decision files, no decision columns
        Assert.Contains("official score", output);
        Assert.Contains(ExpectedOfficialScore(machines).ToString("F6", CultureInfo.InvariantCulture), output);

        var evaluation = DcaseEvaluator.EvaluateDcase(scoresDir, truthDir);
        AssertClose(ExpectedOfficialScore(machines), evaluation.OfficialScore);
        Assert.False(evaluation.HasDecisions);
    }

    [Fact]
    public void DcaseFlatLayoutAcceptsADomainColumn()
    {
        var machines = new[] { GenerateMachine("slider", 5, devNames: false), GenerateMachine("gearbox", 6, devNames: false) };
        string scoresDir = Subdirectory("scores"), truthDir = Subdirectory("truth");
        foreach (var m in machines)
        {
            WriteRows(Path.Combine(truthDir, $"ground_truth_{m.Name}_section_00_test.csv"), m, i => $"{(m.IsAnomaly[i] ? 1 : 0)},{(m.IsTarget[i] ? 1 : 0)}");
            WriteRows(Path.Combine(scoresDir, $"anomaly_score_{m.Name}_section_00_test.csv"), m, i => m.Scores[i].ToString("R", CultureInfo.InvariantCulture));
        }

        var evaluation = DcaseEvaluator.EvaluateDcase(scoresDir, truthDir);

        AssertClose(ExpectedOfficialScore(machines), evaluation.OfficialScore);
    }

    [Fact]
    public async Task DcaseScoreFileMissingAClipIsAnError()
    {
        var machines = new[] { GenerateMachine("fan", 1, devNames: false), GenerateMachine("valve", 2, devNames: false) };
        var (scoresDir, truthDir) = WriteOfficialLayout(machines, withDecisions: false);
        string scorePath = Path.Combine(scoresDir, "anomaly_score_valve_section_00_test.csv");
        var lines = File.ReadAllLines(scorePath);
        string dropped = lines[7].Split(',')[0];
        File.WriteAllLines(scorePath, lines.Where((_, i) => i != 7));

        var (code, _, error) = await Run("--dcase", scoresDir, "--ground-truth", truthDir);

        Assert.Equal(CliRunner.BadInput, code);
        Assert.StartsWith($"error: {scorePath}: ", error);
        Assert.Contains("1 of the 40 clips", error);
        Assert.Contains($"'{dropped}'", error);
    }

    [Fact]
    public async Task DcaseScoreFileWithAnExtraClipIsAnError()
    {
        var machines = new[] { GenerateMachine("fan", 1, devNames: false), GenerateMachine("valve", 2, devNames: false) };
        var (scoresDir, truthDir) = WriteOfficialLayout(machines, withDecisions: false);
        string scorePath = Path.Combine(scoresDir, "anomaly_score_fan_section_00_test.csv");
        File.AppendAllText(scorePath, "section_00_9999.wav,0.5\n");

        var (code, _, error) = await Run("--dcase", scoresDir, "--ground-truth", truthDir);

        Assert.Equal(CliRunner.BadInput, code);
        Assert.StartsWith($"error: {scorePath}:41: ", error);
        Assert.Contains("'section_00_9999.wav' is not in the ground truth", error);
    }

    [Fact]
    public async Task DcaseScoreFileWithADuplicateClipIsAnError()
    {
        var machines = new[] { GenerateMachine("fan", 1, devNames: false), GenerateMachine("valve", 2, devNames: false) };
        var (scoresDir, truthDir) = WriteOfficialLayout(machines, withDecisions: false);
        string scorePath = Path.Combine(scoresDir, "anomaly_score_fan_section_00_test.csv");
        File.AppendAllText(scorePath, File.ReadLines(scorePath).First() + "\n");

        var (code, _, error) = await Run("--dcase", scoresDir, "--ground-truth", truthDir);

        Assert.Equal(CliRunner.BadInput, code);
        Assert.StartsWith($"error: {scorePath}:41: ", error);
        Assert.Contains("appears twice (first on line 1)", error);
    }

    [Fact]
    public async Task DcaseMissingScoreFileOrPartialDecisionsAreErrors()
    {
        var machines = new[] { GenerateMachine("fan", 1, devNames: false), GenerateMachine("valve", 2, devNames: false) };
        var (scoresDir, truthDir) = WriteOfficialLayout(machines, withDecisions: true);
        string decisionPath = Path.Combine(scoresDir, "decision_result_valve_section_00_test.csv");
        File.Delete(decisionPath);

        var (code, _, error) = await Run("--dcase", scoresDir, "--ground-truth", truthDir);
        Assert.Equal(CliRunner.BadInput, code);
        Assert.StartsWith($"error: {decisionPath}: no such file", error);

        string scorePath = Path.Combine(scoresDir, "anomaly_score_fan_section_00_test.csv");
        File.Delete(scorePath);
        (code, _, error) = await Run("--dcase", scoresDir, "--ground-truth", truthDir);
        Assert.Equal(CliRunner.BadInput, code);
        Assert.StartsWith($"error: {scorePath}: no such file", error);
    }

    [Fact]
    public async Task DcaseScoreFileWithoutGroundTruthIsAnError()
    {
        var machines = new[] { GenerateMachine("fan", 1, devNames: false), GenerateMachine("valve", 2, devNames: false) };
        var (scoresDir, truthDir) = WriteOfficialLayout(machines, withDecisions: false);
        string stray = Write(Path.Combine("scores", "anomaly_score_pump_section_00_test.csv"), "x.wav,0.1\n");

        var (code, _, error) = await Run("--dcase", scoresDir, "--ground-truth", truthDir);

        Assert.Equal(CliRunner.BadInput, code);
        Assert.StartsWith($"error: {stray}: no ground truth for machine 'pump'", error);
    }

    // ------------------------------------------------------------------ helpers

    private static async Task<(int Code, string Output, string Error)> Run(params string[] args)
    {
        var root = new RootCommand("test");
        root.Subcommands.Add(MetricsCommand.Create());
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = await CliRunner.RunAsync(root, ["metrics", .. args], output, error);
        return (code, output.ToString(), error.ToString());
    }

    private string Write(string relativePath, string content)
    {
        string path = Path.Combine(_dir, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    private string Subdirectory(string name) => Directory.CreateDirectory(Path.Combine(_dir, name)).FullName;

    /// <summary>The D1 vectors as a CSV with shuffled column order and word labels.</summary>
    private (string Path, JsonElement Expected) WriteD1Csv()
    {
        var d1 = LoadVectors().RootElement.GetProperty("domain_cases").EnumerateArray().Single(c => c.GetProperty("id").GetString() == "D1_dev_like_200");
        int[] Ints(string name) => d1.GetProperty(name).EnumerateArray().Select(v => v.GetInt32()).ToArray();
        var labels = Ints("labels");
        var domains = Ints("domains");
        var decisions = Ints("decisions");
        var scores = d1.GetProperty("scores").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        var csv = new StringBuilder("score,file,domain,label,decision\n");
        for (int i = 0; i < scores.Length; i++)
        {
            csv.Append(CultureInfo.InvariantCulture,
                $"{scores[i]:R},clip_{i:D3}.wav,{(domains[i] == 1 ? "target" : "source")},{(labels[i] == 1 ? "anomaly" : "normal")},{decisions[i]}\n");
        }
        return (Write("d1.csv", csv.ToString()), d1.GetProperty("expected").Clone());
    }

    private static JsonDocument LoadVectors() => JsonDocument.Parse(File.ReadAllText(SharedData.MetricVectors));

    /// <summary>40 clips: 10 per (domain, label), scores on a coarse grid so ties occur.</summary>
    private static Machine GenerateMachine(string name, int seed, bool devNames)
    {
        var random = new Random(seed);
        const int n = 40;
        var clips = new string[n];
        var isAnomaly = new bool[n];
        var isTarget = new bool[n];
        var scores = new double[n];
        var decisions = new bool[n];
        for (int i = 0; i < n; i++)
        {
            isTarget[i] = i % 2 == 1;
            isAnomaly[i] = i / 2 % 2 == 1;
            string domain = isTarget[i] ? "target" : "source";
            string label = isAnomaly[i] ? "anomaly" : "normal";
            clips[i] = devNames ? $"section_00_{domain}_test_{label}_{i:D4}_noAttribute.wav" : $"section_00_{i:D4}.wav";
            scores[i] = Math.Round((random.NextDouble() + (isAnomaly[i] ? 0.4 : 0.0) + (isTarget[i] ? 0.2 : 0.0)) * 8) / 8;
            decisions[i] = scores[i] > 0.8;
        }
        return new Machine(name, clips, isAnomaly, isTarget, scores, decisions);
    }

    private (string ScoresDir, string TruthDir) WriteOfficialLayout(Machine[] machines, bool withDecisions)
    {
        string scoresDir = Subdirectory("scores"), truthDir = Subdirectory("truth");
        string dataDir = Directory.CreateDirectory(Path.Combine(truthDir, "ground_truth_data")).FullName;
        string domainDir = Directory.CreateDirectory(Path.Combine(truthDir, "ground_truth_domain")).FullName;
        foreach (var m in machines)
        {
            string name = $"{m.Name}_section_00_test.csv";
            WriteRows(Path.Combine(dataDir, $"ground_truth_{name}"), m, i => m.IsAnomaly[i] ? "1" : "0");
            WriteRows(Path.Combine(domainDir, $"ground_truth_{name}"), m, i => m.IsTarget[i] ? "1" : "0", shuffle: true);
            WriteRows(Path.Combine(scoresDir, $"anomaly_score_{name}"), m, i => m.Scores[i].ToString("R", CultureInfo.InvariantCulture), shuffle: true);
            if (withDecisions)
                WriteRows(Path.Combine(scoresDir, $"decision_result_{name}"), m, i => m.Decisions[i] ? "1" : "0");
        }
        return (scoresDir, truthDir);
    }

    /// <summary>Headerless file_name,value rows; shuffled where the reader must match by name, not position.</summary>
    private static void WriteRows(string path, Machine m, Func<int, string> value, bool shuffle = false)
    {
        var order = Enumerable.Range(0, m.Clips.Length).ToArray();
        if (shuffle)
            new Random(path.Length).Shuffle(order);
        File.WriteAllLines(path, order.Select(i => $"{m.Clips[i]},{value(i)}"));
    }

    private static double ExpectedOfficialScore(Machine[] machines)
    {
        var values = machines.SelectMany(m => new[] { PairwiseAuc(m, target: false), PairwiseAuc(m, target: true), PartialAucByRocPoints(m) }).ToList();
        // scipy hmean after flooring at machine epsilon; none of these is near 0.
        return values.Count / values.Sum(v => 1.0 / Math.Max(v, 2.220446049250313e-16));
    }

    /// <summary>AUC(domain) by definition: that domain's normals against all anomalies, ties half.</summary>
    private static double PairwiseAuc(Machine m, bool target)
    {
        double wins = 0;
        int pairs = 0;
        for (int a = 0; a < m.Scores.Length; a++)
        {
            if (!m.IsAnomaly[a]) continue;
            for (int b = 0; b < m.Scores.Length; b++)
            {
                if (m.IsAnomaly[b] || m.IsTarget[b] != target) continue;
                pairs++;
                wins += m.Scores[a] > m.Scores[b] ? 1.0 : m.Scores[a] == m.Scores[b] ? 0.5 : 0.0;
            }
        }
        return wins / pairs;
    }

    /// <summary>McClish pAUC at FPR 0.1 straight from the ROC points at each distinct threshold.</summary>
    private static double PartialAucByRocPoints(Machine m)
    {
        const double maxFpr = 0.1;
        int positives = m.IsAnomaly.Count(a => a), negatives = m.Scores.Length - positives;
        var points = new List<(double Fpr, double Tpr)> { (0, 0) };
        foreach (double threshold in m.Scores.Distinct().OrderByDescending(s => s))
        {
            int fp = Enumerable.Range(0, m.Scores.Length).Count(i => !m.IsAnomaly[i] && m.Scores[i] >= threshold);
            int tp = Enumerable.Range(0, m.Scores.Length).Count(i => m.IsAnomaly[i] && m.Scores[i] >= threshold);
            points.Add(((double)fp / negatives, (double)tp / positives));
        }
        double area = 0;
        for (int i = 1; i < points.Count; i++)
        {
            var (x0, y0) = points[i - 1];
            var (x1, y1) = points[i];
            if (x1 <= maxFpr)
            {
                area += (x1 - x0) * (y0 + y1) / 2;
                continue;
            }
            double y = y0 + (y1 - y0) * (maxFpr - x0) / (x1 - x0);
            area += (maxFpr - x0) * (y0 + y) / 2;
            break;
        }
        double minArea = maxFpr * maxFpr / 2;
        return 0.5 * (1 + (area - minArea) / (maxFpr - minArea));
    }

    private static double ExpectedF1(Machine m, bool target)
    {
        var idx = Enumerable.Range(0, m.Scores.Length).Where(i => m.IsTarget[i] == target).ToArray();
        int tp = idx.Count(i => m.IsAnomaly[i] && m.Decisions[i]);
        int fp = idx.Count(i => !m.IsAnomaly[i] && m.Decisions[i]);
        int fn = idx.Count(i => m.IsAnomaly[i] && !m.Decisions[i]);
        return tp == 0 ? 0.0 : 2.0 * tp / (2.0 * tp + fp + fn);
    }

    private static void AssertClose(double expected, double? actual) =>
        Assert.True(actual is { } a && Math.Abs(expected - a) <= Tolerance, $"expected {expected:R}, got {actual:R}");
}
