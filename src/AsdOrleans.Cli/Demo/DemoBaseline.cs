using System.Globalization;
using AsdOrleans.Cli.Experiments;
using AsdOrleans.Datasets.Dcase;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Cli.Demo;

/// <summary>One machine's offline figures on the baseline.</summary>
public sealed record BaselineFigures(double Auc, double PartialAuc, double AucSource, double AucTarget);

/// <summary>
/// The training-free baseline's offline figures for the demo's machines (issue 11): the clips each machine enrolls
/// and streams, embedded by the baseline (cached in the demo folder) and run through the harness as `asd experiment`
/// reports it beside a model (<see cref="BaselineRun"/>: the baseline's own method, 1 − max cosine to the training clips;
/// strategy none, b = 0, one trial with the demo's seed).
/// </summary>
public static class DemoBaseline
{
    public const string CacheFolder = "embeddings";

    /// <summary>Offline metrics per demo machine id.</summary>
    public static IReadOnlyDictionary<string, BaselineFigures> Compute(DemoSettings settings, IReadOnlyList<DemoMachine> machines, string folder, TextWriter writer)
    {
        var clips = machines.SelectMany(m => m.TrainingClips.Concat(m.TestClips)).ToList();
        var owners = machines.SelectMany(m => Enumerable.Repeat(m.Id, m.TrainingClips.Count + m.TestClips.Count)).ToList();
        var cache = new EmbeddingCache(Path.Combine(folder, CacheFolder));
        var (raw, report) = Terminal.WithProgress(writer, "embedding (baseline)", progress =>
            cache.Embed(clips, Embedders.BaselineVersion, () => new BaselineClipEmbedder(), 64, progress), linesWhenRedirected: true);
        // The cache names machines by type; the demo has several machines of a type, so rename rows to their machine ids.
        var records = raw.Records.Select((r, i) => r with { Machine = owners[i] }).ToList();
        var table = EmbeddingStandardization.PerMachine(new EmbeddingTable(records, raw.Dimension, raw.Source));
        var experiment = new ExperimentSettings { Strategies = [QueryStrategyKind.None], Budgets = [0], Trials = 1, Seed = settings.Seed };
        var run = BaselineRun.Compute(table, experiment, Embedders.BaselineVersion);
        writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"baseline (training-free log-mel statistics): {report.Clips} clips, {report.FromCache} from the cache, {report.Embedded} embedded in {report.Elapsed.TotalSeconds:F1} s"));
        return machines.ToDictionary(m => m.Id, m => new BaselineFigures(
            run[m.Id, "auc"].Mean, run[m.Id, "pauc"].Mean, run[m.Id, "auc_source"].Mean, run[m.Id, "auc_target"].Mean));
    }
}
