using System.Globalization;
using static AsdOrleans.Cli.Tests.CliHarness;

namespace AsdOrleans.Cli.Tests;

/// <summary>`asd pool` over real `asd experiment` runs of two small embedding sets (two "plants").</summary>
public sealed class PoolCommandTests : IDisposable
{
    private const string Budget = "0.25";
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-pool-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>An experiment on a small embedding set of the given seed, into a folder named for it.</summary>
    private Task<string> RunPlant(ulong seed, params string[] extra) => RunPlantAs(seed, $"plant{seed}", extra);

    private Task<string> RunPlantAs(ulong seed, string name, params string[] extra) => RunPlantWithBudgets(seed, name, $"0,{Budget}", extra);

    private async Task<string> RunPlantWithBudgets(ulong seed, string name, string budgets, params string[] extra)
    {
        string embeddings = WriteSmallEmbeddings(Path.Combine(_dir, $"embeddings{seed}.csv"), seed);
        string run = Path.Combine(_dir, name);
        var (code, _, error) = await Run(["experiment", "--embeddings", embeddings, "--out", run,
            "--strategies", "none,random,hybrid", "--budgets", budgets, "--trials", "3", .. extra]);
        Assert.True(code == 0, error);
        return run;
    }

    /// <summary>summary.csv's harmonic-mean mean of one strategy, budget and metric.</summary>
    private static double SummaryMean(string run, string strategy, string budget, string metric)
        => D(ReadCsv(Path.Combine(run, "summary.csv")).Single(r => r[0] == "hmean" && r[1] == strategy && r[2] == budget && r[3] == metric)[5]);

    [Fact]
    public async Task Declined_requests_are_pooled_apart_and_the_normal_share_is_of_the_labels_given()
    {
        string[] unsure = ["--unsure", "0.5", "--unsure-answer", "decline"];
        string a = await RunPlantAs(3, "unsure3", unsure), b = await RunPlantAs(4, "unsure4", unsure);
        string outDir = Path.Combine(_dir, "pooled-unsure");
        var (code, output, error) = await Run("pool", a, b, "--out", outDir);
        Assert.True(code == 0, error);

        var csv = ReadCsv(Path.Combine(outDir, "pooled.csv"));
        int Col(string name) => Array.IndexOf(csv[0], name);
        var results = new[] { a, b }.SelectMany(run => ReadCsv(Path.Combine(run, "results.csv")) is var rows
            ? rows.Skip(1).Where(r => r[1] == "hybrid" && r[2] == Budget).Select(r => (Normal: long.Parse(r[Array.IndexOf(rows[0], "normal_labels")], CultureInfo.InvariantCulture),
                Anomalous: long.Parse(r[Array.IndexOf(rows[0], "anomalous_labels")], CultureInfo.InvariantCulture), Declined: long.Parse(r[Array.IndexOf(rows[0], "declined")], CultureInfo.InvariantCulture)))
            : []).ToList();
        long declined = results.Sum(r => r.Declined), normal = results.Sum(r => r.Normal), answered = normal + results.Sum(r => r.Anomalous);
        Assert.True(declined > 0, "half the asked clips are unsure: some requests are declined");
        var pooled = csv.Single(r => r[0] == "pooled" && r[1] == "hybrid");
        Assert.Equal(declined, long.Parse(pooled[Col("declined")], CultureInfo.InvariantCulture));
        Assert.Equal(answered + declined, long.Parse(pooled[Col("labels")], CultureInfo.InvariantCulture));
        // The share of normal labels is of the labels given, not of every request.
        string share = (100.0 * normal / answered).ToString("0.0", CultureInfo.InvariantCulture) + " %";
        Assert.Contains(share, File.ReadAllText(Path.Combine(outDir, "pooled.md")));
    }

