using System.Globalization;
using AsdOrleans.Method.Metrics;
using static AsdOrleans.Cli.Tests.CliHarness;

namespace AsdOrleans.Cli.Tests;

/// <summary>`asd experiment` end to end, in-process, on a small generated embedding set.</summary>
public sealed class ExperimentCommandTests : IDisposable
{
    private const string ResultsHeader = "machine,strategy,budget,trial,auc,pauc,auc_source,auc_target,clips,queries,realised_budget,normal_labels,anomalous_labels,gamma,alpha,window,v,scoring,budget_start,target_labels,forced_labels,random_labels,declined";
    private const string SummaryHeader = "machine,strategy,budget,metric,trials,mean,ci95_low,ci95_high,gamma,alpha,window,v,scoring,budget_start,across_machines";
    private static readonly string[] Strategies = ["none", "random", "hybrid", "qbc"];
    private static readonly string[] Budgets = ["0", "0.25"];
    private static readonly string[] Machines = ["machine-00", "machine-01"];
    private const int Trials = 2;
    private const int TestClipsPerMachine = 48; // 4 × TestPerDomainAndLabel

    private readonly string _dir = Directory.CreateTempSubdirectory("asd-experiment-tests-").FullName;
    private readonly string _embeddings;

    public ExperimentCommandTests() => _embeddings = WriteSmallEmbeddings(Path.Combine(_dir, "embeddings.csv"));

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Runs `experiment` with the small protocol; <paramref name="extra"/> option/value pairs add to or replace it.</summary>
    private Task<(int Code, string Output, string Error)> Experiment(string embeddings, string outDir, params string[] extra)
    {
        var options = new List<(string Name, string Value)>
        {
            ("--embeddings", embeddings), ("--out", outDir),
            ("--strategies", string.Join(',', Strategies)), ("--budgets", string.Join(',', Budgets)), ("--trials", Trials.ToString()),
        };
        for (int i = 0; i < extra.Length; i += 2)
        {
            options.RemoveAll(o => o.Name == extra[i]);
            options.Add((extra[i], extra[i + 1]));
        }
        return Run(["experiment", .. options.SelectMany(o => new[] { o.Name, o.Value })]);
    }

    /// <summary>report.md's "Alerts at φ" rows say what the offline trials' decision_result files and the ground truth say.</summary>
    private static void AssertAlertTableMatchesTheDecisionFiles(string report, string outDir)
    {
        Assert.Contains("## Alerts at φ", report);
        string evaluator = Path.Combine(outDir, "evaluator");
        string truth = Path.Combine(evaluator, "ground_truth");
        var trials = Directory.GetDirectories(Path.Combine(evaluator, "offline"), "trial_*");
        Assert.Equal(Trials, trials.Length);
        foreach (var machine in Machines)
        {
            Dictionary<string, int> Read(string file) => File.ReadAllLines(file).Select(l => l.Split(',')).ToDictionary(f => f[0], f => int.Parse(f[1], CultureInfo.InvariantCulture));
            var isAnomaly = Read(Path.Combine(truth, "ground_truth_data", $"ground_truth_{machine}_section_00_test.csv"));
            var isTarget = Read(Path.Combine(truth, "ground_truth_domain", $"ground_truth_{machine}_section_00_test.csv"));
            double Rate(int domain, int label) => trials.Average(trial =>
            {
                var alerts = Read(Path.Combine(trial, $"decision_result_{machine}_section_00_test.csv"));
                var clips = alerts.Keys.Where(c => isTarget[c] == domain && isAnomaly[c] == label).ToList();
                return clips.Average(c => (double)alerts[c]);
            });
            string expected = $"| {machine} | {Rate(0, 0):0.000} | {Rate(1, 0):0.000} | {Rate(0, 1):0.000} | {Rate(1, 1):0.000} |";
            Assert.Contains(expected, report);
        }
    }

    // ------------------------------------------------------------------ happy path

