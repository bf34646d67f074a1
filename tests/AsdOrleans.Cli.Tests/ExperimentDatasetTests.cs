using System.Buffers.Binary;
using System.Text.Json;
using AsdOrleans.Cli.Experiments;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Model;
using AsdOrleans.Silo;
using Microsoft.AspNetCore.Builder;
using static AsdOrleans.Cli.Tests.CliHarness;

namespace AsdOrleans.Cli.Tests;

/// <summary>
/// `asd experiment --data --model` on a tiny synthetic plant (2 machine types, 16 one-second test clips each) with a tiny
/// untrained encoder: the embedding cache, the official evaluator's files, figures, report, and the same streams
/// through a real silo on 127.0.0.1.
/// </summary>
public sealed class ExperimentDatasetTests : IAsyncLifetime
{
    private const int Clips = 2 * (12 + 2 + 16);
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-experiment-data-").FullName;
    private string Plant => Path.Combine(_dir, "plant");
    private string Model => Path.Combine(_dir, "tiny.asdm");
    private string Cache => Path.Combine(_dir, "cache");

    private static readonly string[] Small = ["--strategies", "random,hybrid", "--budgets", "0,0.25", "--trials", "2", "--device", "cpu"];

    public async ValueTask InitializeAsync()
    {
        var (code, _, error) = await Run("synth", "--out", Plant, "--machine-types", "2", "--train", "12", "--target-train", "2", "--test", "16", "--seconds", "1", "--seed", "3");
        Assert.True(code == 0, error);
        SaveModel(Model, seed: 4);
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_dir, recursive: true);
        return ValueTask.CompletedTask;
    }

    private static void SaveModel(string path, ulong seed)
    {
        using var model = EncoderModel.Untrained(new EncoderArchitecture { Width = 4, EmbeddingDimension = 16 }, seed, TorchSharp.torch.CPU);
        model.Save(path);
    }

    private Task<(int Code, string Output, string Error)> Experiment(string outDir, params string[] extra)
        => Run(["experiment", "--data", Plant, "--model", Model, "--cache", Cache, "--out", outDir, .. Small, .. extra]);

    [Fact]
    public async Task Evaluator_files_score_to_the_same_numbers_as_results_csv_and_figures_are_pngs()
    {
        string run = Path.Combine(_dir, "run");
        var (code, output, error) = await Experiment(run);
        Assert.True(code == 0, error);
        Assert.Contains($"embedding: {Clips} clips, 0 from the cache, {Clips} embedded", output);

        var results = ReadCsv(Path.Combine(run, "results.csv"));
        var header = results[0].ToList();
        int Col(string name) => header.IndexOf(name);
        var rows = results.Skip(1).ToList();
        Assert.Equal(2 * 2 * 2 * 2, rows.Count); // machine types × strategies × budgets × trials
        string truth = Path.Combine(run, EvaluatorFiles.Folder, EvaluatorFiles.GroundTruthFolder);
        int checkedFolders = 0;
        foreach (var trialRows in rows.GroupBy(r => (r[Col("strategy")], r[Col("budget")], r[Col("trial")])))
        {
            var (strategy, budget, trial) = trialRows.Key;
            string folder = budget == "0"
                ? Path.Combine(run, EvaluatorFiles.Folder, "offline", $"trial_0{trial}")
                : Path.Combine(run, EvaluatorFiles.Folder, strategy, "b" + budget, $"trial_0{trial}");
            var (metricsCode, json, metricsError) = await Run("metrics", "--dcase", folder, "--ground-truth", truth, "--json");
            Assert.True(metricsCode == 0, metricsError);
            using var document = JsonDocument.Parse(json);
            var sections = document.RootElement.GetProperty("sections").EnumerateArray().ToDictionary(s => s.GetProperty("machine").GetString()!);
            foreach (var row in trialRows)
            {
                var section = sections[row[Col("machine")]];
                foreach (var metric in new[] { "auc", "pauc", "auc_source", "auc_target" })
                    Assert.Equal(D(row[Col(metric)]), section.GetProperty(metric).GetDouble());
                Assert.True(section.TryGetProperty("precision_source", out _), "decision_result files are scored too");
            }
            checkedFolders++;
        }
        Assert.Equal(2 * 2 * 2, checkedFolders);
        Assert.Equal(2, Directory.GetDirectories(Path.Combine(run, EvaluatorFiles.Folder, "offline")).Length); // offline written once per trial

        var figures = Directory.GetFiles(Path.Combine(run, ExperimentFigures.Folder)).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(new[] { "auc_hmean.png", "auc_panels.png", "auc_synth-fan.png", "auc_synth-pump.png",
            "pauc_hmean.png", "pauc_panels.png", "pauc_synth-fan.png", "pauc_synth-pump.png" }, figures);
        foreach (var figure in figures.Where(f => !f!.Contains("_panels")))
            AssertPng(Path.Combine(run, ExperimentFigures.Folder, figure!), 800, 560);
        // The Figures 3/4 layout: harmonic mean and both machine types, two panels to a row.
        foreach (var metric in new[] { "auc", "pauc" })
            AssertPng(Path.Combine(run, ExperimentFigures.Folder, $"{metric}_panels.png"), 1600, 1120);

        string report = File.ReadAllText(Path.Combine(run, "report.md"));
        Assert.Contains($"asd experiment --data {Plant} --model {Model}", report);
        Assert.Contains("## Table 1 analogue: the offline model", report);
        Assert.Contains("![auc_hmean](figures/auc_hmean.png)", report);
        Assert.Contains("| b | AUC random − offline | AUC hybrid − offline | pAUC random − offline | pAUC hybrid − offline | pAUC hybrid − random |", report);
        var table1 = ReadCsv(Path.Combine(run, "table1.csv"));
        Assert.Equal(1 + 3 * 4, table1.Count); // 2 machine types + hmean, 4 metrics

        // The training-free baseline's offline run on the same clips, beside the model's (issue 11).
        Assert.Contains("| baseline (training-free), harmonic mean |", report);
        Assert.Contains("| baseline (training-free) | 0 |", report);
        Assert.Contains("baseline (training-free)", output);
        var baseline = ReadCsv(Path.Combine(run, BaselineRun.FileName));
        Assert.Equal(1 + 3 * 4 + 1, baseline.Count); // 2 machine types + hmean, 4 metrics, and the official score
        Assert.All(baseline.Skip(1), r => Assert.Equal("2", r[2])); // trials
    }

    [Fact]
    public async Task The_cache_embeds_only_what_changed()
    {
        var (code, output, error) = await Experiment(Path.Combine(_dir, "a"));
        Assert.True(code == 0, error);
        Assert.Contains($"{Clips} clips, 0 from the cache, {Clips} embedded", output);

        (code, output, error) = await Experiment(Path.Combine(_dir, "b"));
        Assert.True(code == 0, error);
        Assert.Contains($"{Clips} clips, {Clips} from the cache, 0 embedded", output);
        Assert.Equal(File.ReadAllBytes(Path.Combine(_dir, "a", "results.csv")), File.ReadAllBytes(Path.Combine(_dir, "b", "results.csv")));

        // One sample of one test clip changes: that clip alone is embedded again.
        string changed = Directory.EnumerateFiles(Plant, "*.wav", SearchOption.AllDirectories).Where(f => f.Contains("test")).Order(StringComparer.Ordinal).First();
        var bytes = File.ReadAllBytes(changed);
        bytes[^2] ^= 0x01;
        File.WriteAllBytes(changed, bytes);
        (code, output, error) = await Experiment(Path.Combine(_dir, "c"));
        Assert.True(code == 0, error);
        Assert.Contains($"{Clips} clips, {Clips - 1} from the cache, 1 embedded", output);

        // Another model: nothing of the old one's is used.
        SaveModel(Model, seed: 5);
        (code, output, error) = await Experiment(Path.Combine(_dir, "d"));
        Assert.True(code == 0, error);
        Assert.Contains($"{Clips} clips, 0 from the cache, {Clips} embedded", output);
    }

    [Fact]
    public async Task Without_budget_0_or_none_the_offline_run_is_added_and_the_tables_are_written()
    {
        string run = Path.Combine(_dir, "no-offline");
        var (code, output, error) = await Run(["experiment", "--data", Plant, "--model", Model, "--cache", Cache, "--out", run,
            "--strategies", "random,hybrid", "--budgets", "0.1", "--trials", "2", "--device", "cpu"]);

        Assert.True(code == 0, error);
        Assert.Contains("budget 0 (the offline model", output);
        var results = ReadCsv(Path.Combine(run, "results.csv"));
        int budget = Array.IndexOf(results[0], "budget");
        Assert.Equal(new[] { "0", "0.1" }, results.Skip(1).Select(r => r[budget]).Distinct().Order(StringComparer.Ordinal).ToArray());
        Assert.True(File.Exists(Path.Combine(run, "table1.csv")));
        Assert.Contains("## Table 1 analogue: the offline model", File.ReadAllText(Path.Combine(run, "report.md")));
    }

    [Fact]
    public async Task A_machine_without_target_normals_is_refused_before_anything_is_embedded()
    {
        foreach (var wav in Directory.EnumerateFiles(Plant, "*target_test_normal*.wav", SearchOption.AllDirectories).Where(f => f.Contains("fan")).ToList())
            File.Delete(wav);
        string outDir = Path.Combine(_dir, "no-target");

        var (code, _, error) = await Experiment(outDir);

        Assert.True(code == CliRunner.BadInput, error);
        Assert.Contains("machine 'synth-fan'", error);
        Assert.Contains("no target-domain normal test clips", error);
        Assert.False(Directory.Exists(outDir));
        Assert.False(Directory.Exists(Cache));
    }

    [Fact]
    public async Task A_file_that_is_not_a_model_is_refused_before_anything_is_embedded()
    {
        string outDir = Path.Combine(_dir, "bad-model");
        string notAModel = Path.Combine(_dir, "not-a-model.asdm");
        File.WriteAllText(notAModel, "this is not a model file");

        var (code, _, error) = await Run(["experiment", "--data", Plant, "--model", notAModel, "--cache", Cache, "--out", outDir, .. Small]);

        Assert.True(code == CliRunner.BadInput, error);
        Assert.StartsWith("error: --model: ", error);
        Assert.DoesNotContain("   at ", error);
        Assert.False(Directory.Exists(outDir));
        Assert.False(Directory.Exists(Cache));
    }

    [Fact]
    public async Task Without_a_model_the_spectral_embedder_runs_with_the_baseline_beside_it()
    {
        string outDir = Path.Combine(_dir, "spectral");
        var (code, output, error) = await Run(["experiment", "--data", Plant, "--cache", Cache, "--out", outDir, .. Small]);
        Assert.True(code == 0, $"{error}\n{output}");
        string report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        Assert.Contains(Embedders.SpectralVersion + " (whitened per machine)", report);
        Assert.Contains("baseline (training-free)", report);
        Assert.True(File.Exists(Path.Combine(outDir, "baseline.csv")));
    }

    [Fact]
    public async Task A_machine_type_copied_from_dev_data_into_eval_data_is_refused_by_every_command_that_reads_the_folder()
    {
        // Used to be merged: experiment streamed each clip twice with exit 0, while embed wrote a CSV experiment refused.
        string dev = Directory.GetDirectories(Path.Combine(Plant, "dev_data", "raw")).Order(StringComparer.Ordinal).First();
        string machine = Path.GetFileName(dev);
        foreach (var file in Directory.EnumerateFiles(dev, "*.wav", SearchOption.AllDirectories))
        {
            string copy = Path.Combine(Plant, "eval_data", "raw", machine, Path.GetRelativePath(dev, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
        }
        string run = Path.Combine(_dir, "twice-run"), csv = Path.Combine(_dir, "twice.csv"), model = Path.Combine(_dir, "twice.asdm");
        string[][] commands =
        [
            ["experiment", "--data", Plant, "--embedder", "spectral", "--cache", Cache, "--out", run, .. Small],
            ["embed", "--embedder", "spectral", "--data", Plant, "--out", csv],
            ["train", "--data", Plant, "--out", model, "--epochs", "1", "--device", "cpu"],
        ];
        foreach (var command in commands)
        {
            var (code, _, error) = await Run(command);
            Assert.True(code == 2, $"{command[0]}: exit {code}: {error}");
            Assert.Contains($"appears twice for machine '{machine}' in split 'train'", error, StringComparison.Ordinal);
            Assert.Contains(Path.Combine("dev_data", "raw", machine, "train"), error, StringComparison.Ordinal);
            Assert.Contains(Path.Combine("eval_data", "raw", machine, "train"), error, StringComparison.Ordinal);
        }
        Assert.False(Directory.Exists(run));
        Assert.False(File.Exists(csv));
        Assert.False(File.Exists(model) || File.Exists(model + ".checkpoint"));
    }

    [Fact]
    public async Task The_spectral_embeddings_csv_scores_as_the_audio_does()
    {
        // asd embed --embedder spectral keeps the training clips' held-out distances, so an experiment on its CSV enrolls
        // (domain scales, φ) exactly as one on the audio.
        string csv = Path.Combine(_dir, "spectral.csv");
        var (code, _, error) = await Run("embed", "--embedder", "spectral", "--data", Plant, "--out", csv);
        Assert.True(code == 0, error);
        var lines = File.ReadAllLines(csv);
        Assert.StartsWith("machine,split,domain,label,file,held_out_distance,e0,", lines[0]);
        Assert.All(lines.Skip(1), l => Assert.Equal(l.Split(',')[1] == "train", l.Split(',')[5].Length > 0));

        string fromAudio = Path.Combine(_dir, "spectral-audio"), fromCsv = Path.Combine(_dir, "spectral-csv"), fromOldCsv = Path.Combine(_dir, "spectral-old-csv");
        (code, _, error) = await Run(["experiment", "--data", Plant, "--cache", Cache, "--out", fromAudio, .. Small]);
        Assert.True(code == 0, error);
        (code, _, error) = await Run(["experiment", "--embeddings", csv, "--out", fromCsv, .. Small]);
        Assert.True(code == 0, error);
        string[] metrics = ["auc", "pauc", "auc_source", "auc_target", "queries"];
        List<string> Metrics(string run)
        {
            var rows = ReadCsv(Path.Combine(run, "results.csv"));
            var columns = metrics.Select(m => Array.IndexOf(rows[0], m)).ToList();
            return rows.Skip(1).Select(r => string.Join(',', columns.Select(c => r[c]))).ToList();
        }
        Assert.Equal(Metrics(fromAudio), Metrics(fromCsv));

        // A CSV without the column (as written before it) still loads, and scores otherwise: the column is what matters.
        string oldCsv = Path.Combine(_dir, "spectral-old.csv");
        File.WriteAllLines(oldCsv, lines.Select(l => l.Split(',')).Select(f => string.Join(',', f.Take(5).Concat(f.Skip(6)))));
        (code, _, error) = await Run(["experiment", "--embeddings", oldCsv, "--out", fromOldCsv, .. Small]);
        Assert.True(code == 0, error);
        Assert.NotEqual(Metrics(fromAudio), Metrics(fromOldCsv));

        // report.md says so where φ, fitted to in-sample scores, flags most normal clips (the default φ intends 0.1).
        foreach (var run in new[] { fromAudio, fromCsv, fromOldCsv })
        {
            var alerts = ReadCsv(Path.Combine(run, "alerts.csv"));
            int source = Array.IndexOf(alerts[0], "false_alerts_source"), target = Array.IndexOf(alerts[0], "false_alerts_target");
            double falseAlerts = alerts.Skip(1).Average(r => (D(r[source]) + D(r[target])) / 2);
            bool warned = File.ReadAllText(Path.Combine(run, "report.md")).Contains("**φ sits below most normal clips here**");
            Assert.True(warned == falseAlerts > 0.3, $"{Path.GetFileName(run)}: false alerts {falseAlerts}, warned {warned}");
        }
    }

    [Fact]
    public async Task Bad_inputs_exit_2_and_write_nothing()
    {
        string outDir = Path.Combine(_dir, "bad");
        string[][] cases =
        [
            ["experiment", "--data", Plant, "--embedder", "model", "--out", outDir],
            ["experiment", "--data", Plant, "--embeddings", Model, "--model", Model, "--out", outDir],
            ["experiment", "--data", Plant, "--model", Path.Combine(_dir, "none.asdm"), "--cache", Cache, "--out", outDir],
            ["experiment", "--data", Path.Combine(_dir, "nowhere"), "--model", Model, "--cache", Cache, "--out", outDir],
            ["experiment", "--data", Plant, "--model", Model, "--cache", Cache, "--out", outDir, "--gamma", "0.5,abc"],
            ["experiment", "--data", Plant, "--model", Model, "--cache", Cache, "--out", outDir, "--window", "100,1.5"],
            ["experiment", "--data", Plant, "--model", Model, "--cache", Cache, "--out", outDir, "--v", "0.1,0.1"],
            ["experiment", "--data", Plant, "--model", Model, "--cache", Cache, "--out", outDir, "--via-cluster", "http://127.0.0.1:1"],
            ["experiment", "--data", Plant, "--model", Model, "--cache", Cache, "--out", outDir, "--via-cluster", "ftp://x", "--key", "k"],
            ["experiment", "--data", Plant, "--model", Model, "--cache", Cache, "--out", outDir, "--key", "k"],
        ];
        foreach (var args in cases)
        {
            var (code, _, error) = await Run(args);
            Assert.True(code == CliRunner.BadInput, $"{string.Join(' ', args)}: exit {code}, {error}");
            Assert.StartsWith("error: ", error);
            Assert.False(Directory.Exists(outDir), string.Join(' ', args));
        }
        Assert.False(Directory.Exists(Cache), "nothing was embedded for bad arguments");

        // A damaged WAV: named, and no run folder.
        string damaged = Directory.EnumerateFiles(Plant, "*.wav", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Last();
        File.WriteAllBytes(damaged, [.. File.ReadAllBytes(damaged).Take(30)]);
        var (c, _, e) = await Experiment(outDir);
        Assert.Equal(CliRunner.BadInput, c);
        Assert.Contains(Path.GetFileName(damaged), e);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public async Task The_same_streams_through_a_live_silo_give_the_same_numbers()
    {
        var (code, _, error) = await Experiment(Path.Combine(_dir, "in-process"));
        Assert.True(code == 0, error);

        var (app, address) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
        {
            ["Asd:DataDirectory"] = Path.Combine(_dir, "silo"),
            ["Asd:ModelPath"] = Model,
            ["Asd:Device"] = "cpu",
            ["Asd:ApiKeys:Device:0"] = "dev",
            ["Asd:ApiKeys:Operator:0"] = "op",
        });
        try
        {
            string cluster = Path.Combine(_dir, "cluster");
            var (clusterCode, output, clusterError) = await Experiment(cluster, "--via-cluster", address.ToString(), "--key", "op", "--device-key", "dev");
            Assert.True(clusterCode == 0, clusterError);
            Assert.Contains("through the silo at", output);
            Assert.Equal(File.ReadAllText(Path.Combine(_dir, "in-process", "results.csv")), File.ReadAllText(Path.Combine(cluster, "results.csv")));
            var inProcess = Snapshot(Path.Combine(_dir, "in-process", EvaluatorFiles.Folder));
            var viaSilo = Snapshot(Path.Combine(cluster, EvaluatorFiles.Folder));
            Assert.Equal(inProcess.Keys.Order(), viaSilo.Keys.Order());
            foreach (var (file, content) in inProcess)
                Assert.True(content.AsSpan().SequenceEqual(viaSilo[file]), $"{file} differs between in-process and the silo");

            // A labeller who cannot tell half the clips and declines them: the silo closes those requests unlabelled
            // (POST …/decline), and the numbers are still the in-process ones.
            (code, _, error) = await Experiment(Path.Combine(_dir, "in-process-unsure"), "--unsure", "0.5");
            Assert.True(code == 0, error);
            (clusterCode, _, clusterError) = await Experiment(Path.Combine(_dir, "cluster-unsure"), "--unsure", "0.5", "--via-cluster", address.ToString(), "--key", "op", "--device-key", "dev");
            Assert.True(clusterCode == 0, clusterError);
            string unsure = File.ReadAllText(Path.Combine(_dir, "in-process-unsure", "results.csv"));
            Assert.Equal(unsure, File.ReadAllText(Path.Combine(_dir, "cluster-unsure", "results.csv")));
            Assert.NotEqual(File.ReadAllText(Path.Combine(_dir, "in-process", "results.csv")), unsure);
            Assert.Contains("cannot tell 0.5 of the clips asked about", File.ReadAllText(Path.Combine(_dir, "cluster-unsure", "report.md")));

            // A model the silo does not hold: its first clip is refused with the grain's reason.
            SaveModel(Model + ".other", seed: 9);
            var (otherCode, _, otherError) = await Run(["experiment", "--data", Plant, "--model", Model + ".other", "--cache", Cache, "--out", Path.Combine(_dir, "other"),
                .. Small, "--via-cluster", address.ToString(), "--key", "op", "--device-key", "dev"]);
            Assert.Equal(CliRunner.BadInput, otherCode);
            Assert.Contains("re-enroll", otherError);
            Assert.False(Directory.Exists(Path.Combine(_dir, "other")));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    /// <summary>PNG signature, an IHDR chunk first, and the expected size.</summary>
    private static void AssertPng(string path, int width, int height)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.AsSpan(0, 8).SequenceEqual(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }), $"{path}: not a PNG");
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        Assert.Equal(width, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
        Assert.Equal(height, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
        Assert.Equal("IEND", System.Text.Encoding.ASCII.GetString(bytes, bytes.Length - 8, 4));
        Assert.True(bytes.Length > 5_000, $"{path}: {bytes.Length} bytes is too small for a plot");
    }
}
