using System.Collections.Concurrent;

namespace AsdOrleans.Datasets.Synthesis;

/// <summary>
/// Reusable clip-length sample buffers, shared by the clips rendered in one run. A clip needs about a
/// dozen buffers of 1.3 MB (10 s); allocating them per clip puts them on the large object heap and
/// costs about one full garbage collection per clip, which halves parallel throughput.
/// </summary>
internal sealed class SampleBuffers(int length)
{
    private readonly ConcurrentBag<double[]> _free = [];

    public int Length { get; } = length;

    /// <summary>A scope whose buffers go back to the pool when it is disposed.</summary>
    public Scope Open() => new(this);

    internal sealed class Scope(SampleBuffers pool) : IDisposable
    {
        private readonly List<double[]> _taken = [];

        /// <summary>A zeroed buffer of the pool's length.</summary>
        public double[] Take()
        {
            if (pool._free.TryTake(out var buffer))
                Array.Clear(buffer);
            else
                buffer = new double[pool.Length];
            _taken.Add(buffer);
            return buffer;
        }

        public void Dispose()
        {
            foreach (var buffer in _taken) pool._free.Add(buffer);
            _taken.Clear();
        }
    }
}
