using System.Buffers.Binary;
using AsdOrleans.Abstractions;

namespace AsdOrleans.Grains;

/// <summary>
/// What a machine changed since its last full write (<see cref="MachineGrainState"/>, the "base"): the model's bytes
/// as a patch of the base's, the label requests it opened, the labels it was given and the verdicts it gave. Written
/// alone for clips, and for labels that leave the model's length as it was (a capped set merges the label in place),
/// so each costs a write proportional to what it changed, not to the machine's sets (docs/decisions.md, issue 13 —
/// persistence proportional to what changed). It applies only to the base of the same <see cref="Generation"/>; a
/// full write starts a new generation and then rewrites the journal empty, so a stale activation's journal write fails
/// on its ETag instead of landing in a journal the next load drops (docs/decisions.md, stop 53).
/// </summary>
[GenerateSerializer]
public sealed class MachineJournal
{
    [Id(0)] public long Generation { get; set; }
    /// <summary>Length of the model's bytes after <see cref="ModelPatch"/> is applied (= the base's: a length change forces a full write).</summary>
    [Id(1)] public int ModelLength { get; set; }
    [Id(2)] public List<BytePatch> ModelPatch { get; set; } = [];
    /// <summary>Label requests opened since the base, in order.</summary>
    [Id(3)] public List<PendingLabel> NewPending { get; set; } = [];
    /// <summary>Verdicts given since the base, in order (the base's recent-verdict memory is extended by them).</summary>
    [Id(4)] public List<ClipVerdict> NewVerdicts { get; set; } = [];
    /// <summary>Requests dropped since the base because newer ones went beyond the open-request limit, in order.</summary>
    [Id(5)] public List<WithdrawnRequest> Withdrawn { get; set; } = [];
    /// <summary>Requests answered since the base, in order (each leaves the open requests for the answered memory).</summary>
    [Id(6)] public List<AnsweredRequest> Answered { get; set; } = [];
    /// <summary>The audio fingerprint of each of <see cref="NewVerdicts"/> (<see cref="ClipAudioFingerprint"/>), same
    /// order; shorter (or empty) in a journal written by a silo that kept none: the rest are unknown.</summary>
    [Id(7)] public List<uint> NewVerdictFingerprints { get; set; } = [];

    /// <summary>Appends a verdict with its fingerprint, padding fingerprints a journal of an older silo lacked.</summary>
    public void AddVerdict(ClipVerdict verdict, uint audioFingerprint)
    {
        while (NewVerdictFingerprints.Count < NewVerdicts.Count)
            NewVerdictFingerprints.Add(ClipAudioFingerprint.Unknown);
        NewVerdicts.Add(verdict);
        NewVerdictFingerprints.Add(audioFingerprint);
    }

    /// <summary>The fingerprint of <see cref="NewVerdicts"/>[<paramref name="index"/>], unknown when not recorded.</summary>
    public uint FingerprintOf(int index) => index < NewVerdictFingerprints.Count ? NewVerdictFingerprints[index] : ClipAudioFingerprint.Unknown;

    public bool IsEmpty => ModelPatch.Count == 0 && NewPending.Count == 0 && NewVerdicts.Count == 0 && Withdrawn.Count == 0 && Answered.Count == 0;

    public void Clear(long generation)
    {
        Generation = generation;
        ModelLength = 0;
        ModelPatch.Clear();
        NewPending.Clear();
        NewVerdicts.Clear();
        NewVerdictFingerprints.Clear();
        Withdrawn.Clear();
        Answered.Clear();
    }
}

/// <summary>A pending request labelled <see cref="Label"/> (the model's patch holds what the label changed).</summary>
[GenerateSerializer]
public sealed record AnsweredRequest([property: Id(0)] string ClipId, [property: Id(1)] ClipLabelValue Label, [property: Id(2)] string? Labeller = null);

/// <summary>A pending request dropped at <see cref="At"/> (it joins the expired ones), <see cref="Declined"/> when a
/// labeller closed it.</summary>
[GenerateSerializer]
public sealed record WithdrawnRequest([property: Id(0)] string ClipId, [property: Id(1)] DateTimeOffset At, [property: Id(2)] bool Declined = false,
    [property: Id(3)] string? Labeller = null)
{
    /// <summary>How the request closed: declined by a labeller, else withdrawn (beyond the open limit).</summary>
    public LabelRequestOutcome Outcome => OutcomeOf(Declined);

    public static LabelRequestOutcome OutcomeOf(bool declined) => declined ? LabelRequestOutcome.Declined : LabelRequestOutcome.Withdrawn;
}

