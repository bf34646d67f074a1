using AsdOrleans.Cli.Commands;
using AsdOrleans.Datasets.Dcase;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Audio.Features;
using AsdOrleans.Encoder;

namespace AsdOrleans.Cli.Experiments;

/// <summary>Turns decoded 16 kHz clips into embeddings; <see cref="EmbeddingCache"/> keys its entries by <see cref="Version"/>.</summary>
public interface IClipEmbedder : IDisposable
{
    /// <summary>Names the embedding function: a trained model's version id, or the baseline's settings id.</summary>
    string Version { get; }
    float[][] Embed(float[][] samples);
}

/// <summary>A trained encoder model (`--embedder model --model FILE`).</summary>
public sealed class ModelClipEmbedder(EncoderModel model) : IClipEmbedder
{
    public string Version => model.VersionId;
    public float[][] Embed(float[][] samples) => model.Embed(samples);
    public void Dispose() => model.Dispose();
}

/// <summary>The training-free spectral statistics (`--embedder baseline`: log-mel mean and std per clip; `spectral`: also the maximum), clips in parallel.</summary>
public sealed class BaselineClipEmbedder(SpectralStatisticsSettings? settings = null) : IClipEmbedder
{
    private readonly SpectralStatisticsEmbedder _embedder = new(settings);

    public string Version => _embedder.Id;
    public float[][] Embed(float[][] samples)
    {
        var embeddings = new float[samples.Length][];
        Parallel.For(0, samples.Length, i => embeddings[i] = _embedder.Embed(samples[i]));
        return embeddings;
    }
    public void Dispose() { }
}

/// <summary>The `--embedder` names and what the baseline needs around its embedder.</summary>
public static class Embedders
{
    public const string Model = "model";
    public const string Baseline = "baseline";
    public const string Spectral = "spectral";
    public const string Description = "model (a trained encoder, --model), baseline (training-free log-mel mean/std, standardised per machine on its training clips) " +
                                      "or spectral (training-free log-mel mean/std/max and envelope-modulation peaks, whitened per machine on its training clips)";
    public const string BaselineLabel = "baseline (training-free)";

    public static string Parse(string? name) => name switch
    {
        null or Model => Model,
        Baseline => Baseline,
        Spectral => Spectral,
        _ => throw new UsageException($"--embedder: '{name}' is not one of '{Model}', '{Baseline}', '{Spectral}'"),
    };

    /// <summary>Whether the embedder is training-free (no --model).</summary>
    public static bool IsTrainingFree(string kind) => kind is Baseline or Spectral;

    public static string BaselineVersion => SpectralStatisticsSettings.Default.Id;
    public static string SpectralVersion => SpectralStatisticsSettings.Spectral.Id;

    /// <summary>The training-free embedder of <paramref name="kind"/>, clips in parallel.</summary>
    public static IClipEmbedder TrainingFree(string kind) =>
        new BaselineClipEmbedder(kind == Spectral ? SpectralStatisticsSettings.Spectral : SpectralStatisticsSettings.Default);

    /// <summary>A training-free embedder's raw features (cached), as a silo receives them.</summary>
    public static (EmbeddingTable Table, EmbeddingCacheReport Report) EmbedTrainingFreeRaw(string kind, EmbeddingCache cache, IReadOnlyList<DcaseClip> clips, int batchSize, Action<int, int> progress)
        => cache.Embed(clips, kind == Spectral ? SpectralVersion : BaselineVersion, () => TrainingFree(kind), batchSize, progress);

    /// <summary>What a machine does to a training-free embedder's raw features: standardise (baseline) or whiten (spectral).</summary>
    public static EmbeddingTable PerMachine(string kind, EmbeddingTable raw) =>
        kind == Spectral ? EmbeddingStandardization.WhitenedPerMachine(raw) : EmbeddingStandardization.PerMachine(raw);

    /// <summary>
    /// Moves, per machine, the first <paramref name="source"/> source-normal and first <paramref name="target"/>
    /// target-normal test clips (by file name, i.e. by index) into the training split: the protocol for a data set that
    /// has test clips only (e.g. the real valve clips: 20 + 4 enrolled, the other 176 streamed). Anomalous clips never move.
    /// </summary>
    public static IReadOnlyList<DcaseClip> EnrollFromTest(IReadOnlyList<DcaseClip> clips, int source, int target)
    {
        var moved = new HashSet<string>(StringComparer.Ordinal);
        foreach (var machine in clips.Where(c => c.IsTest).GroupBy(AudioData.MachineName, StringComparer.Ordinal))
        {
            foreach (var (isTarget, count) in new[] { (false, source), (true, target) })
            {
                var normals = machine.Where(c => c.IsAnomaly == false && c.IsTarget == isTarget).OrderBy(c => c.FileName, StringComparer.Ordinal).ToList();
                if (normals.Count < count)
                    throw new UsageException($"--enroll-from-test: machine '{machine.Key}' has {normals.Count} {(isTarget ? "target" : "source")}-domain normal test clips, fewer than {count}");
                foreach (var c in normals.Take(count)) moved.Add(c.Path);
            }
        }
        return clips.Select(c => moved.Contains(c.Path) ? c with { IsTest = false } : c).ToList();
    }

    /// <summary>The baseline's table: embedded (cached) and standardised per machine on its training clips.</summary>
    public static (EmbeddingTable Table, EmbeddingCacheReport Report) EmbedBaseline(EmbeddingCache cache, IReadOnlyList<DcaseClip> clips, int batchSize, Action<int, int> progress)
    {
        var (raw, report) = EmbedBaselineRaw(cache, clips, batchSize, progress);
        return (EmbeddingStandardization.PerMachine(raw), report);
    }

    /// <summary>The baseline's features as they come, not standardised (a baseline silo standardises them per machine).</summary>
    public static (EmbeddingTable Table, EmbeddingCacheReport Report) EmbedBaselineRaw(EmbeddingCache cache, IReadOnlyList<DcaseClip> clips, int batchSize, Action<int, int> progress)
        => cache.Embed(clips, BaselineVersion, () => new BaselineClipEmbedder(), batchSize, progress);
}
