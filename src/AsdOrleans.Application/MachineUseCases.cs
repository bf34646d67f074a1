using AsdOrleans.Abstractions;
using Microsoft.Extensions.Logging;

namespace AsdOrleans.Application;

/// <summary>
/// What operators, devices and labellers do with machines, written once: the silo's HTTP handlers and
/// <c>AsdClusterClient</c> both call this, so their behaviour (checks, order of steps, sort orders) cannot drift apart.
/// Bad input is an <see cref="ArgumentException"/>, a machine not enrolled yet an <see cref="InvalidOperationException"/>,
/// a read of a machine nobody configured or enrolled a <see cref="MachineNotFoundException"/>; all change nothing.
/// <paramref name="faults"/> (the silo's) lets a page of machines list the others when one cannot be read; without it,
/// any failure fails the page.
/// </summary>
public sealed class MachineUseCases(IGrainFactory grains, IClusterFaults? faults = null, ILogger<MachineUseCases>? logger = null)
{
    /// <summary>The longest audio reference a gateway may attach to a clip (a URL or a path of its own).</summary>
    public const int MaxAudioReferenceLength = 2048;

    /// <summary>The most label requests one listing returns.</summary>
    public const int MaxLabelRequests = 10_000;

    private IMachineGrain Machine(string machineId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(machineId);
        return grains.GetGrain<IMachineGrain>(machineId);
    }

    private IMachineRegistryGrain Registry => grains.GetGrain<IMachineRegistryGrain>(0);

    /// <summary>Sets a machine's method settings (creating it if new); the machine lists itself in the registry.</summary>
    public Task<MachineStatus> Configure(string machineId, MachineSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return Machine(machineId).Configure(settings);
    }

    /// <summary>Enrolls a machine from embeddings made by the cluster's encoder model version. Embeddings that carry the
    /// version of the cluster's encoder (the one their flags name: model, or the baseline's and the spectral embedder's raw
    /// features) but not its dimension are refused: every clip streamed to the machine would be.</summary>
    /// <remarks>With <see cref="EnrollmentRequest.KeepLabels"/>, the machine's kept labelled clips
    /// (<paramref name="audio"/>, the silo's store; a client without one is refused) are embedded by the cluster's
    /// encoder with the embedder the request's flags name, which must make the request's model version.</remarks>
    public async Task<MachineStatus> Enroll(string machineId, EnrollmentRequest request, IClipAudio? audio = null)
    {
        var machine = Machine(machineId);
        ArgumentNullException.ThrowIfNull(request);
        if (await EncoderOutput(request) is { } made && request.ModelVersion == made.ModelVersion
            && request.Clips?.FirstOrDefault(c => c?.Embedding is { } e && e.Length != made.Dimension) is { } wrong)
            throw new ArgumentException($"machine {machineId}: the embeddings have {wrong.Embedding!.Length} dimensions; this cluster's encoder "
                + $"{made.ModelVersion} makes {made.Dimension}: embed the training clips with it, or enroll from audio");
        if (!request.KeepLabels)
            return await machine.Enroll(request);
        var carryFrom = RequireLabelledAudio(audio);
        var embedder = EmbedderNameOf(request.Standardize, request.Whiten);
        return await machine.Enroll(request, await CarryLabels(machineId, await machine.GetStatus(), embedder, request.ModelVersion, carryFrom));
    }

    /// <summary>How many clips of one enrollment are at the encoder workers at once: enough to fill their batches, and
    /// not a copy of every clip of a 1 GiB enrollment in flight at once.</summary>
    public const int EnrollmentClipsInFlight = 64;