    [Fact]
    public async Task Pooled_gains_are_each_runs_paired_gain_and_their_mean_over_runs()
    {
        string a = await RunPlant(3), b = await RunPlant(4);
        string outDir = Path.Combine(_dir, "pooled");

        var (code, output, error) = await Run("pool", a, b, "--out", outDir);

        Assert.True(code == 0, error);
        Assert.Contains("AUC − offline", output);
        var csv = ReadCsv(Path.Combine(outDir, "pooled.csv"));
        var header = csv[0].ToList();
        int Col(string name) => header.IndexOf(name);
        var gains = new Dictionary<string, List<double>>();
        foreach (var strategy in new[] { "random", "hybrid" })
        {
            var perRun = new List<double>();
            foreach (var (run, name) in new[] { (a, "plant3"), (b, "plant4") })
            {
                var row = csv.Single(r => r[0] == name && r[1] == strategy);
                // The summary's difference of trial means equals the pool's mean of per-trial differences.
                double expected = SummaryMean(run, strategy, Budget, "auc") - SummaryMean(run, "none", "0", "auc");
                Assert.Equal(expected, D(row[Col("auc_gain")]), 12);
                Assert.Equal(SummaryMean(run, strategy, Budget, "pauc") - SummaryMean(run, "none", "0", "pauc"), D(row[Col("pauc_gain")]), 12);
                Assert.Equal(SummaryMean(run, strategy, Budget, "realised_budget"), D(row[Col("realised_budget")]), 12);
                Assert.Equal(SummaryMean(run, "none", "0", "auc"), D(row[Col("offline_auc")]), 12);
                Assert.True(D(row[Col("auc_gain_ci95_low")]) <= D(row[Col("auc_gain")]) && D(row[Col("auc_gain")]) <= D(row[Col("auc_gain_ci95_high")]));
                var results = ReadCsv(Path.Combine(run, "results.csv")).Skip(1).Where(r => r[1] == strategy && r[2] == Budget).ToList();
                Assert.Equal(results.Sum(r => long.Parse(r[9], CultureInfo.InvariantCulture)), long.Parse(row[Col("labels")], CultureInfo.InvariantCulture));
                Assert.Equal(results.Sum(r => long.Parse(r[19], CultureInfo.InvariantCulture)), long.Parse(row[Col("target_labels")], CultureInfo.InvariantCulture));
                Assert.Equal(results.Sum(r => long.Parse(r[20], CultureInfo.InvariantCulture)), long.Parse(row[Col("forced_labels")], CultureInfo.InvariantCulture));
                Assert.Equal(results.Sum(r => long.Parse(r[21], CultureInfo.InvariantCulture)), long.Parse(row[Col("random_labels")], CultureInfo.InvariantCulture));
                perRun.Add(expected);
            }
            var pooled = csv.Single(r => r[0] == "pooled" && r[1] == strategy);
            double mean = perRun.Average();
            // Two runs: the Student-t quantile with 1 degree of freedom, 12.706, times the standard error.
            double half = 12.706204736174698 * Math.Abs(perRun[0] - perRun[1]) / Math.Sqrt(2) / Math.Sqrt(2);
            Assert.Equal(mean, D(pooled[Col("auc_gain")]), 12);
            Assert.Equal(mean - half, D(pooled[Col("auc_gain_ci95_low")]), 9);
            Assert.Equal(mean + half, D(pooled[Col("auc_gain_ci95_high")]), 9);
            gains[strategy] = perRun;
        }

        string md = File.ReadAllText(Path.Combine(outDir, "pooled.md"));
        Assert.Contains("asd pool", md);
        foreach (var figure in new[] { "auc_gain.png", "pauc_gain.png" })
        {
            var png = File.ReadAllBytes(Path.Combine(outDir, "figures", figure));
            Assert.True(png.Length > 1000 && png[1] == (byte)'P' && png[2] == (byte)'N' && png[3] == (byte)'G', figure);
            Assert.Contains($"(figures/{figure})", md);
        }
        Assert.Contains("— (no baseline.csv)", md);
        Assert.Contains("| run | strategy | offline AUC / pAUC | b = 0.25 |", md); // one setting: no point column
        foreach (var strategy in new[] { "random", "hybrid" })
        {
            int below = gains[strategy].Count(g => g < 0);
            Assert.Matches($@"\| {strategy} \| 0\.25 \| 2 \| [^|]+\| [^|]+\| [^|]+\| [^|]+\| [^|]+\| [^|]+\| [^|]+\| {below} / \d \|", md);
        }
        double lowestOffline = Math.Min(SummaryMean(a, "none", "0", "auc"), SummaryMean(b, "none", "0", "auc"));
        Assert.Contains($"{lowestOffline.ToString("0.000", CultureInfo.InvariantCulture)} (plant{(SummaryMean(a, "none", "0", "auc") <= SummaryMean(b, "none", "0", "auc") ? 3 : 4)})", md);
    }

