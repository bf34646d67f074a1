using AsdOrleans.Cli.Experiments;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Audio.Features;
using static AsdOrleans.Cli.Tests.CliHarness;

namespace AsdOrleans.Cli.Tests;

/// <summary>
/// The training-free baseline (issue 11) in the CLI: `asd embed --embedder baseline`, `asd experiment --data
/// --embedder baseline` (no model), its cache entries, and enrollment from test clips for test-only data sets.
/// </summary>
public sealed class BaselineEmbedderTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-baseline-").FullName;
    private string Plant => Path.Combine(_dir, "plant");
    private string Cache => Path.Combine(_dir, "cache");
    private static readonly string[] Small = ["--strategies", "random", "--budgets", "0,0.25", "--trials", "2"];

    public async ValueTask InitializeAsync()
    {
        var (code, _, error) = await Run("synth", "--out", Plant, "--machine-types", "2", "--train", "12", "--target-train", "2", "--test", "16", "--seconds", "1", "--seed", "3");
        Assert.True(code == 0, error);
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_dir, recursive: true);
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task Embed_writes_256_dimensional_features_standardised_on_each_machines_training_clips()
    {
        string csv = Path.Combine(_dir, "baseline.csv"), rawCsv = Path.Combine(_dir, "raw.csv");
        var (code, output, error) = await Run("embed", "--embedder", "baseline", "--data", Plant, "--out", csv);
        Assert.True(code == 0, error);
        Assert.Contains("d = 256", output);
        (code, _, error) = await Run("embed", "--embedder", "baseline", "--raw", "--data", Plant, "--out", rawCsv);
        Assert.True(code == 0, error);

        var table = EmbeddingTable.Load(csv);
        var raw = EmbeddingTable.Load(rawCsv);
        Assert.Equal(256, table.Dimension);
        Assert.Equal(2 * (12 + 2 + 16), table.Records.Count);
        foreach (var machine in table.Machines)
        {
            var training = table.Records.Where(r => r.Machine == machine && !r.IsTest).ToList();
            for (int j = 0; j < 256; j += 37)
            {
                Assert.Equal(0, training.Average(r => r.Embedding[j]), 4);
                Assert.Equal(1, Math.Sqrt(training.Average(r => r.Embedding[j] * r.Embedding[j])), 3);
            }
        }
        // Raw features are the embedder's output for the clip.
        var first = raw.Records[0];
        string path = Directory.EnumerateFiles(Plant, first.File, SearchOption.AllDirectories)
            .Single(p => p.Contains($"/{first.Machine}/{(first.IsTest ? "test" : "train")}/"));
        var expected = new SpectralStatisticsEmbedder().Embed(AsdOrleans.Audio.WavDecoder.Read(path).Samples);
        Assert.Equal(expected, first.Embedding);

        // An existing --out is replaced only with --force.
        byte[] written = File.ReadAllBytes(csv);
        (code, _, error) = await Run("embed", "--embedder", "baseline", "--raw", "--data", Plant, "--out", csv);
        Assert.Equal(2, code);
        Assert.Contains($"--out: '{csv}' exists; pass --force to replace it", error);
        Assert.Equal(written, File.ReadAllBytes(csv));
        (code, _, error) = await Run("embed", "--embedder", "baseline", "--raw", "--data", Plant, "--out", csv, "--force");
        Assert.True(code == 0, error);
        Assert.Equal(File.ReadAllBytes(rawCsv), File.ReadAllBytes(csv));

        (code, _, error) = await Run("embed", "--embedder", "baseline", "--model", "x.asdm", "--data", Plant, "--out", csv);
        Assert.Equal(2, code);
        Assert.Contains("training-free", error);
        (code, _, error) = await Run("embed", "--data", Plant, "--out", csv);
        Assert.Equal(2, code);
        Assert.Contains("--model is required", error);
    }

    [Fact]
    public async Task The_baseline_through_a_silo_whose_own_embedder_is_another_gives_the_in_process_numbers()
    {
        string inProcess = Path.Combine(_dir, "baseline-in-process"), onSilo = Path.Combine(_dir, "baseline-silo");
        var (code, _, error) = await Run(["experiment", "--data", Plant, "--embedder", "baseline", "--cache", Cache, "--out", inProcess, .. Small]);
        Assert.True(code == 0, error);
        var (app, address) = await AsdOrleans.Silo.SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
        {
            ["Asd:DataDirectory"] = Path.Combine(_dir, "silo"),
            ["Asd:Embedder"] = "spectral", // each machine names the baseline in its settings, as the experiment sets them
            ["Asd:ApiKeys:Operator:0"] = "op",
            ["Asd:ApiKeys:Device:0"] = "dev",
        });
        try
        {
            (code, var output, error) = await Run(["experiment", "--data", Plant, "--embedder", "baseline", "--cache", Cache, "--out", onSilo, .. Small,
                "--via-cluster", address.ToString(), "--key", "op", "--device-key", "dev"]);
            Assert.True(code == 0, error);
            Assert.Contains("through the silo at", output);
            Assert.Equal(File.ReadAllText(Path.Combine(inProcess, "results.csv")), File.ReadAllText(Path.Combine(onSilo, "results.csv")));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task Experiment_runs_the_protocol_on_the_baseline_without_a_model_and_caches_it_by_its_settings_id()
    {
        string run = Path.Combine(_dir, "run");
        var (code, output, error) = await Run(["experiment", "--data", Plant, "--embedder", "baseline", "--cache", Cache, "--out", run, .. Small]);
        Assert.True(code == 0, error);
        Assert.Contains("60 clips, 0 from the cache, 60 embedded", output);
        Assert.True(Directory.Exists(Path.Combine(Cache, SpectralStatisticsSettings.Default.Id)));
        Assert.Equal(1 + 2 * 2 * 2, ReadCsv(Path.Combine(run, "results.csv")).Count);
        Assert.Contains(SpectralStatisticsSettings.Default.Id, File.ReadAllText(Path.Combine(run, "report.md")));

        (code, output, error) = await Run(["experiment", "--data", Plant, "--embedder", "baseline", "--cache", Cache, "--out", Path.Combine(_dir, "again"), .. Small]);
        Assert.True(code == 0, error);
        Assert.Contains("60 clips, 60 from the cache, 0 embedded", output);
        Assert.Equal(File.ReadAllBytes(Path.Combine(run, "results.csv")), File.ReadAllBytes(Path.Combine(_dir, "again", "results.csv")));

        (code, _, error) = await Run(["experiment", "--data", Plant, "--embedder", "baseline", "--model", "m.asdm", "--out", Path.Combine(_dir, "x")]);
        Assert.Equal(2, code);
        Assert.Contains("training-free", error);
    }

    [Fact]
    public async Task Enroll_from_test_takes_the_first_normals_by_index_and_streams_the_rest()
    {
        // A test-only data set: the plant's test folders alone.
        string testOnly = Path.Combine(_dir, "test-only");
        foreach (var file in Directory.EnumerateFiles(Plant, "*.wav", SearchOption.AllDirectories).Where(f => f.Contains("/test/")))
        {
            string target = Path.Combine(testOnly, Path.GetRelativePath(Plant, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        var (code, _, error) = await Run(["experiment", "--data", testOnly, "--embedder", "baseline", "--cache", Cache, "--out", Path.Combine(_dir, "no"), .. Small]);
        Assert.Equal(2, code);
        Assert.Contains("no training clips", error);

        string run = Path.Combine(_dir, "enrolled");
        (code, _, error) = await Run(["experiment", "--data", testOnly, "--embedder", "baseline", "--enroll-from-test", "3,1", "--cache", Cache, "--out", run, .. Small]);
        Assert.True(code == 0, error);
        var results = ReadCsv(Path.Combine(run, "results.csv"));
        int clips = results[0].ToList().IndexOf("clips");
        Assert.All(results.Skip(1), r => Assert.Equal("12", r[clips])); // 16 test clips − 3 − 1 enrolled
        Assert.Contains("per machine its first 3 source-normal and 1 target-normal test clips enrolled", File.ReadAllText(Path.Combine(run, "report.md")));

        var scanned = AsdOrleans.Datasets.Dcase.DcaseDataset.Scan(testOnly, null).ToList();
        var moved = Embedders.EnrollFromTest(scanned, 3, 1);
        foreach (var machine in moved.GroupBy(c => c.MachineType))
        {
            var enrolled = machine.Where(c => !c.IsTest).ToList();
            Assert.Equal(4, enrolled.Count);
            Assert.All(enrolled, c => Assert.False(c.IsAnomaly));
            var firstSource = machine.Where(c => c.IsAnomaly == false && !c.IsTarget).OrderBy(c => c.FileName, StringComparer.Ordinal).Take(3);
            Assert.Equal(firstSource.Select(c => c.FileName), enrolled.Where(c => !c.IsTarget).Select(c => c.FileName).Order(StringComparer.Ordinal));
        }
        (code, _, error) = await Run(["experiment", "--data", testOnly, "--embedder", "baseline", "--enroll-from-test", "9,1", "--out", Path.Combine(_dir, "too-many")]);
        Assert.Equal(2, code);
        Assert.Contains("fewer than 9", error);
    }
    [Fact]
    public async Task Enroll_from_test_is_refused_on_a_data_set_with_training_clips()
    {
        // The plant has training clips: moving test clips would enroll them beside those, silently.
        string run = Path.Combine(_dir, "mixed");
        var (code, output, error) = await Run(["experiment", "--data", Plant, "--embedder", "baseline", "--enroll-from-test", "3,1", "--cache", Cache, "--out", run, .. Small]);
        Assert.Equal(2, code);
        Assert.Contains("--enroll-from-test is for data sets with test clips only: machine '", error);
        Assert.Contains("has 14 training clips", error); // 12 source + 2 target
        Assert.False(Directory.Exists(run));
    }
}
