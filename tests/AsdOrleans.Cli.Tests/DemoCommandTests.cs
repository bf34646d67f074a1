using AsdOrleans.Core.Experiments;
using static AsdOrleans.Cli.Tests.CliHarness;

namespace AsdOrleans.Cli.Tests;

/// <summary>`asd demo`, in-process, with 2 machines and 2 trials.</summary>
public sealed class DemoCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-demo-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task WritesEmbeddingsResultsAndSummaryAndPrintsTheTable()
    {
        string outDir = Path.Combine(_dir, "demo");

        var (code, output, error) = await Run("demo", "--machines", "2", "--trials", "2", "--out", outDir);

        Assert.True(code == 0, $"exit code {code}, stderr: {error}");
        Assert.Equal("", error);
        Assert.Equal(new[] { "embeddings.csv", "evaluator", "figures", "report.md", "results.csv", "summary.csv", "table1.csv" },
            Directory.GetFileSystemEntries(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray());
        Assert.Contains("Generating embeddings for 2 machine types", output);
        Assert.Contains("Harmonic mean over 2 machines", output);
        Assert.Contains("Per machine", output);

        var table = EmbeddingTable.Load(Path.Combine(outDir, "embeddings.csv"));
        Assert.Equal(2, table.Machines.Count);
        // Default protocol: 5 strategies × 4 budgets × 2 trials per machine.
        int runs = 2 * 5 * 4 * 2;
        Assert.Equal(1 + runs, File.ReadAllLines(Path.Combine(outDir, "results.csv")).Length);
        Assert.Contains($"{runs} runs (", output);
        var summary = ReadCsv(Path.Combine(outDir, "summary.csv"));
        Assert.Equal("machine,strategy,budget,metric,trials,mean,ci95_low,ci95_high,gamma,alpha,window,v", string.Join(',', summary[0]));
        Assert.Contains(summary, r => r[0] == "hmean" && r[3] == "official_score");
    }

    [Fact]
    public async Task ImpossibleMachineCountCreatesNoFolder()
    {
        string outDir = Path.Combine(_dir, "demo");

        var (code, _, error) = await Run("demo", "--machines", "0", "--trials", "2", "--out", outDir);

        Assert.Equal(CliRunner.BadInput, code);
        Assert.StartsWith("error: ", error);
        Assert.Contains("machines must be at least 1", error);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public async Task OutPointingAtAFileIsAUsageError()
    {
        string file = Path.Combine(_dir, "taken");
        File.WriteAllText(file, "not a folder\n");

        var (code, _, error) = await Run("demo", "--machines", "2", "--trials", "2", "--out", file);

        Assert.Equal(CliRunner.BadInput, code);
        Assert.Contains("is a file", error);
        Assert.Equal("not a folder\n", File.ReadAllText(file));
    }
}
