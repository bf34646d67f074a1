using AsdOrleans.Abstractions;
using Microsoft.Extensions.Options;
using AsdOrleans.Application;

namespace AsdOrleans.Silo;

/// <summary>
/// Queried clips' audio, kept on disk until labelled: DataDirectory/clips/&lt;machine&gt;/&lt;clip&gt;.wav. A file is
/// written only for a clip that passed validation, never over an existing one; once its machine keeps the clip as a
/// label request, the machine grain is the one that removes it (labelled, expired, re-enrolled, or swept as an orphan).
/// </summary>
public sealed class ClipAudioStore(IOptions<SiloOptions> options, ILogger<ClipAudioStore> logger) : AsdOrleans.Application.IClipAudio
{
    private const string TempMarker = ".tmp-";

    public string Root => Path.Combine(Path.GetFullPath(options.Value.DataDirectory), "clips");

    /// <summary>Machine and clip ids are validated before they get here; <see cref="FolderOf"/> checks again, as a folder is
    /// deleted by machine id.</summary>
    public string PathOf(string machineId, string clipId) => Path.Combine(FolderOf(Root, machineId), clipId + ".wav");

    /// <summary>A machine's folder under <paramref name="root"/>: a valid machine id is one path segment, never "." or "..".</summary>
    private static string FolderOf(string root, string machineId)
        => AsdOrleans.Method.Vocabulary.Identifiers.IsValidMachineId(machineId) ? Path.Combine(root, machineId)
            : throw new ArgumentException(AsdOrleans.Method.Vocabulary.Identifiers.InvalidMachineId(machineId));

    /// <summary>The newest alerts' audio (<see cref="SiloOptions.AlertAudioPerMachine"/> per machine), apart from queried clips'.</summary>
    public string AlertRoot => Path.Combine(Path.GetFullPath(options.Value.DataDirectory), "alert-clips");

    public string AlertPathOf(string machineId, string clipId) => Path.Combine(FolderOf(AlertRoot, machineId), clipId + ".wav");

    /// <summary>The newest clips labelled normal (<see cref="SiloOptions.NormalExamplesPerMachine"/> per machine): how the
    /// machine sounds when it is fine, for a labeller to compare with.</summary>
    public string NormalRoot => Path.Combine(Path.GetFullPath(options.Value.DataDirectory), "normal-clips");

    public string NormalPathOf(string machineId, string clipId) => Path.Combine(FolderOf(NormalRoot, machineId), clipId + ".wav");

    /// <summary>A machine's kept normal clips, newest first: clip id and when it was labelled (UTC).</summary>
    public IReadOnlyList<(string ClipId, DateTimeOffset LabelledAt)> NormalExamplesOf(string machineId)
    {
        var folder = new DirectoryInfo(FolderOf(NormalRoot, machineId));
        return !folder.Exists ? [] : folder.EnumerateFiles("*.wav").OrderByDescending(f => f.LastWriteTimeUtc).ThenByDescending(f => f.Name, StringComparer.Ordinal)
            .Select(f => (Path.GetFileNameWithoutExtension(f.Name), new DateTimeOffset(f.LastWriteTimeUtc, TimeSpan.Zero))).ToList();
    }

    /// <summary>Moves a clip labelled normal into the machine's examples, keeping the newest; false when none are kept
    /// or the move failed (the caller then deletes the clip's audio as usual).</summary>
    public bool KeepAsNormalExample(string machineId, string clipId)
    {
        int keep = options.Value.NormalExamplesPerMachine;
        if (keep <= 0 || !File.Exists(PathOf(machineId, clipId))) return false;
        try
        {
            string target = NormalPathOf(machineId, clipId);
            KeepNewest(PathOf(machineId, clipId), target, move: true, keep);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(e, "could not keep the audio of clip {Clip} of machine {Machine} as a normal example", clipId, machineId);
            return false;
        }
    }

