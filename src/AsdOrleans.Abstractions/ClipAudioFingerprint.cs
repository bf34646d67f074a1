using System.IO.Hashing;

namespace AsdOrleans.Abstractions;

/// <summary>
/// 32 bits of XxHash3 over a clip's audio bytes as sent (the request body, before any decoding): what a machine keeps
/// of each recent clip to tell a retry (same bytes) from a new clip under a reused id (docs/decisions.md, "a reused clip
/// id with other audio"). Never <see cref="Unknown"/>, which stands for "not recorded" (clips scored before fingerprints,
/// embeddings submitted without their audio).
/// </summary>
public static class ClipAudioFingerprint
{
    public const uint Unknown = 0;

    public static uint Of(ReadOnlySpan<byte> audio)
    {
        uint hash = (uint)XxHash3.HashToUInt64(audio);
        return hash == Unknown ? 1u : hash;
    }

    /// <summary>Whether two fingerprints show different audio; an unknown one matches any (answered as a repeat, as before).</summary>
    public static bool Differ(uint first, uint second) => first != Unknown && second != Unknown && first != second;
}

/// <summary>
/// A clip id that one of the machine's recent clips already has, sent with different audio (HTTP 409): a gateway that
/// restarted its clip counter, say. Nothing changed; a new clip needs a new id. An <see cref="ArgumentException"/>, so
/// callers that know only bad input treat it as such.
/// </summary>
[GenerateSerializer]
public sealed class ClipIdReusedException : ArgumentException
{
    public ClipIdReusedException() { }

    public ClipIdReusedException(string message) : base(message) { }

    public ClipIdReusedException(string message, Exception innerException) : base(message, innerException) { }

    public static ClipIdReusedException For(string machineId, string clipId, long clipIndex)
        => new($"clip id '{clipId}' of machine {machineId} was scored with different audio (the machine's clip {clipIndex}); "
            + "a new clip needs a new id. Nothing changed.");
}
