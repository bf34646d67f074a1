using System.Globalization;
using static AsdOrleans.Cli.Tests.CliHarness;

namespace AsdOrleans.Cli.Tests;

/// <summary>`asd demo` in-process with a tiny plant and encoder: the whole product path, twice (the second run reuses the cache).</summary>
public sealed class DemoCommandTests : IDisposable
{
    private static readonly string[] Tiny =
        ["--train", "8", "--target-train", "2", "--test", "12", "--seconds", "0.5", "--epochs", "1"];
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-demo-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task With_a_trained_encoder_it_trains_once_and_reuses_the_encoder()
    {
        string outDir = Path.Combine(_dir, "demo");
        var (code, output, error) = await Run(["demo", "--out", outDir, "--embedder", "model", .. Tiny]);
        Assert.True(code == 0, $"exit code {code}, stderr: {error}\n{output}");
        Assert.Contains("encoder: training the spectrum encoder (spectrum branch) with sub-center ArcFace for 1 epochs", output);
        Assert.Contains("streamed 144 clips", output);
        var second = await Run(["demo", "--out", outDir, "--embedder", "model", .. Tiny]);
        Assert.True(second.Code == 0, second.Error);
        Assert.Contains("encoder: reusing", second.Output);
    }

    [Fact]
    public async Task Runs_the_plant_through_an_embedded_silo_and_reuses_the_plant()
    {
        string outDir = Path.Combine(_dir, "demo");

        var (code, output, error) = await Run(["demo", "--out", outDir, .. Tiny]);

        Assert.True(code == 0, $"exit code {code}, stderr: {error}\n{output}");
        Assert.Contains("plant: 3 machine types × 2 machines", output);
        Assert.Contains("embedder: spectral", output);
        Assert.DoesNotContain("encoder: training", output);
        Assert.Contains("enrolled 6 machines and their offline twins from 60 training clips", output);
        Assert.Contains("streamed 144 clips", output);
        // The requests counted by why hybrid asked (its uncertainty branch, its random branch, the budget's floor), summing to all.
        var answered = System.Text.RegularExpressions.Regex.Match(output, @"the oracle answered (\d+) label requests \(([^)]*)\)");
        Assert.True(answered.Success, output);
        var byReason = answered.Groups[2].Value.Split(", ").Select(part => part.Split(' ')).ToList();
        Assert.All(byReason, p => Assert.Contains(p[1], new[] { "uncertain", "random", "budget-floor" }));
        Assert.Equal(int.Parse(answered.Groups[1].Value, CultureInfo.InvariantCulture), byReason.Sum(p => int.Parse(p[0], CultureInfo.InvariantCulture)));
        Assert.Contains("baseline (training-free log-mel statistics): 132 clips, 0 from the cache, 132 embedded", output);
        Assert.Contains("harmonic mean", output);
        Assert.Matches(@"dashboard: http://127\.0\.0\.1:\d+/dashboard", output);

        // One row per machine and mode; the oracle answered every request, and the offline twins and the baseline asked nothing.
        var rows = ReadCsv(Path.Combine(outDir, "results.csv"));
        Assert.Equal("machine,mode,clips,label_requests,labels,auc,pauc,auc_source,auc_target,false_alerts_source,false_alerts_target,alerts_on_anomalies", string.Join(',', rows[0]));
        Assert.Equal(18, rows.Count - 1);
        Assert.Equal(6, rows.Skip(1).Select(r => r[0]).Distinct().Count());
        Assert.Equal(["baseline", "hybrid", "offline"], rows.Skip(1).Select(r => r[1]).Distinct().Order(StringComparer.Ordinal));
        foreach (var row in rows.Skip(1))
        {
            Assert.Equal("12", row[2]);
            Assert.Equal(row[3], row[4]);
            if (row[1] is "offline" or "baseline") Assert.Equal("0", row[3]);
            foreach (var value in row[5..9]) Assert.InRange(D(value), 0, 1);
            // Alerts: the share of normal clips of each domain, and of anomalous clips, that scored above φ (none for the baseline).
            if (row[1] == "baseline") Assert.Equal(["", "", ""], row[9..12]);
            else foreach (var value in row[9..12]) Assert.InRange(D(value), 0, 1);
        }
        // The line under the table: the machines with active learning, their alerts pooled.
        var hybridRows = rows.Skip(1).Where(r => r[1] == "hybrid").ToList();
        var alertLine = System.Text.RegularExpressions.Regex.Match(output, @"alerts \(score above its machine's φ, with AL\): (\d+) % of normal clips \(source (\d+) %, target (\d+) %; φ intends 10 %\), (\d+) % of anomalous clips");
        Assert.True(alertLine.Success, output);
        // Every demo machine streams as many clips of each domain and label, so the pooled share is the machines' mean.
        Assert.Equal(Math.Round(100 * hybridRows.Average(r => D(r[11])), MidpointRounding.AwayFromZero), double.Parse(alertLine.Groups[4].Value, CultureInfo.InvariantCulture));
        Assert.Contains(rows.Skip(1), r => r[1] == "hybrid" && int.Parse(r[3], CultureInfo.InvariantCulture) > 0);
        // The table marks a machine whose realised rate is above b + 0.02 over at least 100 clips (as a machine judges
        // itself), and only such a machine: never one of these 12-clip streams.
        foreach (var row in rows.Skip(1).Where(r => r[1] == "hybrid"))
        {
            bool overspent = AsdOrleans.Method.Budget.BudgetTolerance.HasOverspent(0.1, int.Parse(row[3], CultureInfo.InvariantCulture) / 12.0, 12);
            Assert.False(overspent);
            string line = output.Split('\n').Single(l => l.Contains(row[0] + " ") && l.Contains("%)"));
            Assert.Equal(overspent, line.Contains("overspent"));
        }

        var second = await Run(["demo", "--out", outDir, .. Tiny]);
        Assert.True(second.Code == 0, second.Error);
        Assert.Contains("plant: reusing", second.Output);
        Assert.Contains("baseline (training-free log-mel statistics): 132 clips, 132 from the cache, 0 embedded", second.Output);
        // The same seed gives the same streams, decisions and scores.
        Assert.Equal(rows.Select(r => string.Join(',', r)), ReadCsv(Path.Combine(outDir, "results.csv")).Select(r => string.Join(',', r)));
    }

