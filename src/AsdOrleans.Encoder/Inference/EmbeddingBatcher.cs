using System.Diagnostics;
using System.Threading.Channels;

namespace AsdOrleans.Encoder.Inference;

/// <summary>How the batcher groups requests.</summary>
public sealed record BatcherOptions
{
    /// <summary>At most this many clips go into one forward pass.</summary>
    public int MaxBatchSize { get; init; } = 16;
    /// <summary>A batch is closed at the latest this long after its oldest request arrived.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromMilliseconds(10);

    public BatcherOptions Validate()
    {
        if (MaxBatchSize < 1) throw new ArgumentException($"max batch size must be at least 1, got {MaxBatchSize}");
        if (MaxDelay < TimeSpan.Zero) throw new ArgumentException($"max delay must not be negative, got {MaxDelay}");
        return this;
    }
}

/// <summary>Counters of what the batcher has done, for benchmarks and dashboards.</summary>
public readonly record struct BatcherStatistics(long Batches, long Clips, long Cancelled, long Failed)
{
    public double MeanBatchSize => Batches == 0 ? 0 : (double)Clips / Batches;
}

/// <summary>
/// The process's one batched inference engine: requests from any thread queue up, and a single worker that
/// owns the model (and so the device) runs them in batches bounded by a maximum size and a maximum delay
/// counted from the oldest request's arrival. A cancelled request is dropped if it has not run yet.
/// </summary>
public sealed class EmbeddingBatcher : IAsyncDisposable
{
    private sealed record Request(float[] Samples, TaskCompletionSource<float[]> Completion, long ArrivalTicks, CancellationToken Cancellation);

    private readonly Func<IReadOnlyList<float[]>, float[][]> _embed;
    private readonly BatcherOptions _options;
    private readonly Channel<Request> _queue = Channel.CreateUnbounded<Request>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _worker;
    private long _batches, _clips, _cancelled, _failed;

    public EmbeddingBatcher(EncoderModel model, BatcherOptions? options = null) : this(model.Embed, options) { }

    /// <summary>For any embedding function with the model's contract (tests and benchmarks use the model itself).</summary>
    public EmbeddingBatcher(Func<IReadOnlyList<float[]>, float[][]> embed, BatcherOptions? options = null)
    {
        _embed = embed;
        _options = (options ?? new BatcherOptions()).Validate();
        // One worker loop: forward passes run one at a time, never concurrently on the device.
        _worker = Task.Run(RunAsync);
    }

    public BatcherStatistics Statistics => new(Interlocked.Read(ref _batches), Interlocked.Read(ref _clips), Interlocked.Read(ref _cancelled), Interlocked.Read(ref _failed));

    public Task<float[]> EmbedAsync(float[] samples, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (cancellation.IsCancellationRequested)
            return Task.FromCanceled<float[]>(cancellation);
        var completion = new TaskCompletionSource<float[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (cancellation.CanBeCanceled)
            cancellation.Register(() => completion.TrySetCanceled(cancellation));
        if (!_queue.Writer.TryWrite(new Request(samples, completion, Stopwatch.GetTimestamp(), cancellation)))
            throw new ObjectDisposedException(nameof(EmbeddingBatcher), "the batcher is shut down");
        return completion.Task;
    }

    private async Task RunAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<Request>(_options.MaxBatchSize);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            long deadline = 0;
            while (batch.Count < _options.MaxBatchSize)
            {
                if (reader.TryRead(out var request))
                {
                    if (request.Completion.Task.IsCompleted) { Interlocked.Increment(ref _cancelled); continue; }
                    if (batch.Count == 0)
                        deadline = request.ArrivalTicks + (long)(_options.MaxDelay.TotalSeconds * Stopwatch.Frequency);
                    batch.Add(request);
                    continue;
                }
                if (batch.Count == 0)
                    break;
                var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                if (remaining <= TimeSpan.Zero)
                    break;
                using var timeout = new CancellationTokenSource(remaining);
                try
                {
                    if (!await reader.WaitToReadAsync(timeout.Token).ConfigureAwait(false))
                        break; // completed: run what we have
                }
                catch (OperationCanceledException)
                {
                    break; // the oldest request has waited long enough
                }
            }
            batch.RemoveAll(r =>
            {
                if (!r.Completion.Task.IsCompleted) return false;
                Interlocked.Increment(ref _cancelled);
                return true;
            });
            if (batch.Count > 0)
                Run(batch);
        }
    }

    private void Run(List<Request> batch)
    {
        try
        {
            var embeddings = _embed(batch.Select(r => r.Samples).ToList());
            Interlocked.Increment(ref _batches);
            Interlocked.Add(ref _clips, batch.Count);
            for (int i = 0; i < batch.Count; i++)
                batch[i].Completion.TrySetResult(embeddings[i]);
        }
        catch (Exception e)
        {
            // One bad clip must not fail its neighbours: retry each alone to find it.
            if (batch.Count > 1)
            {
                foreach (var request in batch)
                    Run([request]);
                return;
            }
            Interlocked.Increment(ref _failed);
            batch[0].Completion.TrySetException(e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _worker.ConfigureAwait(false);
    }
}
