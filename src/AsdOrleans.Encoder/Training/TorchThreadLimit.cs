using TorchSharp;

namespace AsdOrleans.Encoder.Training;

/// <summary>Limits libtorch's intra-op threads while alive, then restores the previous count.</summary>
internal sealed class TorchThreadLimit : IDisposable
{
    private readonly int previous;

    public TorchThreadLimit(int threads)
    {
        previous = torch.get_num_threads();
        torch.set_num_threads(Math.Min(previous, threads));
    }

    public void Dispose() => torch.set_num_threads(previous);
}
