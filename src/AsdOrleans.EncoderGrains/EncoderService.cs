using AsdOrleans.Abstractions;
using AsdOrleans.Audio;
using AsdOrleans.Audio.Features;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Inference;
using AsdOrleans.Method.Machines;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.EncoderGrains;

/// <summary>Where the silo finds its encoder and how it batches.</summary>
public sealed record EncoderServiceOptions
{
    /// <summary>The trained model (<see cref="ModelEmbedder"/>), the training-free baseline (<see cref="BaselineEmbedder"/>),
    /// or the training-free spectral statistics that machines whiten (<see cref="SpectralEmbedder"/>).</summary>
    public const string ModelEmbedder = "model", BaselineEmbedder = "baseline", SpectralEmbedder = "spectral";

    /// <summary><see cref="ModelEmbedder"/> (the default), <see cref="BaselineEmbedder"/> or <see cref="SpectralEmbedder"/>: log-mel statistics, no model file.</summary>
    public string Embedder { get; set; } = ModelEmbedder;
    public string ModelPath { get; set; } = "";
    public string Device { get; set; } = "auto";
    /// <summary>
    /// Inference number format: fp32, fp32-folded, bf16, or auto (bf16 on a CPU with native bf16, else fp32). fp32 is the
    /// reference: a silo's scores then equal the experiment harness's (SiloOptions.EncoderPrecision).
    /// </summary>
    public string Precision { get; set; } = "fp32";
    /// <summary>Enrolled machines whose embedder a silo remembers at most; past it, new ones are asked on every clip until
    /// the cache has compacted.</summary>
    public int EnrolledEmbedderCacheSize { get; set; } = 100_000;
    /// <summary>A machine without a clip for this long is forgotten, and asked again on its next clip.</summary>
    public TimeSpan EnrolledEmbedderIdle { get; set; } = TimeSpan.FromHours(1);
    public int MaxBatchSize { get; set; } = 16;
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromMilliseconds(10);
    public AudioLoadOptions Audio { get; set; } = AudioLoadOptions.Default;
}

/// <summary>
/// The silo's one encoder: the model, loaded lazily on first use (silos without the encoder role never load
/// Torch), and the batching engine every worker activation shares; and the training-free embedders, whose log-mel
/// statistics are computed on the thread pool (per clip, nothing to batch) for machines to standardise or whiten. The
/// silo's embedder serves calls that name none; a machine may name another (<c>MachineSettings.Embedder</c>). No model is
/// loaded until a call needs it.
/// </summary>
public sealed class EncoderService(EncoderServiceOptions options) : IAsyncDisposable
{
    private readonly EmbedderKind _default = EmbedderNames.Parse(options.Embedder);
    private readonly Lazy<SpectralStatisticsEmbedder> _baseline = new(() => new SpectralStatisticsEmbedder());
    private readonly Lazy<SpectralStatisticsEmbedder> _spectral = new(() => new SpectralStatisticsEmbedder(SpectralStatisticsSettings.Spectral));

    // Enrolled machines' embedders as their machines said (machine id → kind), so a clip costs no extra call; bounded in
    // entries and idle time, because machines come and go over a silo's life.
    private readonly MemoryCache _enrolledEmbedders = new(new MemoryCacheOptions { SizeLimit = options.EnrolledEmbedderCacheSize });

    public bool TryGetEnrolledEmbedder(string machineId, out EmbedderKind embedder) => _enrolledEmbedders.TryGetValue(machineId, out embedder);

    public void RememberEnrolledEmbedder(string machineId, EmbedderKind embedder)
        => _enrolledEmbedders.Set(machineId, embedder, new MemoryCacheEntryOptions { Size = 1, SlidingExpiration = options.EnrolledEmbedderIdle });

    public void ForgetEnrolledEmbedder(string machineId) => _enrolledEmbedders.Remove(machineId);

    /// <summary>Machines whose embedder this silo remembers now.</summary>
    public int RememberedEmbedders => _enrolledEmbedders.Count;

    /// <summary>The embedder a call names (model, baseline or spectral), or the silo's when it names none.</summary>
    public EmbedderKind Resolve(string? embedder) => embedder is null ? _default : EmbedderNames.Parse(embedder);