/// <summary>Bytes that replace the base's at <see cref="Offset"/>.</summary>
[GenerateSerializer]
public sealed record BytePatch([property: Id(0)] int Offset, [property: Id(1)] byte[] Bytes);

/// <summary>Applies the patches a <see cref="ChunkDigest"/> found.</summary>
public static class BytePatches
{
    /// <summary><paramref name="base"/> with <paramref name="patches"/> applied, as a new array.</summary>
    public static byte[] Apply(ReadOnlySpan<byte> @base, IEnumerable<BytePatch> patches)
    {
        var result = @base.ToArray();
        foreach (var patch in patches)
        {
            if (patch.Offset < 0 || patch.Offset + patch.Bytes.Length > result.Length)
                throw new InvalidDataException($"a model patch at {patch.Offset} (+{patch.Bytes.Length}) lies outside the {result.Length} bytes it patches");
            patch.Bytes.CopyTo(result, patch.Offset);
        }
        return result;
    }
}

/// <summary>
/// 128-bit digests (XxHash128) of a buffer's fixed-size chunks: enough to tell which chunks of a later buffer of the same
/// length differ, without keeping the buffer. A machine keeps this instead of its base model's bytes (≈ 2 KB instead of
/// 30–340 KB per resident machine).
/// </summary>
public sealed class ChunkDigest
{
    public const int ChunkSize = 256;
    private readonly UInt128[] _digests;

    private ChunkDigest(UInt128[] digests, int length)
    {
        _digests = digests;
        Length = length;
    }

    /// <summary>Length of the buffer digested.</summary>
    public int Length { get; }

    public static ChunkDigest Of(ReadOnlySpan<byte> bytes)
    {
        var digests = new UInt128[(bytes.Length + ChunkSize - 1) / ChunkSize];
        for (int i = 0; i < digests.Length; i++)
            digests[i] = System.IO.Hashing.XxHash128.HashToUInt128(Chunk(bytes, i));
        return new ChunkDigest(digests, bytes.Length);
    }

    /// <summary>The chunks of <paramref name="current"/> (same length) whose digest differs, adjacent ones merged.</summary>
    public List<BytePatch> Diff(ReadOnlySpan<byte> current)
    {
        if (current.Length != Length)
            throw new ArgumentException($"a patch needs buffers of one length, got {Length} and {current.Length}");
        var patches = new List<BytePatch>();
        int runStart = -1;
        for (int i = 0; i <= _digests.Length; i++)
        {
            bool changed = i < _digests.Length && System.IO.Hashing.XxHash128.HashToUInt128(Chunk(current, i)) != _digests[i];
            if (changed && runStart < 0) runStart = i;
            if (!changed && runStart >= 0)
            {
                int from = runStart * ChunkSize, to = Math.Min(i * ChunkSize, current.Length);
                patches.Add(new BytePatch(from, current[from..to].ToArray()));
                runStart = -1;
            }
        }
        return patches;
    }

    /// <summary>The digest as bytes (int32 length, then each chunk's digest, little-endian), to hand to a migrated activation.</summary>
    public byte[] ToBytes()
    {
        var bytes = new byte[4 + 16 * _digests.Length];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, Length);
        for (int i = 0; i < _digests.Length; i++)
            BinaryPrimitives.WriteUInt128LittleEndian(bytes.AsSpan(4 + 16 * i), _digests[i]);
        return bytes;
    }

    /// <summary>Reads <see cref="ToBytes"/>'s form; anything else is refused.</summary>
    public static ChunkDigest FromBytes(ReadOnlySpan<byte> bytes)
    {
        int length = bytes.Length >= 4 ? BinaryPrimitives.ReadInt32LittleEndian(bytes) : -1;
        int chunks = length >= 0 ? (int)(((long)length + ChunkSize - 1) / ChunkSize) : -1;
        if (chunks < 0 || bytes.Length != 4 + 16L * chunks)
            throw new InvalidDataException($"not a chunk digest: {bytes.Length} bytes");
        var digests = new UInt128[chunks];
        for (int i = 0; i < chunks; i++)
            digests[i] = BinaryPrimitives.ReadUInt128LittleEndian(bytes[(4 + 16 * i)..]);
        return new ChunkDigest(digests, length);
    }

    private static ReadOnlySpan<byte> Chunk(ReadOnlySpan<byte> bytes, int index)
        => bytes.Slice(index * ChunkSize, Math.Min(ChunkSize, bytes.Length - index * ChunkSize));
}
