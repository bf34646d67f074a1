using Orleans.Serialization;
using Orleans.Storage;

namespace AsdOrleans.Storage.Sqlite;

/// <summary>
/// Orleans' binary grain-state format, written into a pooled buffer and returned as one array of the exact length.
/// <see cref="OrleansGrainStorageSerializer"/> writes the same bytes into a fresh growing buffer and hands back a slice
/// of it, which the store then copied: three or four allocations of the state's size per write, at 1,000 writes a second
/// a visible share of a silo's garbage (docs/benchmarks.md, "Allocations per clip"). Reading is Orleans' own.
/// </summary>
public sealed class CompactOrleansStorageSerializer(Serializer serializer) : IGrainStorageSerializer
{
    private readonly OrleansGrainStorageSerializer _reader = new(serializer);

    public BinaryData Serialize<T>(T? input) => new(serializer.SerializeToArray(input));

    public T? Deserialize<T>(BinaryData input) => _reader.Deserialize<T>(input);
}