    [Fact]
    public async Task WritesResultsAndSummaryAndPrintsTheTable()
    {
        string outDir = Path.Combine(_dir, "run");

        var (code, output, error) = await Experiment(_embeddings, outDir, "--seed", "7");

        Assert.True(code == 0, $"exit code {code}, stderr: {error}");
        Assert.Equal("", error);
        Assert.Equal(new[] { "alerts.csv", "label_headroom.csv", "report.md", "results.csv", "summary.csv", "table1.csv" }, Directory.GetFiles(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray());
        var headroom = ReadCsv(Path.Combine(outDir, "label_headroom.csv"));
        Assert.Equal("machine,anomalies,within_reach,within_reach_outscore,out_of_reach_outscore", string.Join(',', headroom[0]));
        Assert.Equal(Machines.Order(StringComparer.Ordinal), headroom.Skip(1).Select(r => r[0]));
        Assert.All(headroom.Skip(1), r => Assert.InRange(int.Parse(r[2], CultureInfo.InvariantCulture), 0, int.Parse(r[1], CultureInfo.InvariantCulture)));
        string report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        Assert.Contains("## Label headroom", report);
        AssertAlertTableMatchesTheDecisionFiles(report, outDir);
        Assert.Matches(@"Where the labels went, over all machine types and trials: .*random at b = 0\.25: \d+ labels, \d+ % normal, \d+ % on target-domain clips, \d+ forced by the budget's floor", report);

        // results.csv: one row per machine × strategy × budget × trial, values in range.
        var results = ReadCsv(Path.Combine(outDir, "results.csv"));
        Assert.Equal(ResultsHeader, string.Join(',', results[0]));
        var rows = results.Skip(1).ToList();
        Assert.All(rows, r => Assert.Equal(23, r.Length));
        var expectedKeys = (from m in Machines from s in Strategies from b in Budgets from t in Enumerable.Range(0, Trials)
                            select $"{m}|{s}|{b}|{t}").Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expectedKeys, rows.Select(r => $"{r[0]}|{r[1]}|{r[2]}|{r[3]}").Order(StringComparer.Ordinal).ToArray());
        foreach (var r in rows)
        {
            string where = string.Join(',', r);
            for (int c = 4; c <= 7; c++)
                Assert.True(D(r[c]) is >= 0 and <= 1, $"column {results[0][c]} out of [0, 1]: {where}");
            int clips = int.Parse(r[8]);
            long queries = long.Parse(r[9]), normal = long.Parse(r[11]), anomalous = long.Parse(r[12]);
            Assert.Equal(TestClipsPerMachine, clips);
            Assert.True(queries >= 0 && queries <= clips, where);
            Assert.Equal((double)queries / clips, D(r[10]), 12);
            Assert.True(normal >= 0 && anomalous >= 0, where);
            Assert.Equal((queries, 0L), (normal + anomalous, long.Parse(r[22]))); // a truthful labeller declines nothing
            long target = long.Parse(r[19]);
            Assert.True(target >= 0 && target <= queries && target <= clips / 2, $"labels on target clips: {where}");
            long forced = long.Parse(r[20]);
            Assert.True(forced >= 0 && forced <= queries, $"labels the budget's floor forced: {where}");
            long drawn = long.Parse(r[21]);
            // Random's labels are its draws or the floor's; hybrid's random branch is part of its labels; the others draw none.
            if (r[1] == "random") Assert.True(drawn + forced == queries, $"random's labels by reason: {where}");
            else if (r[1] == "hybrid") Assert.True(drawn >= 0 && drawn + forced <= queries, $"hybrid's random branch: {where}");
            else Assert.True(drawn == 0, $"no random draws: {where}");
            if (r[2] == "0" || r[1] == "none")
                Assert.True(queries == 0, $"no queries expected at budget 0 or strategy none: {where}");
        }
        Assert.Contains(rows, r => r[1] == "random" && long.Parse(r[9]) > 0);
        Assert.Contains(rows, r => long.Parse(r[19]) > 0);
        Assert.Contains(rows, r => long.Parse(r[9]) > long.Parse(r[19]));
        var hybridRows = rows.Where(r => r[1] == "hybrid" && r[2] == "0.25").ToList();
        Assert.Matches(@"hybrid at b = 0\.25: \d+ labels, \d+ % normal, \d+ % on target-domain clips, "
            + $"{hybridRows.Sum(r => long.Parse(r[21]))} by its random branch, \\d+ forced by the budget's floor", report);
        var randomRows = rows.Where(r => r[1] == "random" && r[2] == "0.25").ToList();
        long randomLabels = randomRows.Sum(r => long.Parse(r[9]));
        string Share(int column) => (100.0 * randomRows.Sum(r => long.Parse(r[column])) / randomLabels).ToString("0", CultureInfo.InvariantCulture);
        Assert.Contains($"random at b = 0.25: {randomLabels} labels, {Share(11)} % normal, {Share(19)} % on target-domain clips, "
            + $"{randomRows.Sum(r => long.Parse(r[20]))} forced by the budget's floor", report);

        // summary.csv: per machine × metric, plus hmean rows including the official score.
        var summary = ReadCsv(Path.Combine(outDir, "summary.csv"));
        Assert.Equal(SummaryHeader, string.Join(',', summary[0]));
        var srows = summary.Skip(1).ToList();
        string[] machineMetrics = ["auc", "pauc", "auc_source", "auc_target", "realised_budget"];
        var expectedSummaryKeys = (from s in Strategies from b in Budgets
                                   from key in (from m in Machines from metric in machineMetrics select $"{m}|{metric}")
                                       .Concat(machineMetrics.Append("official_score").Select(metric => $"hmean|{metric}"))
                                   select $"{s}|{b}|{key}").Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expectedSummaryKeys, srows.Select(r => $"{r[1]}|{r[2]}|{r[0]}|{r[3]}").Order(StringComparer.Ordinal).ToArray());
        foreach (var r in srows)
        {
            string where = string.Join(',', r);
            Assert.Equal(Trials.ToString(), r[4]);
            double mean = D(r[5]), low = D(r[6]), high = D(r[7]);
            Assert.True(mean is >= 0 and <= 1, where);
            Assert.True(low <= mean + 1e-12 && mean <= high + 1e-12, $"mean outside its interval: {where}");
        }