    /// <summary>Removes a machine's kept normal clips and their folder (its re-enrollment: they are of the machine before
    /// it). The data directory is shared by the silos, so the machine's silo reaches the files whichever silo kept them.</summary>
    public void ForgetNormalExamples(string machineId) => DeleteFolder(NormalRoot, machineId);

    /// <summary>Deletes a machine's folder under <paramref name="root"/> with what it holds; nothing when there is none.</summary>
    private static void DeleteFolder(string root, string machineId)
    {
        try
        {
            Directory.Delete(FolderOf(root, machineId), recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
            // none kept
        }
    }

    /// <summary>Moves or copies <paramref name="source"/> to <paramref name="target"/>, stamped now, and deletes all but
    /// the newest <paramref name="keep"/> files of the target's folder.</summary>
    private static void KeepNewest(string source, string target, bool move, int keep)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        // A machine scores a clip id once (a retry is not kept), so a file already there is from an earlier
        // enrollment's stream or data directory: the new audio replaces it.
        if (move) File.Move(source, target, overwrite: true);
        else File.Copy(source, target, overwrite: true);
        File.SetLastWriteTimeUtc(target, DateTime.UtcNow); // the order kept, whatever the file's own history
        // Concurrent calls for one machine may both prune, so a file may already be gone.
        foreach (var old in new DirectoryInfo(Path.GetDirectoryName(target)!).EnumerateFiles("*.wav")
                     .OrderByDescending(f => f.LastWriteTimeUtc).ThenByDescending(f => f.Name, StringComparer.Ordinal).Skip(keep))
            old.Delete();
    }

    /// <summary>Labelled clips' audio (<see cref="SiloOptions.LabelledAudioPerMachine"/> per machine), for a re-enrollment
    /// that keeps the labels: labelled-clips/&lt;machine&gt;/&lt;normal|anomalous&gt;/&lt;sequence&gt;@&lt;clip&gt;.wav.</summary>
    public string LabelledRoot => Path.Combine(Path.GetFullPath(options.Value.DataDirectory), "labelled-clips");

    /// <summary>Between a kept labelled file's sequence number and its clip id ('@' is not among an id's characters).</summary>
    public const char SequenceMark = '@';

    /// <summary>Between a reused clip id and the number of its later kept copy, in files kept by the release before
    /// sequence numbers (read, never written).</summary>
    public const char ReusedIdMarker = '~';

    private static string LabelFolder(ClipLabelValue label) => label == ClipLabelValue.Anomalous ? "anomalous" : "normal";

    /// <summary>A kept labelled file's path; <paramref name="keptName"/> is its name without ".wav" (<see cref="KeptLabelledClip.ClipId"/>).</summary>
    public string LabelledPathOf(string machineId, string keptName, ClipLabelValue label)
        => Path.Combine(FolderOf(LabelledRoot, machineId), LabelFolder(label), keptName + ".wav");