    private SpectralStatisticsEmbedder? TrainingFree(EmbedderKind embedder) => embedder switch
    {
        EmbedderKind.Baseline => _baseline.Value,
        EmbedderKind.Spectral => _spectral.Value,
        _ => null,
    };

    private sealed record EngineParts(EncoderModel Model, EmbeddingBatcher Batcher);
    private EngineParts? _engineParts;
    private readonly object _engineLock = new();

    /// <summary>The model and its batcher, loaded by the first call that needs them. A failed load is not kept (as a
    /// <see cref="Lazy{T}"/> would keep it): the next call tries again, so a replaced model file is read without a restart.</summary>
    private EngineParts Engine
    {
        get
        {
            if (Volatile.Read(ref _engineParts) is { } ready) return ready;
            lock (_engineLock)
                return _engineParts ??= LoadEngine();
        }
    }

    private EngineParts LoadEngine()
    {
        if (string.IsNullOrWhiteSpace(options.ModelPath))
            throw new InvalidOperationException("this silo has no encoder model configured (EncoderServiceOptions.ModelPath)");
        EncoderModel model;
        try
        {
            model = EncoderModel.Load(options.ModelPath, options.Device);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or ArgumentException or TorchUnavailableException)
        {
            // Checked at start (asd silo), so the file changed since, or Torch or the device failed: name it, not a bare 500.
            throw new EncoderModelUnavailableException($"this silo's encoder model cannot be loaded: {e.Message}", e);
        }
        model.SetPrecision(InferencePrecisions.Resolve(options.Precision, model.Device));
        var batcher = new EmbeddingBatcher(model, new BatcherOptions { MaxBatchSize = options.MaxBatchSize, MaxDelay = options.MaxDelay });
        return new EngineParts(model, batcher);
    }

    public EncoderServiceOptions Options => options;
    /// <summary>The version id of an embedder's embeddings: the trained model's version id, or the training-free settings id.</summary>
    public string ModelVersionOf(EmbedderKind embedder) => TrainingFree(embedder)?.Id ?? Engine.Model.VersionId;
    /// <summary>An embedder's version id and dimension: from its settings (training-free), or the model's (loaded, as the first
    /// clip would load it); null for the model on a silo with no model file.</summary>
    public EmbedderOutput? OutputOf(EmbedderKind embedder)
        => TrainingFree(embedder) is { } statistics ? new EmbedderOutput(statistics.Id, statistics.Dimension)
            : string.IsNullOrWhiteSpace(options.ModelPath) ? null
            : new EmbedderOutput(Engine.Model.VersionId, Engine.Model.EmbeddingDimension);
    public InferencePrecision Precision => Engine.Model.Precision;
    /// <summary>Whether this silo has loaded its model (silos without the encoder role never do; baseline silos neither).</summary>
    public bool IsLoaded => _engineParts is not null;
    public BatcherStatistics Statistics => _engineParts is { } engine ? engine.Batcher.Statistics : default;

    public Task<float[]> EmbedAsync(float[] samples, CancellationToken cancellation = default) => EmbedAsync(samples, _default, cancellation);

    /// <summary>Embeds with <paramref name="embedder"/>: training-free statistics on the thread pool, the model through the batcher.</summary>
    public Task<float[]> EmbedAsync(float[] samples, EmbedderKind embedder, CancellationToken cancellation = default)
        => TrainingFree(embedder) is { } statistics ? Task.Run(() => statistics.Embed(samples), cancellation) : Engine.Batcher.EmbedAsync(samples, cancellation);

    public async ValueTask DisposeAsync()
    {
        _enrolledEmbedders.Dispose();
        if (_engineParts is not { } engine) return;
        await engine.Batcher.DisposeAsync();
        engine.Model.Dispose();
    }
}

public static class EncoderServiceRegistration
{
    public static IServiceCollection AddAsdEncoder(this IServiceCollection services, Action<EncoderServiceOptions> configure)
    {
        var options = new EncoderServiceOptions();
        configure(options);
        return services.AddSingleton(new EncoderService(options));
    }
}
