using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Io;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Core.Tests.Experiments;

/// <summary>results.csv read back for `asd pool`: what the experiment wrote, and a clear error naming file, line and column otherwise.</summary>
public sealed class ExperimentRunFolderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-runfolder-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // One small run serves every test: each only writes it and damages the copy on disk.
    private static readonly Lazy<IReadOnlyList<TrialResult>> SmallRun = new(() =>
    {
        var plant = SyntheticEmbeddings.Generate(new SyntheticEmbeddingSettings { Machines = 2, Seed = 5, SourceTrain = 60, TestPerDomainAndLabel = 10 });
        var settings = new ExperimentSettings { Strategies = [QueryStrategyKind.None, QueryStrategyKind.Hybrid], Budgets = [0, 0.2], Trials = 2, Seed = 1 };
        return PrequentialExperiment.Run(plant, settings);
    });

    [Fact]
    public void Reads_back_every_row_the_experiment_wrote()
    {
        var results = SmallRun.Value;
        string path = Path.Combine(_dir, ExperimentRunFolder.ResultsFile);
        ExperimentSummary.WriteResults(path, results);

        var read = ExperimentRunFolder.ReadResults(path);

        Assert.Equal(results.Count, read.Count);
        for (int i = 0; i < results.Count; i++)
        {
            var (a, b) = (results[i], read[i]);
            Assert.Equal((a.Machine, a.Strategy, a.Budget, a.Trial, a.Clips, a.Queries, a.NormalLabels, a.AnomalousLabels, a.TargetLabels, a.ForcedLabels, a.RandomLabels, a.Declined, a.Point),
                (b.Machine, b.Strategy, b.Budget, b.Trial, b.Clips, b.Queries, b.NormalLabels, b.AnomalousLabels, b.TargetLabels, b.ForcedLabels, b.RandomLabels, b.Declined, b.Point));
            Assert.Equal(a.Auc, b.Auc, 12);
            Assert.Equal(a.PartialAuc, b.PartialAuc, 12);
        }
    }

    [Theory]
    [InlineData("auc", "NaN", "column 'auc': NaN is not a finite number")]
    [InlineData("auc", "high", "column 'auc': 'high' is not a number")]
    [InlineData("queries", "-1", "column 'queries': -1 is outside 0")]
    [InlineData("clips", "1.5", "column 'clips': '1.5' is not a whole number")]
    [InlineData("clips", "0", "column 'clips': 0 is outside 1")]
    [InlineData("window", "99999999999", "column 'window': 99999999999 is outside 1")]
    [InlineData("strategy", "randum", "column 'strategy': unknown")]
    [InlineData("queries", "1000", "1000 queries on")]
    [InlineData("forced_labels", "1000", "1000 forced, target-domain or random labels of")]
    [InlineData("random_labels", "-2", "column 'random_labels': -2 is outside -1")]
    [InlineData("declined", "1", "declined requests are not the")]
    public void A_damaged_field_names_the_file_line_and_column(string column, string value, string problem)
    {
        string path = Path.Combine(_dir, ExperimentRunFolder.ResultsFile);
        ExperimentSummary.WriteResults(path, SmallRun.Value);
        var lines = File.ReadAllLines(path);
        int index = Array.IndexOf(lines[0].Split(','), column);
        var fields = lines[3].Split(',');
        fields[index] = value;
        lines[3] = string.Join(',', fields);
        File.WriteAllLines(path, lines);

        var error = Assert.Throws<InputDataException>(() => ExperimentRunFolder.ReadResults(path));

        Assert.Equal(path, error.File);
        Assert.Equal(4, error.Line);
        Assert.Contains(problem, error.Problem);
    }

    [Fact]
    public void A_results_csv_from_before_the_forced_count_reads_it_as_unknown()
    {
        string path = Path.Combine(_dir, ExperimentRunFolder.ResultsFile);
        ExperimentSummary.WriteResults(path, SmallRun.Value);
        var lines = File.ReadAllLines(path);
        Assert.EndsWith(",forced_labels,random_labels,declined", lines[0]);
        string WithoutLast(string line) => line[..line.LastIndexOf(',')];
        File.WriteAllLines(path, lines.Select(WithoutLast).Select(WithoutLast).Select(WithoutLast));

        var read = ExperimentRunFolder.ReadResults(path);

        Assert.All(read, r => Assert.Equal((-1L, -1L), (r.ForcedLabels, r.RandomLabels)));
        Assert.Equal(SmallRun.Value.Select(r => r.TargetLabels), read.Select(r => r.TargetLabels));
    }

    [Fact]
    public void A_file_that_is_not_a_results_csv_is_refused_by_its_header()
    {
        string path = Path.Combine(_dir, ExperimentRunFolder.ResultsFile);
        File.WriteAllText(path, "machine,metric,trials,mean,ci95_low,ci95_high\nfan,auc,10,0.8,0.7,0.9\n");
        var error = Assert.Throws<InputDataException>(() => ExperimentRunFolder.ReadResults(path));
        Assert.Contains("no column strategy, budget", error.Problem);
        Assert.Equal(0.8, ExperimentRunFolder.ReadBaselineAuc(path)["fan"]); // the same file is a baseline.csv
    }
}