    /// <summary>The results of <paramref name="work"/> on each item, in the items' order, at most
    /// <see cref="EnrollmentClipsInFlight"/> at once; a failure is the first failing item's, in the items' order (as one
    /// call per item awaited together reported it), whichever failed first in time.</summary>
    private static async Task<TResult[]> InBoundedParallel<TItem, TResult>(IReadOnlyList<TItem> items, Func<TItem, Task<TResult>> work)
    {
        var results = new TResult[items.Count];
        var failures = new Exception?[items.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, items.Count), new ParallelOptions { MaxDegreeOfParallelism = EnrollmentClipsInFlight },
            async (i, _) =>
            {
                try { results[i] = await work(items[i]); }
                catch (Exception e) { failures[i] = e; }
            });
        if (failures.FirstOrDefault(f => f is not null) is { } first)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
        return results;
    }

    /// <summary>The embedder an enrollment's flags name (AsdOrleans.Method's EmbedderNames, out of this layer's reach).</summary>
    private static string EmbedderNameOf(bool standardize, bool whiten) => standardize ? "baseline" : whiten ? "spectral" : "model";

    private static IClipAudio RequireLabelledAudio(IClipAudio? audio) => audio ?? throw new ArgumentException(
        "keepLabels carries the labelled clips' audio that the silos keep in their data directory; enroll through a silo's HTTP API (asd enroll --keep-labels)");

    /// <summary>The machine's kept labelled clips, embedded again by the cluster's encoder workers with
    /// <paramref name="embedder"/>; a clip whose audio is gone or no longer decodes is left out (and counted by the
    /// machine as not carried). <paramref name="status"/> is read before the audio, so a label or an enrollment given
    /// meanwhile makes the machine refuse.</summary>
    private async Task<LabelCarry> CarryLabels(string machineId, MachineStatus status, string? embedder, string modelVersion, IClipAudio audio)
    {
        long held = status.NormalLabels + status.AnomalousLabels;
        var worker = grains.GetGrain<IEncoderWorkerGrain>(0);
        // Of each label, the newest as many as the machine holds: files beyond that (a plain re-enrollment whose deletion
        // failed, or ran on a silo of a release that kept none) are another machine's, whatever the folder holds. Per
        // label, as the folder is pruned: stale anomalies never stand in for normals the machine holds, nor the reverse.
        var kept = NewestOfEachLabel(audio.LabelledClipsOf(machineId), status.NormalLabels, status.AnomalousLabels);
        var carried = await InBoundedParallel(kept, async clip =>
        {
            if (audio.ReadLabelled(machineId, clip) is not { } wav) return null;
            ClipEmbedding embedded;
            try
            {
                embedded = await worker.EmbedWith(wav, $"{machineId}/{clip.ClipId}", embedder);
            }
            catch (ArgumentException e) // audio that no longer decodes
            {
                logger?.LogWarning("machine {Machine}: labelled clip {Clip} is not carried: {Problem}", machineId, clip.ClipId, e.Message);
                return null;
            }
            if (embedded.ModelVersion != modelVersion)
                throw new InvalidOperationException($"the enrollment's embeddings are of model {modelVersion}, but this cluster's encoder embeds the labelled clips with {embedded.ModelVersion}; "
                    + "carry labels with the encoder the enrollment uses (enroll from audio), or enroll when the encoder workers agree");
            return new CarriedLabel(clip.ClipId, embedded.Embedding, clip.Label);
        });
        return new LabelCarry(carried.OfType<CarriedLabel>().ToList(), held, status.Enrollments);
    }

    /// <summary><paramref name="oldestFirst"/> less all but the newest <paramref name="normal"/> normal and
    /// <paramref name="anomalous"/> anomalous ones, in their order.</summary>
    public static List<KeptLabelledClip> NewestOfEachLabel(IReadOnlyList<KeptLabelledClip> oldestFirst, long normal, long anomalous)
    {
        long skipNormal = oldestFirst.Count(c => c.Label == ClipLabelValue.Normal) - normal;
        long skipAnomalous = oldestFirst.Count(c => c.Label == ClipLabelValue.Anomalous) - anomalous;
        return oldestFirst.Where(c => c.Label == ClipLabelValue.Anomalous ? skipAnomalous-- <= 0 : skipNormal-- <= 0).ToList();
    }

    /// <summary>How long an enrollment from embeddings waits for the encoder to say what it makes (the first call may load
    /// the model); past it the check is skipped.</summary>
    public static readonly TimeSpan EncoderOutputWait = TimeSpan.FromSeconds(10);

    /// <summary>What the cluster's encoder makes with the embedder an enrollment's flags name; null where no encoder can say
    /// in time (none has started, none has the model, its model does not load, the call fails): then there is nothing
    /// to compare with, and an enrollment from embeddings, which needs no encoder, goes on as before the check.</summary>
    private async Task<EmbedderOutput?> EncoderOutput(EnrollmentRequest request)
    {
        if (request.Standardize && request.Whiten) return null; // the machine refuses the pair
        try
        {
            return await grains.GetGrain<IEncoderWorkerGrain>(0).OutputForEnrollment(request.Standardize, request.Whiten).WaitAsync(EncoderOutputWait);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger?.LogInformation(e, "the embeddings' dimension was not checked against the encoder's: it did not say what it makes");
            return null;
        }
    }

    /// <summary>Enrolls a machine from training WAVs, embedded in parallel by the cluster's encoder workers with the
    /// machine's embedder setting (the silo's if it names none); the machine's model version is theirs, and so is whether
    /// it standardises or whitens (the training-free embedders' raw features).</summary>
    /// <remarks><paramref name="keepLabels"/>: as <see cref="EnrollmentRequest.KeepLabels"/>, with the same embedder as
    /// the training clips.</remarks>
    public Task<MachineStatus> EnrollFromAudio(string machineId, IReadOnlyList<TrainingClip> clips, bool keepLabels = false, IClipAudio? audio = null)
    {
        ArgumentNullException.ThrowIfNull(clips);
        return EnrollFromAudio(machineId, clips.Select(c => new TrainingClipSource(() => Task.FromResult(c.Wav), c.IsTargetDomain, c.Name)).ToList(), keepLabels, audio);
    }

    /// <summary>As <see cref="EnrollFromAudio(string, IReadOnlyList{TrainingClip}, bool, IClipAudio?)"/>, each clip's bytes
    /// read as its turn comes: at most <see cref="EnrollmentClipsInFlight"/> clips' bytes are held at once.</summary>
    public async Task<MachineStatus> EnrollFromAudio(string machineId, IReadOnlyList<TrainingClipSource> clips, bool keepLabels = false, IClipAudio? audio = null)
    {
        ArgumentNullException.ThrowIfNull(clips);
        if (clips.Count == 0)
            throw new ArgumentException("no training clips");
        if (keepLabels) RequireLabelledAudio(audio);
        var status = await Machine(machineId).GetStatus();
        string? embedder = status.Settings.Embedder;
        var worker = grains.GetGrain<IEncoderWorkerGrain>(0);
        var embedded = await InBoundedParallel(clips, async c => await worker.EmbedWith(await c.ReadWav(), c.Name, embedder));
        if (embedded.FirstOrDefault(e => e.ModelVersion != embedded[0].ModelVersion || e.Standardize != embedded[0].Standardize || e.Whiten != embedded[0].Whiten) is { } other)
            throw new InvalidOperationException($"the cluster's encoder workers embed with different models ({embedded[0].ModelVersion}, {other.ModelVersion}); enroll when they agree");
        var request = new EnrollmentRequest(embedded.Select((e, i) => new EnrollmentClip(e.Embedding, clips[i].IsTargetDomain)).ToList(),
            embedded[0].ModelVersion, embedded[0].Standardize, embedded[0].Whiten);
        if (!keepLabels)
            return await Machine(machineId).Enroll(request); // the encoder's own embeddings: nothing to compare
        // The training clips' own embedder; the labels as the machine holds them now, read just before their audio (as
        // Enroll reads them): the status read before the training set would make any label given while it was embedded
        // (minutes for a plant's set) a raced carry, refused, and the whole body sent and embedded again.
        var carry = await CarryLabels(machineId, await Machine(machineId).GetStatus(), embedder, request.ModelVersion, audio!);
        return await Machine(machineId).Enroll(request with { KeepLabels = true }, carry);
    }

    /// <summary>
    /// Scores one clip. With <paramref name="audio"/> (the silo's HTTP ingest) the WAV is embedded, stored before the
    /// machine sees it (so a label request never points at missing audio) and deleted again unless the machine asks
    /// for a label; an alert's is kept among the machine's newest alerts (<see cref="IClipAudio.KeepAsAlert"/>). Without it, the encoder worker embeds the clip and hands it on to the machine in one hop, and
    /// <paramref name="audioReference"/> travels with any label request. Retrying a recent clip id with the same bytes
    /// returns the original verdict (<see cref="ClipVerdict.Repeated"/>) without decoding, embedding or storing the audio
    /// sent with it; a recent clip id with other bytes is a <see cref="ClipIdReusedException"/> (nothing changes); a machine
    /// that is not enrolled is refused before the audio is decoded.
    /// </summary>
    public async Task<ClipVerdict> IngestClip(string machineId, string clipId, byte[] wav, IClipAudio? audio = null,
        string? audioReference = null, CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(machineId);
        ArgumentNullException.ThrowIfNull(wav);
        if (audioReference is { Length: > MaxAudioReferenceLength })
            throw new ArgumentException($"the audio reference is {audioReference.Length} characters long; at most {MaxAudioReferenceLength} (it travels with every listing and event of the clip)", nameof(audioReference));
        var machine = Machine(machineId);
        uint fingerprint = ClipAudioFingerprint.Of(wav);
        // Before any decoding or embedding: a machine that is not enrolled is refused (409), a retry of one of its
        // recent clip ids with the same bytes gets the first verdict (its audio is not scored, nor stored), and one with
        // other bytes is refused (ClipIdReusedException, 409). Two new clips of one id both pass here; the machine scores
        // one and answers the other as a repeat, or refuses it if its audio differs.
        if (await machine.EarlierVerdict(clipId, fingerprint) is { } earlier)
            return earlier;
        if (audio is null)
            return await grains.GetGrain<IEncoderWorkerGrain>(0).Ingest(machineId, clipId, wav, audioReference);
        // Bad audio is refused here, before anything is stored. Audio folders exist for enrolled machines only (checked
        // above): a device key cannot make folders for invented ids.
        var worker = grains.GetGrain<IEncoderWorkerGrain>(0);
        var embedded = await worker.EmbedFor(machineId, wav, $"{machineId}/{clipId}");
        // Never over the audio of an earlier clip with this id.
        bool stored = await audio.SaveIfAbsentAsync(machineId, clipId, wav, cancellation);
        // A file already there with other audio is another clip's of this id, in flight beside this one: its request
        // would play that file, so this one is refused rather than scored against it.
        if (!stored && !audio.Holds(machineId, clipId, fingerprint))
            throw new ClipIdReusedException($"clip id '{clipId}' of machine {machineId} is being scored with different audio; a new clip needs a new id. Nothing changed.");
        ClipVerdict verdict;
        try
        {
            verdict = await machine.SubmitEmbedded(clipId, embedded, audio.PathOf(machineId, clipId), fingerprint,
                usedModelVersion => worker.EmbedAgainIfMachineChanged(machineId, wav, $"{machineId}/{clipId}", usedModelVersion));
        }
        catch (Exception e) when (stored && e is (ArgumentException and not ClipIdReusedException) or InvalidOperationException)
        {
            // Refused: the machine changed nothing, so nothing points at this file. Not for a reused id: the clip the
            // machine scored under it may be another request in flight whose label request points at this path.
            audio.TryDelete(machineId, clipId);
            throw;
        }
        // Other failures leave the file: a timed-out write may have landed after all; if not, the machine's orphan sweep removes it.
        if (stored && verdict.Anomalous && !verdict.Repeated)
            audio.KeepAsAlert(machineId, clipId, move: !verdict.LabelRequested); // a request's file stays where the machine owns it
        // A retry's verdict is the original's. If that asked for a label, this file is the one its request plays: the call
        // the machine took first need not be the one that wrote it. A file no request needs is swept as an orphan.
        if (stored && !verdict.LabelRequested)
            audio.TryDelete(machineId, clipId);
        return verdict;
    }

    /// <summary>Answers a label request; the machine removes the clip's stored audio once the label is stored.</summary>
    public Task<LabelReceipt> SubmitLabel(string machineId, string clipId, ClipLabelValue label, string? labeller = null) => Machine(machineId).SubmitLabel(clipId, label, labeller);

    /// <summary>Closes a label request without a label (the labeller cannot tell); the machine removes its stored audio.</summary>
    public Task<DeclineReceipt> DeclineLabelRequest(string machineId, string clipId, string? labeller = null) => Machine(machineId).DeclineLabelRequest(clipId, labeller);

    /// <summary>Takes or renews a labeller's claim on a pending request: who is listening to its clip (advice to other labellers).</summary>
    public Task<LabelRequestClaim> ClaimLabelRequest(string machineId, string clipId, string labeller, TimeSpan? lease = null) => Machine(machineId).ClaimLabelRequest(clipId, labeller, lease);

    /// <summary>Ends a labeller's claim on a clip, if they hold it.</summary>
    public Task<LabelRequestClaim> ReleaseLabelRequest(string machineId, string clipId, string labeller) => Machine(machineId).ReleaseLabelRequest(clipId, labeller);

    /// <summary>Ids of all configured or enrolled machines, in ordinal order.</summary>
    public Task<IReadOnlyList<string>> ListMachineIds() => Registry.List();

    /// <summary>Machines in a page of <see cref="ListMachines"/> when the caller names no limit.</summary>
    public const int DefaultMachinesPerPage = 1_000;
    /// <summary>The largest page of <see cref="ListMachines"/>.</summary>
    public const int MaxMachinesPerPage = 10_000;

    /// <summary>The status of up to <paramref name="limit"/> listed machines whose ids come after <paramref name="after"/>
    /// (ordinal; null: from the first), in id order. A sleeping machine's is the status it handed its registry shard as
    /// it went to sleep (<see cref="IMachineRegistryGrain.SleepingStatuses"/>), so listing it does not wake it; only the
    /// page's other machines are asked (stop 56).</summary>
    public async Task<MachineStatus[]> ListMachines(string? after = null, int limit = DefaultMachinesPerPage)
    {
        if (limit is < 1 or > MaxMachinesPerPage)
            throw new ArgumentException($"limit must be in 1..{MaxMachinesPerPage}, got {limit}");
        var ids = await Registry.ListPage(after, limit);
        var asleep = await SleepingStatuses(ids);
        return await Task.WhenAll(ids.Select(async (id, i) =>
        {
            if (asleep[i] is { } kept && kept.MachineId == id)
                return kept;
            try
            {
                return await ReadStatus(id);
            }
            catch (MachineUnreadableException e)
            {
                return new MachineStatus { MachineId = id, Enrolled = false, Settings = new MachineSettings(), Unreadable = e.Reason };
            }
        }));
    }

    /// <summary>The kept statuses of sleeping machines among <paramref name="ids"/>, in their order; none (every machine is
    /// asked, as before stop 56) where the registry cannot say: a registry grain on a silo of an older release, or one
    /// that failed (a fault of the cluster then shows in the machines' own answers).</summary>
    private async Task<IReadOnlyList<MachineStatus?>> SleepingStatuses(IReadOnlyList<string> ids)
    {
        if (ids.Count == 0) return [];
        try
        {
            var kept = await Registry.SleepingStatuses(ids);
            if (kept.Count == ids.Count) return kept;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger?.LogDebug(e, "the registry gave no sleeping machines' statuses; every machine of the page is asked");
        }
        return new MachineStatus?[ids.Count];
    }

    /// <summary>What a listing says of a machine that cannot be read; the cause is in the silo's log, not for API clients.</summary>
    public const string UnreadableReason = "its stored state could not be loaded, or it failed to start (the silo's log has the cause)";

    /// <summary>A machine's status, or <see cref="MachineUnreadableException"/> (logged once, with the machine id) when it
    /// fails for a reason of its own; a fault of the cluster or its store (503 over HTTP) propagates as it is.</summary>
    private async Task<MachineStatus> ReadStatus(string machineId)
    {
        try
        {
            return await Machine(machineId).GetStatus();
        }
        catch (Exception e) when (faults is not null && !faults.IsClusterFault(e))
        {
            var reason = faults.UnreadableReason(e) ?? UnreadableReason;
            if (_unreadableLogged.FirstInAWhile(machineId)) // a listing asks the machine again on every page: one warning per machine a while
                logger?.LogWarning(e, "machine {Machine} cannot be read: {Reason}", machineId, reason);
            throw new MachineUnreadableException(machineId, reason, e);
        }
    }

    /// <summary>How often the warning for one unreadable machine repeats.</summary>
    internal static readonly TimeSpan UnreadableLogInterval = TimeSpan.FromMinutes(10);
    private readonly LogThrottle _unreadableLogged = new(UnreadableLogInterval);

    /// <summary>Whether <paramref name="machineId"/> is configured or enrolled, from the registry: the machine is not woken.</summary>
    public Task<bool> IsListed(string machineId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(machineId);
        return Registry.Contains(machineId);
    }

    /// <summary>Retires a machine for good (<see cref="IMachineGrain.Retire"/>): what it held is removed, and the id is
    /// unknown afterwards. <see cref="MachineNotFoundException"/> for an id nobody configured or enrolled.</summary>
    public Task<MachineRetirement> Retire(string machineId) => Machine(machineId).Retire();

    /// <summary>One machine's settings, set sizes, counters and budget; <see cref="MachineNotFoundException"/> for a machine
    /// nobody configured or enrolled (no grain is activated for it), <see cref="MachineUnreadableException"/> for one that
    /// cannot be read.</summary>
    public async Task<MachineStatus> GetStatus(string machineId)
    {
        await RequireListed(machineId);
        return await ReadStatus(machineId);
    }

    /// <summary><see cref="MachineNotFoundException"/> for a machine the registry does not list, before its grain is woken.</summary>
    private async Task RequireListed(string machineId)
    {
        if (!await IsListed(machineId))
            throw new MachineNotFoundException(machineId);
    }

    /// <summary>Pending label requests, oldest first (ties by machine id): of one machine, or of every machine in the
    /// registry (which asks them in parallel).</summary>
    public async Task<IReadOnlyList<LabelRequest>> PendingLabelRequests(string? machineId, int limit)
    {
        if (limit is < 1 or > MaxLabelRequests)
            throw new ArgumentException($"limit must be in 1..{MaxLabelRequests}, got {limit}");
        if (machineId is null)
            return await Registry.GetPendingLabelRequests(limit);
        await RequireListed(machineId); // a mistyped id is said to be unknown, not answered with an empty queue
        return await Machine(machineId).GetPendingLabelRequests(limit); // one machine's list is already oldest first
    }
}
