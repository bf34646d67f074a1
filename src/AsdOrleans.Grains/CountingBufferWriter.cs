using System.Buffers;

namespace AsdOrleans.Grains;

/// <summary>Counts the bytes a serializer writes and keeps none of them (one scratch buffer, reused).</summary>
internal sealed class CountingBufferWriter : IBufferWriter<byte>
{
    private byte[] _scratch = new byte[4096];

    public long Written { get; private set; }

    public void Advance(int count) => Written += count;

    public Memory<byte> GetMemory(int sizeHint = 0) => Scratch(sizeHint);

    public Span<byte> GetSpan(int sizeHint = 0) => Scratch(sizeHint);

    private byte[] Scratch(int sizeHint)
    {
        if (sizeHint > _scratch.Length)
            _scratch = new byte[sizeHint];
        return _scratch;
    }
}
