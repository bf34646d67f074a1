using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using AsdOrleans.Abstractions;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Grains;

/// <summary>
/// A machine's memory of its last <see cref="Capacity"/> clips (recent verdicts, answered labels, expired requests),
/// keyed by a 64-bit XxHash3 of the clip id: no strings, no dictionary, no per-entry objects. Keys and fixed-size values
/// are two rings stored as byte arrays (little-endian, as every supported platform is), so a machine that has served
/// 1,000 clips holds about 25 KB of verdicts instead of about 140 KB of records, strings and index, and its stored
/// state holds two byte blocks. A lookup is a vectorised scan of the keys (1,000 keys: well under a microsecond).
/// Two distinct clip ids share a key with probability 2⁻⁶⁴ per pair (docs/decisions.md, "recent clips by hash").
/// </summary>
[GenerateSerializer]
public sealed class ClipMemory<TValue> where TValue : unmanaged
{
    private const int InitialSlots = 16;

    [Id(0)] private int _capacity;
    [Id(1)] private byte[] _keys = [];
    [Id(2)] private byte[] _values = [];
    [Id(3)] private int _count;
    /// <summary>Where the next entry goes once the ring is full (its oldest entry).</summary>
    [Id(4)] private int _next;
    /// <summary>An optional 32-bit tag per slot (the recent clips' audio fingerprints), a third ring beside the two:
    /// null in memories that keep none and in states written before tags; a slot past its end, or 0, is untagged. A
    /// separate field, not a wider value, so a silo that knows no tags still reads the values (and drops the tags).</summary>
    [Id(5)] private byte[]? _tags;

    public ClipMemory(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _capacity = capacity;
    }

    public int Capacity => _capacity;
    public int Count => _count;

    public static ulong KeyOf(string clipId) => XxHash3.HashToUInt64(MemoryMarshal.AsBytes(clipId.AsSpan()));

    public bool Contains(string clipId) => IndexOf(KeyOf(clipId)) >= 0;

    public bool TryGet(string clipId, out TValue value) => TryGet(clipId, out value, out _);

    /// <summary>As <see cref="TryGet(string, out TValue)"/>, with the entry's tag (0 when it has none).</summary>
    public bool TryGet(string clipId, out TValue value, out uint tag)
    {
        int index = IndexOf(KeyOf(clipId));
        value = index >= 0 ? Values[index] : default;
        tag = index >= 0 ? TagAt(index) : 0;
        return index >= 0;
    }

    /// <summary>Records <paramref name="clipId"/> as the newest entry, forgetting the oldest when full; a known clip's
    /// value is replaced in place (it stays where it was in age). <paramref name="tag"/> 0 leaves it untagged.</summary>
    public void Remember(string clipId, TValue value, uint tag = 0)
    {
        int index = Place(clipId, value);
        if (tag != 0 || index < TagSlots)
        {
            EnsureTagSlots(index + 1);
            Tags[index] = tag;
        }
    }

    private int Place(string clipId, TValue value)
    {
        ulong key = KeyOf(clipId);
        int index = IndexOf(key);
        if (index < 0)
        {
            if (_count < _capacity)
            {
                EnsureSlots(_count + 1);
                index = _count++;
            }
            else
            {
                index = _next;
                _next = (_next + 1) % _capacity;
            }
            Keys[index] = key;
        }
        Values[index] = value;
        return index;
    }

    /// <summary>
    /// Changes the capacity, keeping the newest entries that fit, in age order: a state stored under another capacity
    /// (an older default) takes the current one on activation, and its next full write holds the resized rings.
    /// </summary>
    public void Resize(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        if (capacity == _capacity) return;
        int kept = Math.Min(_count, capacity);
        var keys = new byte[kept * sizeof(ulong)];
        var values = new byte[kept * Unsafe.SizeOf<TValue>()];
        var tags = _tags is null ? null : new byte[kept * sizeof(uint)];
        var newKeys = MemoryMarshal.Cast<byte, ulong>(keys.AsSpan());
        var newValues = MemoryMarshal.Cast<byte, TValue>(values.AsSpan());
        var newTags = MemoryMarshal.Cast<byte, uint>(tags.AsSpan());
        int oldest = _count < _capacity ? 0 : _next; // the ring's age order starts here once it is full
        for (int i = 0; i < kept; i++)
        {
            int from = (oldest + _count - kept + i) % _count;
            newKeys[i] = Keys[from];
            newValues[i] = Values[from];
            if (tags is not null) newTags[i] = TagAt(from);
        }
        (_keys, _values, _tags, _count, _next, _capacity) = (keys, values, tags, kept, 0, capacity);
    }

    public void Clear()
    {
        _keys = [];
        _values = [];
        _tags = null;
        _count = 0;
        _next = 0;
    }

    /// <summary>The values, oldest first.</summary>
    public IReadOnlyList<TValue> OldestFirst()
    {
        var values = Values[.._count];
        return _count < _capacity ? values.ToArray() : [.. values[_next..], .. values[.._next]];
    }

    private Span<ulong> Keys => MemoryMarshal.Cast<byte, ulong>(_keys.AsSpan());
    private Span<TValue> Values => MemoryMarshal.Cast<byte, TValue>(_values.AsSpan());

    private int IndexOf(ulong key) => Keys[.._count].IndexOf(key);

    private Span<uint> Tags => MemoryMarshal.Cast<byte, uint>(_tags.AsSpan());
    private int TagSlots => (_tags?.Length ?? 0) / sizeof(uint);
    private uint TagAt(int index) => index < TagSlots ? Tags[index] : 0;

    /// <summary>Grows the tags to the keys' slots (zeros: untagged), so entries remembered before any tag read as untagged.</summary>
    private void EnsureTagSlots(int needed)
    {
        if (needed <= TagSlots) return;
        int slots = Math.Max(needed, _keys.Length / sizeof(ulong));
        Array.Resize(ref _tags, slots * sizeof(uint));
    }

    /// <summary>Grows both rings by doubling up to the capacity, so a machine with few clips holds few slots.</summary>
    private void EnsureSlots(int needed)
    {
        int slots = (_keys?.Length ?? 0) / sizeof(ulong); // null only in a record written without the field
        if (needed <= slots) return;
        int grown = Math.Min(_capacity, Math.Max(InitialSlots, slots * 2));
        Array.Resize(ref _keys, grown * sizeof(ulong));
        Array.Resize(ref _values, grown * Unsafe.SizeOf<TValue>());
    }
}

/// <summary>
/// What a machine remembers of a recent clip to answer its retry with the original verdict. 18 bytes, stored raw: the
/// query reason takes the byte that held "label requested" before reasons were recorded, so a stored true (1) reads as
/// <see cref="QueryReason.Unrecorded"/> and a false (0) as <see cref="QueryReason.None"/>.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public readonly record struct RecentVerdict(double Score, long ClipIndex, bool Anomalous, QueryReason QueryReason)
{
    public bool LabelRequested => QueryReason != QueryReason.None;

    public static RecentVerdict Of(ClipVerdict verdict) => new(verdict.Score, verdict.ClipIndex, verdict.Anomalous,
        QueryReasonNames.OfVerdict(verdict.LabelRequested, verdict.QueryReason));

    /// <summary>The verdict again, for a retry of <paramref name="clipId"/>.</summary>
    public ClipVerdict Repeated(string clipId)
        => new(clipId, Score, Anomalous, LabelRequested, ClipIndex, Repeated: true, QueryReason: QueryReason.NameIfAsked());
}
