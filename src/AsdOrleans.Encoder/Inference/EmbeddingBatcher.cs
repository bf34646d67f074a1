using System.Diagnostics;
using System.Collections.Concurrent;

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
    private sealed record Request(float[] Samples, TaskCompletionSource<float[]> Completion, long ArrivalTicks);

    private readonly Func<IReadOnlyList<float[]>, float[][]> _embed;
    private readonly BatcherOptions _options;
    private readonly BlockingCollection<Request> _queue = new();
    private readonly Thread _worker;
    private long _batches, _clips, _cancelled, _failed;

    public EmbeddingBatcher(EncoderModel model, BatcherOptions? options = null) : this(model.Embed, options) { }

    /// <summary>For any embedding function with the model's contract (tests and benchmarks use the model itself).</summary>
    public EmbeddingBatcher(Func<IReadOnlyList<float[]>, float[][]> embed, BatcherOptions? options = null)
    {
        _embed = embed;
        _options = (options ?? new BatcherOptions()).Validate();
        // One dedicated OS thread owns the model: native Torch keeps per-thread caches, and calling it from
        // ever-changing pool threads grew the process by about 250 MB per new thread (measured).
        _worker = new Thread(Run) { IsBackground = true, Name = "embedding-batcher" };
        _worker.Start();
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
        try
        {
            _queue.Add(new Request(samples, completion, Stopwatch.GetTimestamp()));
        }
        catch (InvalidOperationException)
        {
            throw new ObjectDisposedException(nameof(EmbeddingBatcher), "the batcher is shut down");
        }
        return completion.Task;
    }

    private void Run()
    {
        var batch = new List<Request>(_options.MaxBatchSize);
        while (_queue.TryTake(out var first, Timeout.Infinite))
        {
            batch.Clear();
            Accept(first, batch);
            long deadline = first.ArrivalTicks + (long)(_options.MaxDelay.TotalSeconds * Stopwatch.Frequency);
            while (batch.Count < _options.MaxBatchSize)
            {
                var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                if (!_queue.TryTake(out var next, remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero))
                    break; // the oldest request has waited long enough, or the queue is closed
                Accept(next, batch);
            }
            if (batch.Count > 0)
                Execute(batch);
        }
    }

    /// <summary>Cancelled requests are dropped before they cost a forward pass.</summary>
    private void Accept(Request request, List<Request> batch)
    {
        if (request.Completion.Task.IsCompleted)
            Interlocked.Increment(ref _cancelled);
        else
            batch.Add(request);
    }

    private void Execute(List<Request> batch)
    {
        try
        {
            long started = Stopwatch.GetTimestamp();
            var embeddings = _embed(batch.Select(r => r.Samples).ToList());
            EncoderMetrics.Record(batch.Count, Stopwatch.GetElapsedTime(started));
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
                    Execute([request]);
                return;
            }
            Interlocked.Increment(ref _failed);
            batch[0].Completion.TrySetException(e);
        }
    }

    public ValueTask DisposeAsync()
    {
        _queue.CompleteAdding();
        _worker.Join();
        _queue.Dispose();
        return ValueTask.CompletedTask;
    }
}
