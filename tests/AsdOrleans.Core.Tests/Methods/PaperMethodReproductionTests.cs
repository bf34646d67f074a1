using System.Globalization;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Core.Tests.Methods;

/// <summary>
/// `--method paper` reproduces what commit c0ec0d7 wrote for the same run (Fixtures/paper-c0ec0d7/README.md): every row
/// and every column of results.csv and summary.csv, numbers compared by value (so a change of number formatting does not matter).
/// </summary>
public class PaperMethodReproductionTests
{
    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "Fixtures", "paper-c0ec0d7");

    private static readonly ExperimentSettings Settings = new()
    {
        Strategies = [QueryStrategyKind.None, QueryStrategyKind.Random, QueryStrategyKind.VariableUncertainty, QueryStrategyKind.Hybrid,
            QueryStrategyKind.HybridPrinted, QueryStrategyKind.Qbc],
        Budgets = [0, 0.05, 0.1, 0.2],
        Trials = 3,
        Seed = 0,
        Method = MachineConfig.Paper,
        Gammas = [0, 0.5],
        RandomShares = [0.1, 0.5],
    };

    [Fact]
    public void Paper_method_gives_the_results_and_summary_of_c0ec0d7()
    {
        var table = EmbeddingTable.Load(Path.Combine(Fixtures, "embeddings.csv"));
        var results = PrequentialExperiment.Run(table, Settings with { MaxDegreeOfParallelism = 2 }, cancellation: TestContext.Current.CancellationToken);
        string folder = Path.Combine(Path.GetTempPath(), "asd-paper-pin-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            ExperimentSummary.WriteResults(Path.Combine(folder, "results.csv"), results);
            ExperimentSummary.WriteSummary(Path.Combine(folder, "summary.csv"), ExperimentSummary.Summarise(results));
            AssertSameValues(Path.Combine(Fixtures, "results.csv"), Path.Combine(folder, "results.csv"));
            AssertSameValues(Path.Combine(Fixtures, "summary.csv"), Path.Combine(folder, "summary.csv"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void The_comparison_notices_a_different_method()
    {
        // The check must be able to fail: the default method on the same run differs.
        var table = EmbeddingTable.Load(Path.Combine(Fixtures, "embeddings.csv"));
        var results = PrequentialExperiment.Run(table, Settings with { Method = MachineConfig.Default, Gammas = [0.5], RandomShares = [0.1], Budgets = [0.1] },
            cancellation: TestContext.Current.CancellationToken);
        string path = Path.Combine(Path.GetTempPath(), "asd-default-" + Guid.NewGuid().ToString("N") + ".csv");
        try
        {
            ExperimentSummary.WriteResults(path, results);
            Assert.ThrowsAny<Exception>(() => AssertSameValues(Path.Combine(Fixtures, "results.csv"), path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Every column of <paramref name="expected"/> (by name) in every row: numbers equal as doubles, text equal as text.</summary>
    internal static void AssertSameValues(string expected, string actual)
    {
        var a = ReadCsv(expected);
        var b = ReadCsv(actual);
        Assert.Equal(a.Rows.Count, b.Rows.Count);
        foreach (var column in a.Header)
            Assert.Contains(column, b.Header);
        for (int i = 0; i < a.Rows.Count; i++)
            foreach (var column in a.Header)
            {
                string x = a.Rows[i][Array.IndexOf(a.Header, column)], y = b.Rows[i][Array.IndexOf(b.Header, column)];
                bool same = double.TryParse(x, NumberStyles.Float, CultureInfo.InvariantCulture, out var u)
                    && double.TryParse(y, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
                    ? u.Equals(v) // NaN equals NaN
                    : x == y;
                Assert.True(same, $"{Path.GetFileName(expected)} row {i + 2}, column {column}: expected {x}, got {y}");
            }
    }

    private static (string[] Header, List<string[]> Rows) ReadCsv(string path)
    {
        var lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToList();
        return (lines[0].Split(','), lines.Skip(1).Select(l => l.Split(',')).ToList());
    }
}
