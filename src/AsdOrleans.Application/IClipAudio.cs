using AsdOrleans.Abstractions;

namespace AsdOrleans.Application;

/// <summary>Where a silo keeps the audio of clips a labeller may need to hear (the silo's clip folder).</summary>
public interface IClipAudio
{
    /// <summary>The path a clip's audio has, or would have, once stored.</summary>
    string PathOf(string machineId, string clipId);

    /// <summary>Stores the clip unless a file for its id exists; returns whether it wrote.</summary>
    Task<bool> SaveIfAbsentAsync(string machineId, string clipId, byte[] wav, CancellationToken cancellation);

    /// <summary>Whether the clip's stored file holds audio of this fingerprint (<see cref="ClipAudioFingerprint"/>); false
    /// when there is no file.</summary>
    bool Holds(string machineId, string clipId, uint fingerprint);

    /// <summary>Deletes a clip's audio; a failure is logged, not thrown.</summary>
    void TryDelete(string machineId, string clipId);

    /// <summary>Keeps a stored clip's audio among the machine's newest alerts (moved there when nothing else needs the
    /// stored file, copied when a label request does); a failure is logged, not thrown.</summary>
    void KeepAsAlert(string machineId, string clipId, bool move);

    /// <summary>The machine's clips whose audio was kept when a person labelled them (for a re-enrollment to carry the
    /// labels), as many as Asd:LabelledAudioPerMachine keeps (normals pruned first: anomalies keep up to half of it whatever the normals, and more while normals leave room), oldest labelled first;
    /// a clip id labelled again is listed once per label.</summary>
    IReadOnlyList<KeptLabelledClip> LabelledClipsOf(string machineId);

    /// <summary>A kept labelled clip's audio; null when it can no longer be read (removed or unreadable: logged).</summary>
    byte[]? ReadLabelled(string machineId, KeptLabelledClip clip);
}

/// <summary>A clip a person labelled whose audio the silo kept; <paramref name="ClipId"/> is the kept file's name (the
/// clip id with its place in the order labelled, as &lt;sequence&gt;@&lt;clip&gt;).</summary>
public sealed record KeptLabelledClip(string ClipId, ClipLabelValue Label);