    [Fact]
    public async Task The_baseline_and_offline_rows_are_what_asd_experiment_computes_on_each_machines_clips()
    {
        string outDir = Path.Combine(_dir, "demo");
        var (code, output, error) = await Run(["demo", "--out", outDir, .. Tiny]);
        Assert.True(code == 0, $"exit code {code}, stderr: {error}\n{output}");
        Assert.Contains("AUC baseline", output);
        Assert.Contains("pAUC baseline", output);
        var all = ReadCsv(Path.Combine(outDir, "results.csv")).Skip(1).ToList();
        var demo = all.Where(r => r[1] == "baseline").ToDictionary(r => r[0]);
        var offline = all.Where(r => r[1] == "offline").ToDictionary(r => r[0]);
        Assert.Equal(6, demo.Count);

        // Each machine instance is its own data set; the harness embeds, transforms and scores it as `asd experiment`
        // does (the baseline standardised, the silo's spectral features whitened). Every source clip is kept in N, so the
        // demo's machine ids (which seed k-means) do not matter. The baseline row has its own method whatever the model's:
        // 1 − max cosine to the training clips, which `--method paper --clusters 1000` gives.
        foreach (int instance in new[] { 1, 2 })
            foreach (var (embedder, rows, method) in new[] { ("baseline", demo, new[] { "--method", "paper", "--clusters", "1000" }), ("spectral", offline, Array.Empty<string>()) })
            {
                string run = Path.Combine(_dir, $"experiment-{embedder}-{instance}");
                (code, output, error) = await Run(["experiment", "--data", Path.Combine(outDir, "plant", $"machines-{instance}"), "--embedder", embedder,
                    "--strategies", "none", "--budgets", "0", "--trials", "1", "--cache", Path.Combine(_dir, "cache"), "--out", run, .. method]);
                Assert.True(code == 0, $"exit code {code}, stderr: {error}\n{output}");
                var harness = ReadCsv(Path.Combine(run, "results.csv"));
                var columns = harness[0].ToList();
                var machines = harness.Skip(1).ToList();
                Assert.Equal(3, machines.Count);
                foreach (var row in machines)
                {
                    var mine = rows[$"demo.{row[columns.IndexOf("machine")]}-{instance}"];
                    foreach (var (metric, at) in new[] { ("auc", 5), ("pauc", 6), ("auc_source", 7), ("auc_target", 8) })
                        Assert.Equal(D(row[columns.IndexOf(metric)]), D(mine[at]));
                }
            }
    }

    [Theory]
    [InlineData("--machines-per-type", "0", "--machines-per-type must be between 1 and 9")]
    [InlineData("--strategy", "none", "--strategy: the demo compares")]
    [InlineData("--strategy", "magic", "unknown query strategy 'magic'")]
    [InlineData("--budget", "0", "--budget must be in (0, 1]")]
    [InlineData("--test", "6", "--test must be a positive multiple of 4")]
    [InlineData("--machine-types", "8", "--machine-types must be between 1 and 7")]
    [InlineData("--embedder", "magic", "--embedder must be 'spectral' or 'model'")]
    public async Task Bad_settings_are_usage_errors_and_create_nothing(string option, string value, string message)
    {
        string outDir = Path.Combine(_dir, "demo");

        var (code, _, error) = await Run("demo", "--out", outDir, option, value);

        Assert.Equal(CliRunner.BadInput, code);
        Assert.Contains(message, error);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public async Task A_width_the_spectrum_recipe_has_no_ResNet_for_is_refused()
    {
        // It changed the encoder's version id (so the demo retrained) and nothing else, as asd train refuses it.
        string outDir = Path.Combine(_dir, "demo");
        var (code, _, error) = await Run("demo", "--out", outDir, "--embedder", "model", "--width", "4");
        Assert.Equal(CliRunner.BadInput, code);
        Assert.Contains("--width sets the ResNet's channels, and the spectrum recipe has no ResNet", error);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public async Task Out_pointing_at_a_file_is_a_usage_error()
    {
        string file = Path.Combine(_dir, "taken");
        File.WriteAllText(file, "not a folder\n");

        var (code, _, error) = await Run("demo", "--out", file);

        Assert.Equal(CliRunner.BadInput, code);
        Assert.Contains("is a file", error);
        Assert.Equal("not a folder\n", File.ReadAllText(file));
    }
}