    [Fact]
    public async Task The_baseline_is_compared_machine_type_by_machine_type()
    {
        string a = await RunPlant(3), b = await RunPlant(4);
        // baseline.csv as `asd experiment --data` writes it: one run's baseline 0.06 under the offline model on machine-00
        // and 0.04 under it on machine-01, the other's 0.10 under on both.
        double Offline(string run, string machine) => D(ReadCsv(Path.Combine(run, "table1.csv")).Single(r => r[0] == machine && r[1] == "auc")[3]);
        void WriteBaseline(string run, double lead0, double lead1) => File.WriteAllText(Path.Combine(run, "baseline.csv"),
            "machine,metric,trials,mean,ci95_low,ci95_high\n" + string.Concat(new[] { ("machine-00", lead0), ("machine-01", lead1) }.Select(m =>
            {
                string auc = (Offline(run, m.Item1) - m.Item2).ToString("R", CultureInfo.InvariantCulture);
                return $"{m.Item1},auc,3,{auc},{auc},{auc}\n{m.Item1},pauc,3,0.5,0.5,0.5\n";
            })) + "hmean,auc,3,0.1,0.1,0.1\n");
        WriteBaseline(a, 0.06, 0.04);
        WriteBaseline(b, 0.10, 0.10);
        string outDir = Path.Combine(_dir, "pooled");

        var (code, _, error) = await Run("pool", a, b, "--out", outDir);

        Assert.True(code == 0, error);
        string md = File.ReadAllText(Path.Combine(outDir, "pooled.md"));
        Assert.Contains("3 / 4 ≥ +0.05; smallest +0.040 (plant3 machine-01)", md);

        var (strict, _, strictError) = await Run("pool", a, b, "--out", outDir, "--force", "--baseline-margin", "0.07");
        Assert.True(strict == 0, strictError);
        Assert.Contains("2 / 4 ≥ +0.07", File.ReadAllText(Path.Combine(outDir, "pooled.md")));
    }