    /// <summary>The stored audio under a clip's id when it is that clip's own: its fingerprint matches the request's, or,
    /// where the request has none (embeddings sent without audio; requests stored before it was recorded), the request
    /// points at this store's file. Null otherwise: a gateway's clip, or a file another clip left under the id.</summary>
    public byte[]? HoldsAudioOf(string machineId, string clipId, string? audioReference, uint audioFingerprint)
    {
        if (audioFingerprint == ClipAudioFingerprint.Unknown && !IsStoredHere(machineId, clipId, audioReference)) return null;
        byte[] wav;
        try
        {
            wav = File.ReadAllBytes(PathOf(machineId, clipId));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        return audioFingerprint == ClipAudioFingerprint.Unknown || ClipAudioFingerprint.Of(wav) == audioFingerprint ? wav : null;
    }

    /// <summary>A kept labelled file: its label, and its place in the order labelled (0: a name without a sequence number,
    /// kept by the release before; those are older than any numbered one and ordered by file time among themselves).</summary>
    private readonly record struct LabelledFile(FileInfo File, ClipLabelValue Label, long Sequence)
    {
        public string KeptName => Path.GetFileNameWithoutExtension(File.Name);
    }

    private static long SequenceOf(string fileName)
    {
        int mark = fileName.IndexOf(SequenceMark);
        return mark > 0 && fileName.AsSpan(0, mark).IndexOfAnyExceptInRange('0', '9') < 0
            && long.TryParse(fileName.AsSpan(0, mark), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long n) ? n : 0;
    }

    /// <summary>A machine's kept labelled files, oldest labelled first: by sequence number, which a copy of the folder keeps
    /// (file times may not survive a backup restored without them), old names first by file time.</summary>
    private List<LabelledFile> LabelledFilesOf(string machineId)
    {
        var folder = new DirectoryInfo(FolderOf(LabelledRoot, machineId));
        if (!folder.Exists) return [];
        return [.. new[] { ClipLabelValue.Normal, ClipLabelValue.Anomalous }
            .SelectMany(label => new DirectoryInfo(Path.Combine(folder.FullName, LabelFolder(label))) is { Exists: true } sub
                ? sub.EnumerateFiles("*.wav").Select(f => new LabelledFile(f, label, SequenceOf(f.Name))) : [])
            .OrderBy(f => f.Sequence).ThenBy(f => f.Sequence == 0 ? f.File.LastWriteTimeUtc : default).ThenBy(f => f.File.Name, StringComparer.Ordinal)];
    }

    /// <summary>
    /// The files the cap keeps, oldest first. Anomalous labels are scarce (a plant gets few) and cost the most to get again,
    /// so the newest anomalies keep up to half the cap (rounded up) whatever the normals, and more while normals leave room;
    /// normals fill the rest. Normals are thus pruned first, and many normal answers never push the few anomalies out.
    /// </summary>
    private static List<LabelledFile> KeptUnderCap(List<LabelledFile> oldestFirst, int cap)
    {
        if (cap <= 0) return [];
        int anomalous = oldestFirst.Count(f => f.Label == ClipLabelValue.Anomalous), normal = oldestFirst.Count - anomalous;
        int keepAnomalous = Math.Min(anomalous, Math.Max((cap + 1) / 2, cap - normal));
        int keepNormal = Math.Min(normal, cap - keepAnomalous);
        int skipAnomalous = anomalous - keepAnomalous, skipNormal = normal - keepNormal;
        var kept = new List<LabelledFile>(keepAnomalous + keepNormal);
        foreach (var file in oldestFirst)
        {
            if (file.Label == ClipLabelValue.Anomalous ? skipAnomalous-- > 0 : skipNormal-- > 0) continue;
            kept.Add(file);
        }
        return kept;
    }

    /// <summary>Keeps a labelled clip's audio (<paramref name="wav"/>, the clip's own: <see cref="HoldsAudioOf"/>) among the
    /// machine's labelled clips, numbered after the newest, and prunes to the cap (<see cref="KeptUnderCap"/>); when none
    /// are kept (0), removes what a larger cap kept. A failure is logged: the label stands, and a re-enrollment counts it as not carried.</summary>
    public void KeepLabelled(string machineId, string clipId, ClipLabelValue label, byte[] wav)
    {
        int keep = options.Value.LabelledAudioPerMachine;
        try
        {
            if (keep <= 0)
            {
                // None kept: what a larger cap kept goes with this label, as a lowered cap's surplus does below.
                ForgetLabelledClips(machineId);
                return;
            }
            // The number orders the files whatever their times, and makes a reused id (another label the machine holds)
            // a file of its own. One machine's labels are kept on its grain's turn, so the numbers do not race.
            var files = LabelledFilesOf(machineId);
            long sequence = files.Count == 0 ? 1 : files[^1].Sequence + 1;
            string target = LabelledPathOf(machineId, $"{sequence:D10}{SequenceMark}{clipId}", label);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            // Written whole, then named: a crash never leaves a truncated file a carry would take for a label's audio.
            string temp = target + TempMarker + Guid.NewGuid().ToString("N");
            File.WriteAllBytes(temp, wav);
            File.Move(temp, target, overwrite: true);
            // The newest, numbered after every other: last in the order, without listing the folders again.
            files.RemoveAll(f => f.File.FullName == target);
            files.Add(new LabelledFile(new FileInfo(target), label, sequence));
            var kept = KeptUnderCap(files, keep).Select(f => f.File.FullName).ToHashSet(StringComparer.Ordinal);
            foreach (var old in files.Where(f => !kept.Contains(f.File.FullName)))
                old.File.Delete();
            // A temporary file a crash left (a clip's own name ends in .wav, whatever its id holds).
            foreach (var stale in new DirectoryInfo(Path.GetDirectoryName(target)!).EnumerateFiles("*" + TempMarker + "*"))
                if (stale.Extension != ".wav" && stale.LastWriteTimeUtc < DateTime.UtcNow.AddHours(-1)) stale.Delete();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(e, "could not keep the audio of labelled clip {Clip} of machine {Machine}; a re-enrollment cannot carry its label", clipId, machineId);
        }
    }

    /// <remarks>What the cap keeps (<see cref="KeptUnderCap"/>) as the option says now: files kept under a larger cap
    /// (lowered since, or 0: keep none) are pruned only by the next label, and are not carried meanwhile.</remarks>
    public IReadOnlyList<KeptLabelledClip> LabelledClipsOf(string machineId)
    {
        int keep = options.Value.LabelledAudioPerMachine;
        if (keep <= 0) return [];
        return [.. KeptUnderCap(LabelledFilesOf(machineId), keep).Select(f => new KeptLabelledClip(f.KeptName, f.Label))];
    }

    /// <summary>The clip id a kept file's name holds (its sequence number, or an old name's reuse number, taken off).</summary>
    public static string ClipIdOf(string keptName)
    {
        int mark = keptName.IndexOf(SequenceMark);
        string id = mark > 0 && SequenceOf(keptName) > 0 ? keptName[(mark + 1)..] : keptName;
        int reused = id.IndexOf(ReusedIdMarker);
        return reused > 0 ? id[..reused] : id;
    }

    public byte[]? ReadLabelled(string machineId, KeptLabelledClip clip)
    {
        try
        {
            return File.ReadAllBytes(LabelledPathOf(machineId, clip.ClipId, clip.Label));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(e, "could not read the kept audio of labelled clip {Clip} of machine {Machine}; its label is not carried", clip.ClipId, machineId);
            return null;
        }
    }

    /// <summary>Removes every folder of a retired machine: queried clips, alerts, normal examples, labelled clips.</summary>
    public void ForgetMachine(string machineId)
    {
        foreach (var root in new[] { Root, AlertRoot, NormalRoot, LabelledRoot })
            DeleteFolder(root, machineId);
    }

    /// <summary>Removes a machine's kept labelled clips (a re-enrollment that does not carry its labels).</summary>
    public void ForgetLabelledClips(string machineId) => DeleteFolder(LabelledRoot, machineId);

    /// <summary>Whether a clip's audio reference is this store's own file (a clip pushed over HTTP), not a gateway's.</summary>
    public bool IsStoredHere(string machineId, string clipId, string? audioReference)
        => audioReference is not null && audioReference == PathOf(machineId, clipId);

    /// <summary>A clip's audio reference as a labeller may see it: a gateway's own (say an s3:// URI), or null for audio this
    /// silo stored, whose path on the silo's volume is no business of a labeller's.</summary>
    public string? GatewayReferenceOf(string machineId, string clipId, string? audioReference)
        => IsStoredHere(machineId, clipId, audioReference) ? null : audioReference;

    /// <summary>Whether an alert on a clip stored here keeps its audio for a while.</summary>
    public bool KeepsAudioOf(AnomalyAlert alert)
        => options.Value.AlertAudioPerMachine > 0 && IsStoredHere(alert.MachineId, alert.ClipId, alert.AudioReference);

    /// <summary>The 404 detail of a clip whose audio this store does not hold.</summary>
    public static string NoStoredAudio(string machineId, string clipId)
        => $"no stored audio for clip '{clipId}' of machine {machineId} (pending label requests, the machine's newest alerts and its newest clips labelled normal keep theirs)";

    /// <summary>Where a clip's audio is on this silo: a pending request's, else a recent alert's; null when neither.</summary>
    public string? StoredAudioOf(string machineId, string clipId)
    {
        string queried = PathOf(machineId, clipId);
        if (File.Exists(queried)) return queried;
        string alerted = AlertPathOf(machineId, clipId);
        if (File.Exists(alerted)) return alerted;
        string normal = NormalPathOf(machineId, clipId);
        return File.Exists(normal) ? normal : null;
    }

    public void KeepAsAlert(string machineId, string clipId, bool move)
    {
        int keep = options.Value.AlertAudioPerMachine;
        if (keep <= 0) return;
        try
        {
            KeepNewest(PathOf(machineId, clipId), AlertPathOf(machineId, clipId), move, keep);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(e, "could not keep the audio of alert {Clip} of machine {Machine}", clipId, machineId);
        }
    }

    /// <summary>Stores a clip's audio unless the clip already has some: false leaves the existing file untouched.</summary>
    public async Task<bool> SaveIfAbsentAsync(string machineId, string clipId, byte[] wav, CancellationToken cancellation)
    {
        string path = PathOf(machineId, clipId);
        if (File.Exists(path)) return false;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string temp = path + TempMarker + Guid.NewGuid().ToString("N");
        await File.WriteAllBytesAsync(temp, wav, cancellation);
        try
        {
            File.Move(temp, path, overwrite: false);
            return true;
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(temp); // a concurrent retry of the same clip stored it first
            return false;
        }
    }

    public bool Holds(string machineId, string clipId, uint fingerprint)
    {
        try
        {
            return ClipAudioFingerprint.Of(File.ReadAllBytes(PathOf(machineId, clipId))) == fingerprint;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
    }

    /// <summary>Deletes a clip's stored audio; nothing to do when none was stored (a gateway's clip, whose audio the gateway
    /// keeps, leaves no folder: File.Delete throws for a missing folder, not for a missing file).</summary>
    public void Delete(string machineId, string clipId)
    {
        try
        {
            File.Delete(PathOf(machineId, clipId));
        }
        catch (DirectoryNotFoundException)
        {
            // nothing stored
        }
    }

    /// <summary>Best-effort removal: a failure is logged with its cause, and the machine's orphan sweep retries it.</summary>
    public void TryDelete(string machineId, string clipId)
    {
        try
        {
            Delete(machineId, clipId);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(e, "could not remove the audio of clip {Clip} of machine {Machine}; the machine's orphan sweep retries", clipId, machineId);
        }
    }

    /// <summary>Removes the machine's audio files (and abandoned temporary files) older than <paramref name="olderThan"/> that no pending request points at.</summary>
    public void RemoveOrphans(string machineId, IReadOnlySet<string> pendingClipIds, TimeSpan olderThan)
    {
        var folder = new DirectoryInfo(FolderOf(Root, machineId));
        if (!folder.Exists) return;
        var cutoff = DateTime.UtcNow - olderThan;
        foreach (var file in folder.EnumerateFiles())
        {
            // A temporary file ends in the marker and a GUID; a clip's always ends in .wav, whatever its id holds.
            bool temporary = file.Extension != ".wav" && file.Name.Contains(".wav" + TempMarker, StringComparison.Ordinal);
            bool orphan = temporary || (file.Extension == ".wav" && !pendingClipIds.Contains(Path.GetFileNameWithoutExtension(file.Name)));
            if (orphan && file.LastWriteTimeUtc < cutoff)
            {
                file.Delete();
                logger.LogInformation("removed orphaned audio {File} of machine {Machine}", file.Name, machineId);
            }
        }
    }
}