        // The official score is the per-trial harmonic mean of every machine's AUC(source), AUC(target), pAUC, averaged over trials.
        foreach (var s in Strategies)
            foreach (var b in Budgets)
            {
                double expected = Enumerable.Range(0, Trials).Average(t => DetectionMetrics.HarmonicMean(
                    rows.Where(r => r[1] == s && r[2] == b && r[3] == t.ToString())
                        .SelectMany(r => new[] { D(r[6]), D(r[7]), D(r[5]) }).ToArray()));
                var official = srows.Single(r => r[0] == "hmean" && r[1] == s && r[2] == b && r[3] == "official_score");
                Assert.Equal(expected, D(official[5]), 12);
            }

        // stdout: the summary table.
        Assert.Contains($"Harmonic mean over {Machines.Length} machine types, mean [95% CI] over {Trials} trials", output);
        Assert.Contains("Per machine", output);
        foreach (var name in Strategies.Concat(Machines))
            Assert.Contains(name, output);
        var noneAuc = srows.Single(r => r[0] == "hmean" && r[1] == "none" && r[2] == "0" && r[3] == "auc");
        Assert.Contains(D(noneAuc[5]).ToString("0.000", System.Globalization.CultureInfo.InvariantCulture), output);
        Assert.Contains($"{Machines.Length * Strategies.Length * Budgets.Length * Trials} runs (", output);
    }

    [Fact]
    public async Task Declined_requests_are_counted_apart_from_the_labels_given()
    {
        string outDir = Path.Combine(_dir, "declined");
        var (code, output, error) = await Experiment(_embeddings, outDir, "--unsure", "1", "--unsure-answer", "decline");
        Assert.True(code == 0, $"exit code {code}, stderr: {error}");
        // The rate column counts requests, declined ones too, and its heading says so (it said "labelled").
        Assert.Contains("asked (mean rate)", output);
        Assert.Contains("a declined request counted as spent", output);

        var results = ReadCsv(Path.Combine(outDir, "results.csv"));
        int Col(string name) => Array.IndexOf(results[0], name);
        var asked = results.Skip(1).Where(r => long.Parse(r[Col("queries")]) > 0).ToList();
        Assert.NotEmpty(asked);
        Assert.All(asked, r => Assert.Equal(("0", "0", r[Col("queries")]), (r[Col("normal_labels")], r[Col("anomalous_labels")], r[Col("declined")])));
        var random = asked.Where(r => r[1] == "random").ToList();
        string report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        Assert.Contains($"random at b = 0.25: {random.Sum(r => long.Parse(r[Col("queries")]))} requests, 0 labels given (none) and "
            + $"{random.Sum(r => long.Parse(r[Col("queries")]))} declined", report);
    }

    [Fact]
    public async Task The_report_states_the_source_references_each_machine_used()
    {
        async Task<(string Report, string Results)> RunWith(string name, params string[] extra)
        {
            string outDir = Path.Combine(_dir, name);
            var (code, _, error) = await Experiment(_embeddings, outDir, ["--strategies", "none", "--budgets", "0", .. extra]);
            Assert.True(code == 0, $"exit code {code}, stderr: {error}");
            return (File.ReadAllText(Path.Combine(outDir, "report.md")), File.ReadAllText(Path.Combine(outDir, "results.csv")));
        }

        // 60 source and 4 target training clips per machine: the default cap of N (512) keeps every source clip.
        var (report, _) = await RunWith("all");
        Assert.Contains("| source references in N | machine-00: all 60 source clips; machine-01: all 60 source clips |", report);

        // A cap of 24 leaves room for 20 source references: k-means, whatever --clusters asks for, and the report says so.
        var (capped, cappedResults) = await RunWith("capped", "--state-caps", "24,0,0");
        var (asked, askedResults) = await RunWith("asked", "--state-caps", "24,0,0", "--clusters", "100000");
        Assert.Equal(cappedResults, askedResults);
        foreach (var text in new[] { capped, asked })
            Assert.Contains("| source references in N | machine-00: 20 k-means centres of 60 source clips (N's cap 24 less its 4 target clips); "
                + "machine-01: 20 k-means centres of 60 source clips (N's cap 24 less its 4 target clips); k-means is seeded per trial, so the offline model differs between trials |", text);
        var rows = ReadCsv(Path.Combine(_dir, "capped", "results.csv")).Skip(1).Where(r => r[0] == "machine-00").ToList();
        Assert.True(rows.Select(r => r[4]).Distinct().Count() > 1, "trials of a k-means enrollment should differ");

        var (clustered, _) = await RunWith("clustered", "--clusters", "10");
        Assert.Contains("machine-00: 10 k-means centres of 60 source clips (k = 10)", clustered);
    }

    // ------------------------------------------------------------------ sweeps

    [Fact]
    public async Task ListsOfGammaAndVSweepEveryCombinationAndTheReportShowsEachAxis()
    {
        string outDir = Path.Combine(_dir, "sweep");

        var (code, _, error) = await Experiment(_embeddings, outDir, "--method", "paper", "--gamma", "0.2,0.8", "--v", "0.1,0.6", "--strategies", "random,hybrid");

        Assert.True(code == 0, error);
        var results = ReadCsv(Path.Combine(outDir, "results.csv"));
        var rows = results.Skip(1).ToList();
        Assert.Equal(Machines.Length * 2 * Budgets.Length * 4 * Trials, rows.Count);
        var points = rows.Select(r => $"{r[13]}|{r[14]}|{r[15]}|{r[16]}").Distinct().Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(new[] { "0.2|0.01|200|0.1", "0.2|0.01|200|0.6", "0.8|0.01|200|0.1", "0.8|0.01|200|0.6" }, points);
        // γ changes what labelled anomalies do to the scores: the hybrid runs differ between γ values.
        double MeanAuc(string gamma) => rows.Where(r => r[1] == "hybrid" && r[2] == "0.25" && r[13] == gamma).Average(r => D(r[4]));
        Assert.NotEqual(MeanAuc("0.2"), MeanAuc("0.8"));
        // The offline model depends on none of them: budget 0 rows agree across points.
        Assert.Single(rows.Where(r => r[2] == "0" && r[0] == Machines[0] && r[3] == "0").Select(r => r[4]).Distinct());

        var summary = ReadCsv(Path.Combine(outDir, "summary.csv"));
        Assert.Equal(4, summary.Skip(1).Select(r => $"{r[8]}|{r[9]}|{r[10]}|{r[11]}").Distinct().Count());
        string report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        Assert.Contains("## Sweep over gamma", report);
        Assert.Contains("## Sweep over v", report);
        Assert.DoesNotContain("## Sweep over alpha", report);
        Assert.Contains("## Harmonic mean over machine types — g0.8_a0.01_w200_v0.6", report);
        Assert.True(File.Exists(Path.Combine(outDir, "figures", "auc_hmean_g0.2_a0.01_w200_v0.6.png")));
        Assert.True(Directory.Exists(Path.Combine(outDir, "evaluator", "g0.8_a0.01_w200_v0.1", "hybrid", "b0.25", "trial_01")));
    }

    [Fact]
    public async Task A_swept_scoring_and_budget_start_name_their_paper_values_in_folders_figures_and_titles()
    {
        string outDir = Path.Combine(_dir, "named");
        var (code, output, error) = await Experiment(_embeddings, outDir, "--scoring", "paper,domain", "--budget-start", "paced,paper",
            "--strategies", "none,random", "--budgets", "0,0.25");
        Assert.True(code == 0, error);

        string[] names = ["g0.5_a0.01_w200_v0.1_paper_paced", "g0.5_a0.01_w200_v0.1_paper_paper", "g0.5_a0.01_w200_v0.1_domain_paced", "g0.5_a0.01_w200_v0.1_domain_paper"];
        var folders = Directory.GetDirectories(Path.Combine(outDir, "evaluator")).Select(Path.GetFileName).Where(f => f != "ground_truth");
        Assert.Equal(names.Order(StringComparer.Ordinal), folders.Order(StringComparer.Ordinal));
        string report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        foreach (var name in names)
        {
            Assert.Contains($"## Harmonic mean over machine types — {name}\n", report);
            Assert.Contains($"({name})", output);
            Assert.True(File.Exists(Path.Combine(outDir, "figures", $"auc_hmean_{name}.png")), name);
        }
        // Used to be the paper/paper point's name, which read as the default method.
        Assert.DoesNotContain("— g0.5_a0.01_w200_v0.1\n", report);
    }

    [Fact]
    public async Task A_paper_scored_run_says_why_nearly_every_clip_raises_an_alert_and_the_default_does_not()
    {
        const string Why = "the `paper` scoring, M, h and φ come from the enrollment normals' in-sample scores";
        string paper = Path.Combine(_dir, "paper-alerts"), defaults = Path.Combine(_dir, "default-alerts");
        var (code, output, error) = await Experiment(_embeddings, paper, "--method", "paper", "--strategies", "none", "--budgets", "0");
        Assert.True(code == 0, error);
        string report = File.ReadAllText(Path.Combine(paper, "report.md"));
        Assert.Contains(Why, report[report.IndexOf("## Alerts at φ", StringComparison.Ordinal)..]);
        Assert.Contains("the default method's φ comes from held-out scores", report);
        Assert.Contains($"alerts (alerts.csv, report.md): under {Why}", output);

        (code, output, error) = await Experiment(_embeddings, defaults, "--strategies", "none", "--budgets", "0");
        Assert.True(code == 0, error);
        Assert.DoesNotContain(Why, File.ReadAllText(Path.Combine(defaults, "report.md")));
        Assert.DoesNotContain(Why, output);
    }

    [Fact]
    public async Task Overspent_runs_are_counted_in_runs_alike_in_the_report_the_console_and_the_tables()
    {
        // The paper's budget start bursts at the start of a stream, so short streams overspend.
        string outDir = Path.Combine(_dir, "overspent");
        var (code, output, error) = await Experiment(_embeddings, outDir, "--method", "paper", "--strategies", "none,random,hybrid", "--budgets", "0,0.05,0.1");
        Assert.True(code == 0, error);
        var results = ReadCsv(Path.Combine(outDir, "results.csv"));
        int Col(string name) => Array.IndexOf(results[0], name);
        var rows = results.Skip(1).ToList();
        bool Overspends(string[] r) => AsdOrleans.Evaluation.Experiments.ExperimentSummary.Overspends(D(r[Col("budget")]), D(r[Col("realised_budget")]));
        int overspent = rows.Count(Overspends);
        Assert.True(overspent > 0, "the paper's start should overspend some of these 48-clip streams");
        string report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        string counted = $"{overspent} of {rows.Count} runs (machine type × trial) overspent";
        Assert.Contains($"**{counted}**", report);
        Assert.Contains(counted, output);
        foreach (var group in rows.GroupBy(r => (Strategy: r[Col("strategy")], Budget: r[Col("budget")])))
        {
            int n = group.Count(Overspends);
            string flag = $"{n} of {group.Count()} runs overspent";
            var tableRow = report.Split('\n').Single(l => l.StartsWith($"| {group.Key.Strategy} | {group.Key.Budget} | ", StringComparison.Ordinal));
            Assert.True(n == 0 ? !tableRow.Contains("overspent") : tableRow.EndsWith($" **{flag}** |", StringComparison.Ordinal), tableRow);
            if (n > 0)
            {
                Assert.Contains($"{group.Key.Strategy} at b = {group.Key.Budget} ({flag.Replace(" overspent", "")}, up to", report);
                Assert.Contains($", {flag}", output);
            }
        }
        Assert.DoesNotContain("machine × strategy × budget rows", output);
    }

    [Fact]
    public async Task Printed_intervals_of_bounded_metrics_stay_in_0_1_and_differences_in_minus_1_1_while_the_csv_keeps_them()
    {
        string outDir = Path.Combine(_dir, "clipped");
        var (code, output, error) = await Experiment(_embeddings, outDir);
        Assert.True(code == 0, error);
        var summary = ReadCsv(Path.Combine(outDir, "summary.csv")).Skip(1).ToList();
        Assert.Contains(summary, r => D(r[6]) < 0 || D(r[7]) > 1); // two trials: some Student-t interval passes a bound
        string report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        Assert.Contains("clipped to [0, 1]", report);
        Assert.Contains("clipped to [0, 1]", output);
        AssertPrintedIntervalsInBounds(report);
        AssertPrintedIntervalsInBounds(output);
    }

    [Fact]
    public async Task One_trial_on_one_machine_type_is_worded_as_such()
    {
        string single = Path.Combine(_dir, "single.csv");
        File.WriteAllLines(single, File.ReadAllLines(_embeddings).Where((l, i) => i == 0 || l.StartsWith("machine-00,", StringComparison.Ordinal)));
        string outDir = Path.Combine(_dir, "one");
        var (code, output, error) = await Experiment(single, outDir, "--trials", "1");
        Assert.True(code == 0, error);
        Assert.Contains("Harmonic mean over 1 machine type, 1 trial, no CI", output);
        Assert.DoesNotContain("1 machines", output);
        Assert.Contains("One trial gives no confidence interval", output);
        Assert.Contains("One trial gives no confidence interval", File.ReadAllText(Path.Combine(outDir, "report.md")));
        // summary.csv keeps NaN for its readers (it always has); the note says why.
        Assert.All(ReadCsv(Path.Combine(outDir, "summary.csv")).Skip(1), r => Assert.Equal(("NaN", "NaN"), (r[6], r[7])));
        var hmeanRealised = ReadCsv(Path.Combine(outDir, "summary.csv")).Single(r => r[0] == "hmean" && r[1] == "random" && r[2] == "0.25" && r[3] == "realised_budget");
        Assert.Equal("arithmetic", hmeanRealised[14]);
    }

    // ------------------------------------------------------------------ determinism

    [Fact]
    public async Task SameSeedGivesIdenticalFilesAndThreadCountDoesNotMatter()
    {
        async Task<(byte[] Results, byte[] Summary)> RunWith(string name, params string[] extra)
        {
            string outDir = Path.Combine(_dir, name);
            var (code, _, error) = await Experiment(_embeddings, outDir, extra);
            Assert.True(code == 0, $"{name}: exit code {code}, stderr: {error}");
            return (File.ReadAllBytes(Path.Combine(outDir, "results.csv")), File.ReadAllBytes(Path.Combine(outDir, "summary.csv")));
        }

        var first = await RunWith("a", "--seed", "11");
        var again = await RunWith("b", "--seed", "11");
        var oneThread = await RunWith("c", "--seed", "11", "--threads", "1");
        var twoThreads = await RunWith("d", "--seed", "11", "--threads", "2");
        var otherSeed = await RunWith("e", "--seed", "12");

        Assert.Equal(first.Results, again.Results);
        Assert.Equal(first.Summary, again.Summary);
        Assert.Equal(oneThread.Results, twoThreads.Results);
        Assert.Equal(oneThread.Summary, twoThreads.Summary);
        Assert.Equal(first.Results, oneThread.Results);
        Assert.Equal(first.Summary, oneThread.Summary);
        Assert.NotEqual(first.Results, otherSeed.Results);
    }

    // ------------------------------------------------------------------ bad embeddings files

    /// <summary>Cases of a broken embeddings CSV: the file text, the line the error must name (null: none), and the problem.</summary>
    private static (string Content, int? Line, string Problem) BadCase(string name, string[] valid)
    {
        var lines = valid.Select(l => l.Split(',')).ToList();
        string Text(IEnumerable<string[]> ls) => string.Join('\n', ls.Select(l => string.Join(',', l))) + "\n";
        int FirstLine(Func<string[], bool> predicate) => lines.FindIndex(1, l => predicate(l)) + 1;
        (string, int?, string) SetField(int line, int field, string value, string problem)
        {
            lines[line - 1][field] = value;
            return (Text(lines), line, problem);
        }
        int testNormal = FirstLine(l => l[1] == "test" && l[3] == "normal");
        int testAnomaly = FirstLine(l => l[1] == "test" && l[3] == "anomaly");
        int train = FirstLine(l => l[1] == "train") + 3;

        return name switch
        {
            "missing embedding column" => (Text(lines.Select(l => l.Where((_, i) => i != 5 + 3).ToArray())), 1, "embedding column 4 is 'e4', expected 'e3'"),
            "missing leading column" => (Text(lines.Select(l => l.Where((_, i) => i != 4).ToArray())), 1, "column 5 is 'e0'"),
            "no embedding columns" => (Text(lines.Select(l => l.Take(5).ToArray())), 1, "no embedding columns"),
            "extra column" => (Text(lines.Select((l, i) => l.Append(i == 0 ? "weight" : "1").ToArray())), 1, "embedding column 9 is 'weight', expected 'e8'"),
            "wrong leading header" => (Text(lines.Select((l, i) => i == 0 ? [l[0], l[1], l[3], l[2], .. l[4..]] : l)), 1, "header must start with machine,split,domain,label,file[,held_out_distance],e0,e1,…; column 3 is 'label'"),
            "duplicate header column" => SetField(1, 7, "e1", "header column 'e1' appears twice"),
            "NaN value" => SetField(testNormal, 7, "NaN", "column 'e2': NaN is not a finite number"),
            "infinite value" => SetField(testAnomaly, 5, "1e999", "column 'e0': 1e999 is not a finite number"),
            "-Infinity value" => SetField(train, 6, "-Infinity", "column 'e1': -Infinity is not a finite number"),
            "beyond single precision" => SetField(train, 6, "1e39", "column 'e1': 1e39 is out of single-precision range"),
            "non-number" => SetField(testNormal, 12, "0.1x", "column 'e7': '0.1x' is not a number"),
            "empty value" => SetField(testNormal, 12, "", "column 'e7': '' is not a number"),
            "unknown label" => SetField(testAnomaly, 3, "broken", "column 'label': 'broken' is not normal, anomaly (or anomalous), 0 or 1"),
            "unknown domain" => SetField(testNormal, 2, "elsewhere", "column 'domain': 'elsewhere' is not source, target, 0 or 1"),
            "unknown split" => SetField(train, 1, "validation", "split 'validation' is neither 'train' nor 'test'"),
            "invalid machine name" => SetField(train, 0, "bad machine!", "machine 'bad machine!' is not a valid machine id"),
            "empty file name" => SetField(train, 4, "", "column 'file' is empty"),
            "quoted field" => SetField(train, 4, "\"a.wav\"", "quoted fields are not supported"),
            "training clip labelled anomaly" => SetField(train, 3, "anomaly", "a training clip is labelled anomaly"),
            "all-zero embedding" => (Text(lines.Select((l, i) => i + 1 == testNormal ? l.Select((f, c) => c >= 5 ? "0" : f).ToArray() : l)), testNormal, "the embedding is all zeros"),
            "ragged row (short)" => (Text(lines.Select((l, i) => i + 1 == testNormal ? l[..^1] : l)), testNormal, "expected 13 fields as in the header, found 12"),
            "ragged row (long)" => (Text(lines.Select((l, i) => i + 1 == train ? l.Append("0.5").ToArray() : l)), train, "expected 13 fields as in the header, found 14"),
            "duplicate clip" => (Text(lines.Append(lines[train - 1])), lines.Count + 1, $"clip '{lines[train - 1][4]}' appears twice for machine 'machine-00' in split 'train'"),
            "empty file" => ("", null, "the file is empty"),
            "blank lines only" => ("\n \n", null, "the file is empty"),
            "header only" => (Text(lines.Take(1)), null, "the file has a header but no rows"),
            "machine with no anomalous test clips" => (Text(lines.Where(l => !(l[0] == "machine-01" && l[1] == "test" && l[3] == "anomaly"))), null,
                "machine 'machine-01' needs normal and anomalous test clips"),
            "machine with no normal test clips" => (Text(lines.Where(l => !(l[0] == "machine-00" && l[1] == "test" && l[3] == "normal"))), null,
                "machine 'machine-00' needs normal and anomalous test clips"),
            "machine with no target normal test clips" => (Text(lines.Where(l => !(l[0] == "machine-00" && l[1] == "test" && l[2] == "target" && l[3] == "normal"))), null,
                "machine 'machine-00' has no target-domain normal test clips"),
            "machine with no training clips" => (Text(lines.Where(l => !(l[0] == "machine-01" && l[1] == "train"))), null,
                "machine 'machine-01' has no training clips"),
            "held-out distance on a test clip" => HeldOut(testNormal, "0.5", "column 'held_out_distance' is for training clips"),
            "negative held-out distance" => HeldOut(train, "-0.5", "column 'held_out_distance': -0.5 is negative"),
            "held-out distance not a number" => HeldOut(train, "far", "column 'held_out_distance': 'far' is not a number"),
            _ => throw new ArgumentException($"no case '{name}'"),
        };

        // The optional column after file: a distance on every training row, empty on test rows, then one field changed.
        (string, int?, string) HeldOut(int line, string value, string problem)
        {
            var withColumn = lines.Select((l, i) => (string[])[.. l[..5], i == 0 ? "held_out_distance" : l[1] == "train" ? "0.25" : "", .. l[5..]]).ToList();
            withColumn[line - 1][5] = value;
            return (Text(withColumn), line, problem);
        }
    }

    [Theory]
    [InlineData("missing embedding column")]
    [InlineData("missing leading column")]
    [InlineData("no embedding columns")]
    [InlineData("extra column")]
    [InlineData("wrong leading header")]
    [InlineData("duplicate header column")]
    [InlineData("NaN value")]
    [InlineData("infinite value")]
    [InlineData("-Infinity value")]
    [InlineData("beyond single precision")]
    [InlineData("non-number")]
    [InlineData("empty value")]
    [InlineData("unknown label")]
    [InlineData("unknown domain")]
    [InlineData("unknown split")]
    [InlineData("invalid machine name")]
    [InlineData("empty file name")]
    [InlineData("quoted field")]
    [InlineData("training clip labelled anomaly")]
    [InlineData("all-zero embedding")]
    [InlineData("ragged row (short)")]
    [InlineData("ragged row (long)")]
    [InlineData("duplicate clip")]
    [InlineData("empty file")]
    [InlineData("blank lines only")]
    [InlineData("header only")]
    [InlineData("machine with no anomalous test clips")]
    [InlineData("machine with no normal test clips")]
    [InlineData("machine with no target normal test clips")]
    [InlineData("machine with no training clips")]
    [InlineData("held-out distance on a test clip")]
    [InlineData("negative held-out distance")]
    [InlineData("held-out distance not a number")]
    public async Task BadEmbeddingsAreRejectedNamingFileLineAndProblemAndWriteNothing(string what)
    {
        var (content, line, problem) = BadCase(what, File.ReadAllLines(_embeddings));
        string path = Path.Combine(_dir, "bad.csv");
        File.WriteAllText(path, content);
        string outDir = Path.Combine(_dir, "out");

        var (code, output, error) = await Experiment(path, outDir);

        Assert.True(code == CliRunner.BadInput, $"{what}: exit code {code}, stderr: {error}");
        Assert.Equal("", output);
        Assert.StartsWith(line is null ? $"error: {path}: " : $"error: {path}:{line}: ", error);
        Assert.Contains(problem, error);
        Assert.Single(error.TrimEnd().Split('\n'));
        Assert.False(Directory.Exists(outDir), $"{what}: --out folder was created");
    }

    [Theory]
    [InlineData("NaN value")]
    [InlineData("header only")]
    [InlineData("machine with no anomalous test clips")]
    public async Task BadEmbeddingsLeaveAnExistingOutputFolderAsItWas(string what)
    {
        var (content, _, problem) = BadCase(what, File.ReadAllLines(_embeddings));
        string path = Path.Combine(_dir, "bad.csv");
        File.WriteAllText(path, content);
        string outDir = Directory.CreateDirectory(Path.Combine(_dir, "existing")).FullName;
        File.WriteAllText(Path.Combine(outDir, "notes.txt"), "keep me\n");
        var before = Snapshot(outDir);

        // --force lets the run write into the non-empty folder; the bad file must still leave it as it was.
        var (code, _, error) = await Experiment(path, outDir, "--force", "true");

        Assert.Equal(CliRunner.BadInput, code);
        Assert.Contains(problem, error);
        Assert.Equal(before, Snapshot(outDir));
    }

    [Fact]
    public async Task NonexistentEmbeddingsFileIsNamed()
    {
        string path = Path.Combine(_dir, "no-such.csv");
        string outDir = Path.Combine(_dir, "out");

        var (code, _, error) = await Experiment(path, outDir);

        Assert.Equal(CliRunner.BadInput, code);
        Assert.StartsWith($"error: --embeddings: '{path}' does not exist", error);
        Assert.False(Directory.Exists(outDir));
    }

    // ------------------------------------------------------------------ impossible parameters

    [Theory]
    [InlineData("--budgets", "1.5", "--budgets: 1.5 is outside [0, 1]")]
    [InlineData("--budgets", "-0.1", "--budgets: -0.1 is outside [0, 1]")]
    [InlineData("--budgets", "abc", "--budgets: 'abc' is not a finite number")]
    [InlineData("--budgets", "0,NaN", "--budgets: 'NaN' is not a finite number")]
    [InlineData("--budgets", "0.1,0.1", "a budget is listed twice")]
    [InlineData("--strategies", "foo", "--strategies: unknown query strategy 'foo'")]
    [InlineData("--strategies", "none,none", "a strategy is listed twice")]
    [InlineData("--trials", "0", "trials must be at least 1")]
    [InlineData("--gamma", "2", "gamma γ must be in [0, 1], got 2")]
    [InlineData("--alpha", "1", "alpha α must be in [0, 1), got 1")]
    [InlineData("--window", "0", "budget window w must be at least 1, got 0")]
    [InlineData("--v", "-1", "random share v must be in [0, 1], got -1")]
    [InlineData("--threads", "0", "--threads must be at least 1")]
    [InlineData("--gamma", "0.2,1.5", "gamma γ must be in [0, 1], got 1.5")]
    [InlineData("--gamma", "0.2,x", "--gamma: 'x' is not a finite number")]
    [InlineData("--window", "100,2.5", "--window: '2.5' is not a whole number")]
    [InlineData("--alpha", "0.01,0.01", "alpha: a value is listed twice")]
    [InlineData("--v", "", "--v: '' is not a finite number")]
    public async Task ImpossibleParametersAreUsageErrors(string option, string value, string problem)
    {
        string outDir = Path.Combine(_dir, "out");

        var (code, output, error) = await Experiment(_embeddings, outDir, option, value);

        Assert.True(code == CliRunner.BadInput, $"{option} {value}: exit code {code}, stderr: {error}");
        Assert.Equal("", output);
        Assert.StartsWith("error: ", error);
        Assert.Contains(problem, error);
        Assert.False(Directory.Exists(outDir));
    }

    [Theory]
    [InlineData("--trials", "abc")]
    [InlineData("--seed", "-1")]
    [InlineData("--no-such-option", "1")]
    public async Task UnparsableArgumentsAreUsageErrorsToo(string option, string value)
    {
        string outDir = Path.Combine(_dir, "out");

        var (code, _, error) = await Experiment(_embeddings, outDir, option, value);

        Assert.True(code == CliRunner.BadInput, $"{option} {value}: exit code {code}, stderr: {error}");
        Assert.StartsWith("error: ", error);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public async Task ImpossibleParametersLeaveAnExistingOutputFolderAsItWas()
    {
        string outDir = Directory.CreateDirectory(Path.Combine(_dir, "existing")).FullName;
        File.WriteAllText(Path.Combine(outDir, "results.csv"), "old results\n");
        var before = Snapshot(outDir);

        var (code, _, _) = await Experiment(_embeddings, outDir, "--trials", "0");

        Assert.Equal(CliRunner.BadInput, code);
        Assert.Equal(before, Snapshot(outDir));
    }

    [Fact]
    public async Task OutPointingAtAFileIsAUsageErrorAndTheFileIsKept()
    {
        string file = Path.Combine(_dir, "taken");
        File.WriteAllText(file, "not a folder\n");

        var (code, _, error) = await Experiment(_embeddings, file);

        Assert.Equal(CliRunner.BadInput, code);
        Assert.StartsWith("error: --out: ", error);
        Assert.Contains("is a file", error);
        Assert.Equal("not a folder\n", File.ReadAllText(file));
        Assert.Equal(new[] { "embeddings.csv", "taken" }, Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public async Task OutUnderAFileIsAUsageError()
    {
        string file = Path.Combine(_dir, "taken");
        File.WriteAllText(file, "not a folder\n");
        string outDir = Path.Combine(file, "run");

        var (code, _, error) = await Experiment(_embeddings, outDir);

        Assert.Equal(CliRunner.BadInput, code);
        Assert.StartsWith("error: ", error);
        Assert.Contains(outDir, error);
        Assert.Equal("not a folder\n", File.ReadAllText(file));
    }
}