    [Fact]
    public async Task Bad_runs_are_refused_and_nothing_is_written()
    {
        string a = await RunPlant(3);
        string outDir = Path.Combine(_dir, "pooled");
        string empty = Directory.CreateDirectory(Path.Combine(_dir, "not-a-run")).FullName;

        var (code, _, error) = await Run("pool", a, empty, "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("not-a-run' has no results.csv", error);
        Assert.False(Directory.Exists(outDir));

        (code, _, error) = await Run("pool", a, Path.Combine(_dir, "missing"), "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("missing", error);
        Assert.False(Directory.Exists(outDir));

        // A damaged row names its file and line.
        string damaged = Path.Combine(_dir, "damaged");
        Directory.CreateDirectory(damaged);
        var lines = File.ReadAllLines(Path.Combine(a, "results.csv"));
        lines[5] = lines[5].Replace(",random,", ",randum,").Replace(",hybrid,", ",hybird,").Replace(",none,", ",nobody,");
        File.WriteAllLines(Path.Combine(damaged, "results.csv"), lines);
        (code, _, error) = await Run("pool", a, damaged, "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("results.csv:6: column 'strategy'", error);
        Assert.False(Directory.Exists(outDir));

        // A run without the offline model (neither budget 0 nor strategy none) cannot be paired.
        string noOffline = Path.Combine(_dir, "no-offline");
        Directory.CreateDirectory(noOffline);
        File.WriteAllLines(Path.Combine(noOffline, "results.csv"), lines.Take(1).Concat(File.ReadAllLines(Path.Combine(a, "results.csv")).Skip(1)
            .Where(l => l.Split(',')[2] != "0" && l.Split(',')[1] != "none")));
        (code, _, error) = await Run("pool", a, noOffline, "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("no-offline' has no offline model", error);
        Assert.False(Directory.Exists(outDir));

        // The same folder twice would count one plant twice.
        (code, _, error) = await Run("pool", a, a, "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("two runs are named 'plant3'", error);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public async Task A_run_without_budget_0_pairs_with_none_at_its_first_budget_as_its_own_report_does()
    {
        // `--budgets 0.25` alone: the report pairs every strategy with `none` at 0.25, which never queries.
        string a = await RunPlant(3), b = await RunPlantWithBudgets(3, "plant3-no-zero", Budget);
        Assert.DoesNotContain(ReadCsv(Path.Combine(b, "results.csv")).Skip(1), r => r[2] == "0");
        string outA = Path.Combine(_dir, "pooled-a"), outB = Path.Combine(_dir, "pooled-b");

        var (codeA, _, errorA) = await Run("pool", a, "--out", outA);
        var (codeB, _, errorB) = await Run("pool", b, "--out", outB);

        Assert.True(codeA == 0, errorA);
        Assert.True(codeB == 0, errorB);
        var csvA = ReadCsv(Path.Combine(outA, "pooled.csv"));
        var csvB = ReadCsv(Path.Combine(outB, "pooled.csv"));
        var header = csvB[0].ToList();
        foreach (var strategy in new[] { "random", "hybrid" })
        {
            var rowB = csvB.Single(r => r[0] == "plant3-no-zero" && r[1] == strategy);
            // The same gain as the run with budget 0 (none runs the same streams at either budget), and the run's own summary.
            Assert.Equal(D(csvA.Single(r => r[0] == "plant3" && r[1] == strategy)[header.IndexOf("auc_gain")]), D(rowB[header.IndexOf("auc_gain")]), 12);
            Assert.Equal(SummaryMean(b, strategy, Budget, "auc") - SummaryMean(b, "none", Budget, "auc"), D(rowB[header.IndexOf("auc_gain")]), 12);
        }
    }

    [Fact]
    public async Task A_sweep_is_pooled_point_by_point()
    {
        string a = await RunPlant(3, "--gamma", "0,1"), b = await RunPlant(4, "--gamma", "0,1");
        string outDir = Path.Combine(_dir, "pooled");

        var (code, _, error) = await Run("pool", a, b, "--out", outDir);

        Assert.True(code == 0, error);
        var csv = ReadCsv(Path.Combine(outDir, "pooled.csv"));
        Assert.Equal(2 * 2 * 3, csv.Count - 1); // 2 strategies × 2 γ × (2 runs + pooled)
        string md = File.ReadAllText(Path.Combine(outDir, "pooled.md"));
        Assert.Contains("| g0_a0.01_w200_v0.1_domain_paced |", md);
        Assert.Contains("| g1_a0.01_w200_v0.1_domain_paced |", md);
        // The per-run table: a row per run, point and strategy, with that point's own offline model and a column per budget.
        var perRun = md[md.IndexOf("## Per run", StringComparison.Ordinal)..].Split('\n').Where(l => l.StartsWith("| plant", StringComparison.Ordinal)).ToList();
        Assert.Equal(2 * 2 * 2, perRun.Count); // 2 runs × 2 γ × 2 strategies
        foreach (var (run, gamma, strategy) in from r in new[] { (a, "plant3"), (b, "plant4") } from g in new[] { "0", "1" } from st in new[] { "random", "hybrid" } select (r, g, st))
        {
            var rows = ReadCsv(Path.Combine(run.Item1, "summary.csv")).Where(r => r[0] == "hmean" && r[3] == "auc" && r[8] == gamma).ToList();
            double offline = D(rows.Single(r => r[1] == "none" && r[2] == "0")[5]), gain = D(rows.Single(r => r[1] == strategy && r[2] == Budget)[5]) - offline;
            Assert.Contains(perRun, l => l.StartsWith($"| {run.Item2} | g{gamma}_a0.01_w200_v0.1_domain_paced | {strategy} | {offline.ToString("0.000", CultureInfo.InvariantCulture)} / ", StringComparison.Ordinal)
                && l.Contains($"| {gain.ToString("+0.000;−0.000;0.000", CultureInfo.InvariantCulture)} [", StringComparison.Ordinal));
        }
        Assert.Contains("| run | point | strategy | offline AUC / pAUC | b = 0.25 |", md);
        Assert.Equal(new[] { "auc_gain_g0_a0.01_w200_v0.1_domain_paced.png", "auc_gain_g1_a0.01_w200_v0.1_domain_paced.png",
                "pauc_gain_g0_a0.01_w200_v0.1_domain_paced.png", "pauc_gain_g1_a0.01_w200_v0.1_domain_paced.png" },
            Directory.GetFiles(Path.Combine(outDir, "figures")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public async Task Two_methods_are_compared_plant_by_plant()
    {
        string a3 = await RunPlant(3), a4 = await RunPlant(4);
        string b3 = await RunPlantAs(3, "paper3", "--method", "paper"), b4 = await RunPlantAs(4, "paper4", "--method", "paper");
        string outDir = Path.Combine(_dir, "pooled");

        var (code, output, error) = await Run("pool", a3, a4, "--against", b3, b4, "--out", outDir);

        Assert.True(code == 0, error);
        Assert.Contains("Against the --against runs", output);
        var rows = ReadCsv(Path.Combine(outDir, "against.csv"));
        Assert.Equal("run,against,strategy,budget,auc_difference,pauc_difference,ci95_low_auc,ci95_high_auc,ci95_low_pauc,ci95_high_pauc", string.Join(',', rows[0]));
        foreach (var (strategy, budget, summaryStrategy) in new[] { ("offline", "0", "none"), ("random", Budget, "random"), ("hybrid", Budget, "hybrid") })
        {
            var perPlant = new List<double>();
            foreach (var (a, b, name) in new[] { (a3, b3, "plant3"), (a4, b4, "plant4") })
            {
                var row = rows.Single(r => r[0] == name && r[2] == strategy);
                Assert.Equal(name.Replace("plant", "paper"), row[1]);
                double expected = SummaryMean(a, summaryStrategy, budget, "auc") - SummaryMean(b, summaryStrategy, budget, "auc");
                Assert.Equal(expected, D(row[4]), 12);
                Assert.Equal(SummaryMean(a, summaryStrategy, budget, "pauc") - SummaryMean(b, summaryStrategy, budget, "pauc"), D(row[5]), 12);
                perPlant.Add(expected);
            }
            var pooled = rows.Single(r => r[0] == "pooled" && r[2] == strategy);
            Assert.Equal(perPlant.Average(), D(pooled[4]), 12);
            Assert.True(D(pooled[6]) <= D(pooled[4]) && D(pooled[4]) <= D(pooled[7]));
        }
        Assert.Contains("plant3 with paper3, plant4 with paper4", File.ReadAllText(Path.Combine(outDir, "pooled.md")));
        Assert.DoesNotContain("warning", output);
    }

    [Fact]
    public async Task Runs_paired_with_runs_on_other_data_are_refused_when_the_order_is_wrong_and_warned_of_otherwise()
    {
        string a3 = await RunPlant(3), a4 = await RunPlant(4);
        string b3 = await RunPlantAs(3, "paper3", "--method", "paper"), b4 = await RunPlantAs(4, "paper4", "--method", "paper");
        string b5 = await RunPlantAs(5, "paper5", "--method", "paper");
        string outDir = Path.Combine(_dir, "pooled");

        // The same plants in the other order: each report.md names its data, so the pairing is a mistake.
        var (code, _, error) = await Run("pool", a3, a4, "--against", b4, b3, "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("--against pairs runs by position, and plant3 (", error);
        Assert.Contains($"in the order {b3} {b4} each run is paired with a run on its own data", error);
        Assert.False(Directory.Exists(outDir));

        // A run on data no run of the other side read may be the same plant under another path: pooled, with a warning.
        (code, var output, error) = await Run("pool", a3, a4, "--against", b3, b5, "--out", outDir);
        Assert.True(code == 0, error);
        string pair = $"plant4 ({Path.Combine(_dir, "embeddings4.csv")}) with paper5 ({Path.Combine(_dir, "embeddings5.csv")})";
        Assert.Contains("warning: --against pairs runs by position, and 1 of the pairs read other data", output);
        Assert.Contains(pair, output);
        Assert.Contains(pair, File.ReadAllText(Path.Combine(outDir, "pooled.md")));
    }

    [Fact]
    public async Task Alerts_are_pooled_from_each_runs_alerts_csv_and_compared_plant_by_plant()
    {
        string a3 = await RunPlant(3), a4 = await RunPlant(4);
        string b3 = await RunPlantAs(3, "single3", "--decision-thresholds", "single"), b4 = await RunPlantAs(4, "single4", "--decision-thresholds", "single");
        string outDir = Path.Combine(_dir, "pooled");

        var (code, output, error) = await Run("pool", a3, a4, "--against", b3, b4, "--out", outDir);

        Assert.True(code == 0, error);
        Assert.Contains("Alerts at φ", output);
        // Each run's alerts.csv: the machine types of its report; the scores do not depend on the setting, the alerts do.
        var alertsA = ReadCsv(Path.Combine(a3, "alerts.csv"));
        Assert.Equal("machine,trials,false_alerts_source,false_alerts_target,recall_source,recall_target,f1_source,f1_target", string.Join(',', alertsA[0]));
        Assert.Equal(ReadCsv(Path.Combine(a3, "results.csv")).Skip(1).Select(r => r[0]).Distinct().Order(StringComparer.Ordinal), alertsA.Skip(1).Select(r => r[0]));
        Assert.Equal(SummaryMean(a3, "none", "0", "auc"), SummaryMean(b3, "none", "0", "auc"));
        Assert.Contains("| decision thresholds φ | single |", File.ReadAllText(Path.Combine(b3, "report.md")));

        double RunMean(string run, string measure)
        {
            var rows = ReadCsv(Path.Combine(run, "alerts.csv"));
            int column = Array.IndexOf(rows[0], measure);
            return rows.Skip(1).Average(r => D(r[column]));
        }
        var pooled = ReadCsv(Path.Combine(outDir, "pooled_alerts.csv"));
        Assert.Equal("run,against,measure,value,ci95_low,ci95_high", string.Join(',', pooled[0]));
        foreach (var measure in new[] { "false_alerts_target", "recall_source", "f1_target" })
        {
            Assert.Equal(RunMean(a3, measure), D(pooled.Single(r => r[0] == "plant3" && r[2] == measure)[3]), 12);
            Assert.Equal((RunMean(a3, measure) + RunMean(a4, measure)) / 2, D(pooled.Single(r => r[0] == "pooled" && r[2] == measure)[3]), 12);
            var difference = pooled.Single(r => r[0] == "plant4" && r[2] == measure + "_difference");
            Assert.Equal("single4", difference[1]);
            Assert.Equal(RunMean(a4, measure) - RunMean(b4, measure), D(difference[3]), 12);
        }
        // One φ is fitted mostly on source scores, so the machines set to single differ in where their alerts fall.
        Assert.NotEqual(File.ReadAllText(Path.Combine(a3, "alerts.csv")), File.ReadAllText(Path.Combine(b3, "alerts.csv")));
        Assert.Contains("Alerts at φ against the --against runs", File.ReadAllText(Path.Combine(outDir, "pooled.md")));

        // Over two runs a Student-t interval is wide: pooled_alerts.csv keeps it as computed, the tables clip it.
        Assert.Contains(pooled.Skip(1).Where(r => r[4].Length > 0), r => D(r[4]) < -1 || D(r[5]) > 1 || (!r[2].EndsWith("_difference") && (D(r[4]) < 0 || D(r[5]) > 1)));
        string md = File.ReadAllText(Path.Combine(outDir, "pooled.md"));
        Assert.Contains("clipped to [0, 1]", md);
        Assert.Contains("clipped to [0, 1]", output);
        AssertPrintedIntervalsInBounds(md);
        AssertPrintedIntervalsInBounds(output);
    }

    [Fact]
    public async Task A_damaged_alerts_csv_is_refused_naming_its_line()
    {
        string a3 = await RunPlant(3);
        var lines = File.ReadAllLines(Path.Combine(a3, "alerts.csv"));
        lines[1] = string.Join(',', lines[1].Split(',').Select((f, i) => i == 3 ? "1.5" : f));
        File.WriteAllLines(Path.Combine(a3, "alerts.csv"), lines);
        string outDir = Path.Combine(_dir, "pooled");

        var (code, _, error) = await Run("pool", a3, "--out", outDir);

        Assert.NotEqual(0, code);
        Assert.Contains("alerts.csv", error);
        Assert.Contains("alerts.csv:2:", error);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public async Task A_comparison_needs_as_many_runs_on_each_side_and_one_method_setting_each()
    {
        string a3 = await RunPlant(3), a4 = await RunPlant(4);
        string b3 = await RunPlantAs(3, "paper3", "--method", "paper");
        string swept = await RunPlantAs(4, "swept4", "--gamma", "0,1");
        string outDir = Path.Combine(_dir, "pooled");

        var (code, _, error) = await Run("pool", a3, a4, "--against", b3, "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("2 runs against 1", error);
        Assert.False(Directory.Exists(outDir));

        (code, _, error) = await Run("pool", a3, swept, "--against", b3, a4, "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("a comparison takes one setting per set", error);
        Assert.False(Directory.Exists(outDir));
    }
}
