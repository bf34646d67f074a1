using AsdOrleans.Audio;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Inference;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.EncoderGrains;

/// <summary>Where the silo finds its encoder and how it batches.</summary>
public sealed record EncoderServiceOptions
{
    public string ModelPath { get; set; } = "";
    public string Device { get; set; } = "auto";
    /// <summary>
    /// Inference number format: fp32, fp32-folded, bf16, or auto (bf16 on a CPU with native bf16, else fp32). fp32 is the
    /// reference: a silo's scores then equal the experiment harness's (SiloOptions.EncoderPrecision).
    /// </summary>
    public string Precision { get; set; } = "fp32";
    public int MaxBatchSize { get; set; } = 16;
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromMilliseconds(10);
    public AudioLoadOptions Audio { get; set; } = AudioLoadOptions.Default;
}

/// <summary>
/// The silo's one encoder: the model, loaded lazily on first use (silos without the encoder role never load
/// Torch), and the batching engine every worker activation shares.
/// </summary>
public sealed class EncoderService(EncoderServiceOptions options) : IAsyncDisposable
{
    private readonly Lazy<(EncoderModel Model, EmbeddingBatcher Batcher)> _engine = new(() =>
    {
        if (string.IsNullOrWhiteSpace(options.ModelPath))
            throw new InvalidOperationException("this silo has no encoder model configured (EncoderServiceOptions.ModelPath)");
        var model = EncoderModel.Load(options.ModelPath, options.Device);
        model.SetPrecision(InferencePrecisions.Resolve(options.Precision, model.Device));
        var batcher = new EmbeddingBatcher(model, new BatcherOptions { MaxBatchSize = options.MaxBatchSize, MaxDelay = options.MaxDelay });
        return (model, batcher);
    });

    public EncoderServiceOptions Options => options;
    public string ModelVersion => _engine.Value.Model.VersionId;
    public InferencePrecision Precision => _engine.Value.Model.Precision;
    /// <summary>Whether this silo has loaded its model (silos without the encoder role never do).</summary>
    public bool IsLoaded => _engine.IsValueCreated;
    public BatcherStatistics Statistics => _engine.IsValueCreated ? _engine.Value.Batcher.Statistics : default;

    public Task<float[]> EmbedAsync(float[] samples, CancellationToken cancellation = default) => _engine.Value.Batcher.EmbedAsync(samples, cancellation);

    public async ValueTask DisposeAsync()
    {
        if (!_engine.IsValueCreated) return;
        await _engine.Value.Batcher.DisposeAsync();
        _engine.Value.Model.Dispose();
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
