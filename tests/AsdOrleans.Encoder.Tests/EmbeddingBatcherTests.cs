using System.Collections.Concurrent;
using AsdOrleans.Encoder.Inference;

namespace AsdOrleans.Encoder.Tests;

public class EmbeddingBatcherTests
{
    [Fact]
    public async Task Batched_results_equal_the_model_run_alone()
    {
        using var model = TestAudio.UntrainedModel();
        await using var batcher = new EmbeddingBatcher(model, new BatcherOptions { MaxBatchSize = 4, MaxDelay = TimeSpan.FromMilliseconds(50) });
        var clips = Enumerable.Range(0, 6).Select(i => TestAudio.Noise(4_000 + 700 * i, (ulong)i)).ToArray();
        var results = await Task.WhenAll(clips.Select(c => batcher.EmbedAsync(c, TestContext.Current.CancellationToken)));
        for (int i = 0; i < clips.Length; i++)
            Assert.True(TestAudio.MaxAbsDifference(model.Embed([clips[i]])[0], results[i]) < 1e-5);
        Assert.Equal(6, batcher.Statistics.Clips);
        Assert.True(batcher.Statistics.Batches <= 3, $"{batcher.Statistics.Batches} batches for 6 clips at max size 4");
    }

    [Fact]
    public async Task Batches_respect_the_maximum_size_and_close_after_the_maximum_delay()
    {
        var sizes = new ConcurrentQueue<int>();
        float[][] Fake(IReadOnlyList<float[]> batch) { sizes.Enqueue(batch.Count); return batch.Select(b => new[] { b[0] }).ToArray(); }
        await using var batcher = new EmbeddingBatcher(Fake, new BatcherOptions { MaxBatchSize = 5, MaxDelay = TimeSpan.FromMilliseconds(200) });
        var burst = Enumerable.Range(0, 12).Select(i => batcher.EmbedAsync([i], TestContext.Current.CancellationToken)).ToArray();
        var values = await Task.WhenAll(burst);
        Assert.Equal(Enumerable.Range(0, 12).Select(i => (float)i), values.Select(v => v[0]));
        Assert.All(sizes, s => Assert.InRange(s, 1, 5));

        // A lone request waits at most about the delay, not forever.
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await batcher.EmbedAsync([42], TestContext.Current.CancellationToken);
        Assert.InRange(watch.ElapsedMilliseconds, 150, 2_000);
    }

    [Fact]
    public async Task A_cancelled_request_is_dropped_and_a_failing_clip_fails_alone()
    {
        var gate = new ManualResetEventSlim(false);
        float[][] Slow(IReadOnlyList<float[]> batch)
        {
            gate.Wait(TimeSpan.FromSeconds(5));
            if (batch.Any(b => float.IsNaN(b[0]))) throw new ArgumentException("NaN clip");
            return batch.Select(b => new[] { b[0] }).ToArray();
        }
        await using var batcher = new EmbeddingBatcher(Slow, new BatcherOptions { MaxBatchSize = 8, MaxDelay = TimeSpan.FromMilliseconds(100) });
        var first = batcher.EmbedAsync([1], TestContext.Current.CancellationToken); // occupies the worker
        await Task.Delay(200, TestContext.Current.CancellationToken);
        using var cancel = new CancellationTokenSource();
        var cancelled = batcher.EmbedAsync([2], cancel.Token);
        var bad = batcher.EmbedAsync([float.NaN], TestContext.Current.CancellationToken);
        var good = batcher.EmbedAsync([3], TestContext.Current.CancellationToken);
        cancel.Cancel();
        gate.Set();
        Assert.Equal(1, (await first)[0]);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        await Assert.ThrowsAsync<ArgumentException>(() => bad);
        Assert.Equal(3, (await good)[0]);
        Assert.Equal(1, batcher.Statistics.Failed);
    }
}

/// <summary>Counts live tensors process-wide, so it must not run beside other Torch tests.</summary>
[CollectionDefinition(nameof(MemoryCollection), DisableParallelization = true)]
public sealed class MemoryCollection;

[Collection(nameof(MemoryCollection))]
public class EmbeddingBatcherMemoryTests
{
    [Fact]
    public async Task Ten_thousand_requests_do_not_grow_memory()
    {
        using var model = TestAudio.UntrainedModel();
        model.MaxForwardBatch = 32; // this test is about the batcher's memory, not the CPU's one-clip passes
        await using var batcher = new EmbeddingBatcher(model, new BatcherOptions { MaxBatchSize = 32, MaxDelay = TimeSpan.FromMilliseconds(2) });
        var clip = TestAudio.Noise(1_024, 5);
        async Task Round(int n)
        {
            var tasks = new List<Task<float[]>>(n);
            for (int i = 0; i < n; i++) tasks.Add(batcher.EmbedAsync(clip, TestContext.Current.CancellationToken));
            await Task.WhenAll(tasks);
        }
        await Round(2_000); // warm-up: allocator pools and JIT settle
        GC.Collect();
        long tensorsBefore = TorchSharp.torch.Tensor.TotalCount;
        long before = System.Diagnostics.Process.GetCurrentProcess().WorkingSet64;
        for (int r = 0; r < 4; r++) await Round(2_000);
        GC.Collect();
        long after = System.Diagnostics.Process.GetCurrentProcess().WorkingSet64;
        // Every tensor of a batch is disposed: the live count does not move. The working set may take one
        // more allocator arena (64 MiB on glibc) but must not grow with the number of requests.
        Assert.True(TorchSharp.torch.Tensor.TotalCount - tensorsBefore <= 2, $"{TorchSharp.torch.Tensor.TotalCount - tensorsBefore} tensors leaked over 8,000 requests");
        Assert.True(after - before < 160L << 20, $"working set grew by {(after - before) >> 20} MiB over 8,000 requests");
        Assert.Equal(10_000, batcher.Statistics.Clips);
    }
}
