using AsdOrleans.Evaluation.Experiments;
using static AsdOrleans.Cli.Tests.CliHarness;

namespace AsdOrleans.Cli.Tests;

/// <summary>`asd synth-embeddings`, in-process.</summary>
public sealed class SynthEmbeddingsCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-synth-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Task<(int Code, string Output, string Error)> Synth(string path, string seed, params string[] extra)
        => Run(["synth-embeddings", "--out", path, "--machines", "3", "--dim", "16", "--seed", seed, .. extra]);

    [Fact]
    public async Task WritesALoadableTableWithEveryKindOfClipPerMachine()
    {
        string path = Path.Combine(_dir, "emb.csv");

        var (code, output, error) = await Synth(path, "5");

        Assert.True(code == 0, $"exit code {code}, stderr: {error}");
        Assert.Equal("", error);
        var table = EmbeddingTable.Load(path);
        Assert.Equal(16, table.Dimension);
        Assert.Equal(3, table.Machines.Count);
        Assert.Contains($"wrote {table.Records.Count} embeddings of 3 machines (d = 16)", output);
        foreach (var machine in table.Machines)
        {
            var rows = table.Records.Where(r => r.Machine == machine).ToList();
            foreach (bool target in new[] { false, true })
            {
                string domain = target ? "target" : "source";
                Assert.True(rows.Any(r => !r.IsTest && r.IsTarget == target && !r.IsAnomaly), $"{machine}: no {domain} training normals");
                Assert.True(rows.Any(r => r.IsTest && r.IsTarget == target && !r.IsAnomaly), $"{machine}: no {domain} test normals");
                Assert.True(rows.Any(r => r.IsTest && r.IsTarget == target && r.IsAnomaly), $"{machine}: no {domain} test anomalies");
            }
            Assert.DoesNotContain(rows, r => !r.IsTest && r.IsAnomaly);
            Assert.All(rows, r => Assert.Equal(16, r.Embedding.Length));
        }
        Assert.Equal(new[] { Path.GetFileName(path) }, Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName).ToArray());
    }

    [Fact]
    public async Task SameSeedGivesIdenticalBytesAndAnotherSeedDoesNot()
    {
        string a = Path.Combine(_dir, "a.csv"), b = Path.Combine(_dir, "b.csv"), c = Path.Combine(_dir, "c.csv");

        Assert.Equal(0, (await Synth(a, "5")).Code);
        Assert.Equal(0, (await Synth(b, "5")).Code);
        Assert.Equal(0, (await Synth(c, "6")).Code);

        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        Assert.NotEqual(File.ReadAllBytes(a), File.ReadAllBytes(c));
    }

    [Fact]
    public async Task TheWrittenTableRunsThroughTheExperiment()
    {
        string path = Path.Combine(_dir, "emb.csv");
        Assert.Equal(0, (await Synth(path, "5")).Code);
        string outDir = Path.Combine(_dir, "run");

        var (code, _, error) = await Run("experiment", "--embeddings", path, "--out", outDir,
            "--strategies", "none,hybrid", "--budgets", "0,0.1", "--trials", "2");

        Assert.True(code == 0, $"exit code {code}, stderr: {error}");
        Assert.Equal(1 + 3 * 2 * 2 * 2, File.ReadAllLines(Path.Combine(outDir, "results.csv")).Length);
    }

    [Theory]
    [InlineData("--machines", "0", "machines must be at least 1, got 0")]
    [InlineData("--machines", "-2", "machines must be at least 1, got -2")]
    [InlineData("--dim", "1", "dimension must be at least 2, got 1")]
    [InlineData("--dim", "0", "dimension must be at least 2, got 0")]
    public async Task ImpossibleParametersWriteNoFile(string option, string value, string problem)
    {
        string path = Path.Combine(_dir, "emb.csv");
        string[] args = option == "--machines"
            ? ["synth-embeddings", "--out", path, "--machines", value, "--dim", "16"]
            : ["synth-embeddings", "--out", path, "--machines", "3", "--dim", value];

        var (code, output, error) = await Run(args);

        Assert.True(code == CliRunner.BadInput, $"{option} {value}: exit code {code}, stderr: {error}");
        Assert.Equal("", output);
        Assert.StartsWith("error: ", error);
        Assert.Contains(problem, error);
        Assert.False(File.Exists(path));
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public async Task AnExistingOutIsReplacedOnlyWithForce()
    {
        string path = Path.Combine(_dir, "emb.csv");
        File.WriteAllText(path, "kept\n");

        var (code, output, error) = await Synth(path, "5");

        Assert.Equal(CliRunner.BadInput, code);
        Assert.Equal("", output);
        Assert.Contains($"--out: '{path}' exists; pass --force to replace it", error);
        Assert.Equal("kept\n", File.ReadAllText(path));
        (code, _, error) = await Synth(path, "5", "--force");
        Assert.True(code == 0, error);
        Assert.Equal(3, EmbeddingTable.Load(path).Machines.Count);
    }

    [Fact]
    public async Task OutPointingAtAFolderIsAUsageError()
    {
        string folder = Directory.CreateDirectory(Path.Combine(_dir, "folder")).FullName;

        var (code, _, error) = await Synth(folder, "5");

        Assert.Equal(CliRunner.BadInput, code);
        Assert.StartsWith("error: --out: ", error);
        Assert.Contains("is a folder", error);
        Assert.Empty(Directory.GetFileSystemEntries(folder));
    }

    [Fact]
    public async Task OutUnderAFileIsAUsageError()
    {
        string file = Path.Combine(_dir, "taken");
        File.WriteAllText(file, "not a folder\n");
        string path = Path.Combine(file, "emb.csv");

        var (code, _, error) = await Synth(path, "5");

        Assert.Equal(CliRunner.BadInput, code);
        Assert.StartsWith("error: ", error);
        Assert.Equal("not a folder\n", File.ReadAllText(file));
    }
}
