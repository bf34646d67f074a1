namespace AsdOrleans.Abstractions;

/// <summary>
/// One monitored machine (key: machine id such as <c>plant-a.line-3.bandsaw-07</c>: letters, digits, '.', '_',
/// '-', at most 128 characters; not "." or ".."). Holds its normal and anomalous embedding sets and budget state; scores clips,
/// raises alerts, asks for labels within its budget, and learns from the labels. Bad input is refused with an
/// ArgumentException and changes nothing. Methods marked <see cref="StoreWriteAttribute"/> change what is stored: while
/// the cluster's Redis has lost its data they are refused (<see cref="ClusterStoreLostException"/>), the others are reads.
/// Calls but Configure, Enroll and Retire time out after <see cref="CallTimeouts.Quick"/>.
/// </summary>
public interface IMachineGrain : IGrainWithStringKey
{
    /// <summary>Sets the method's parameters. Changing them keeps the sets; switching to qbc needs re-enrollment.</summary>
    [StoreWrite]
    Task<MachineStatus> Configure(MachineSettings settings);

    /// <summary>Builds N, M, h and φ from training clips; replaces any earlier enrollment and pending requests.</summary>
    [StoreWrite]
    Task<MachineStatus> Enroll(EnrollmentRequest request);

    /// <summary>Enrolls as <see cref="Enroll(EnrollmentRequest)"/> and then applies the carried labels, oldest first, as
    /// labels are applied (each scored against the new sets before it joins them); the machine's kept labelled audio stays
    /// for a later carry. Refused, with nothing changed, when the machine's label count is no longer
    /// <see cref="LabelCarry.LabelsWhenRead"/>.</summary>
    [StoreWrite]
    Task<MachineStatus> Enroll(EnrollmentRequest request, LabelCarry carry);

    /// <summary>Removes the machine for good (a machine taken out of the plant): its stored state, journal and score
    /// history, its listing, its label requests (announced withdrawn) and every audio file kept for it. The id is then
    /// unknown, as if never used; configuring it again starts a new machine. <see cref="MachineNotFoundException"/> for
    /// an id nobody configured or enrolled.</summary>
    [StoreWrite]
    Task<MachineRetirement> Retire();

    /// <summary>Scores one clip, decides whether to ask for its label, and persists a new label request before returning.
    /// A recent clip id is answered with its first verdict, or refused (<see cref="ClipIdReusedException"/>) when its
    /// audio fingerprint differs from the one scored.</summary>
    [StoreWrite]
    [ResponseTimeout(CallTimeouts.Quick)]
    Task<ClipVerdict> ProcessClip(ClipSubmission clip);

    /// <summary>What <see cref="ProcessClip"/> would answer a retry of <paramref name="clipId"/> without its audio: the
    /// first verdict (<see cref="ClipVerdict.Repeated"/>) when the id is one of the machine's recent clips, else null;
    /// <see cref="ClipIdReusedException"/> when that clip was scored from audio of another
    /// <paramref name="audioFingerprint"/> (<see cref="ClipAudioFingerprint"/>). Refuses as <see cref="ProcessClip"/>
    /// does a machine that is not enrolled and a malformed id, so an ingest asks this before it decodes or embeds
    /// anything. Changes nothing: a null answer still goes through <see cref="ProcessClip"/>, which decides a race between
    /// two new clips of one id.</summary>
    [ResponseTimeout(CallTimeouts.Quick)]
    Task<ClipVerdict?> EarlierVerdict(string clipId, uint audioFingerprint);

    /// <summary>The call as silos before audio fingerprints (stop 53) make it: answered as an unknown fingerprint is (a
    /// repeat whatever the audio), so their ingests still reach machines on upgraded silos during a rolling upgrade.</summary>
    [ResponseTimeout(CallTimeouts.Quick)]
    Task<ClipVerdict?> EarlierVerdict(string clipId);

    /// <summary>Applies a label to a clip the machine asked about. Idempotent; an unknown clip is an error, and a clip
    /// whose request outlived its time-to-live gets <see cref="LabelRequestExpiredException"/>. <paramref name="labeller"/>
    /// (optional, <c>Identifiers.IsValidLabellerName</c>) is recorded with the answer in the score history and the closed event.</summary>
    [StoreWrite]
    [ResponseTimeout(CallTimeouts.Quick)]
    Task<LabelReceipt> SubmitLabel(string clipId, ClipLabelValue label, string? labeller = null);

    /// <summary>Closes a pending request without a label, for a labeller who cannot tell: a guessed label would put a
    /// clip in the wrong set. The query stays spent; the request is withdrawn for every labeller, its audio removed, and
    /// a later label gets <see cref="LabelRequestExpiredException"/>. Idempotent; a labelled clip cannot be declined.</summary>
    [StoreWrite]
    [ResponseTimeout(CallTimeouts.Quick)]
    Task<DeclineReceipt> DeclineLabelRequest(string clipId, string? labeller = null);

    /// <summary>Takes or renews <paramref name="labeller"/>'s claim on a pending request (<see cref="LabelRequestClaim"/>) for
    /// <paramref name="lease"/> (default <see cref="LabelRequestClaim.DefaultLease"/>). When another labeller's claim is
    /// live, nothing changes and theirs is returned: the caller checks <see cref="LabelRequestClaim.IsHeldBy"/>. A labelled
    /// clip is a <see cref="LabelConflictException"/>, an expired request a <see cref="LabelRequestExpiredException"/>.</summary>
    [StoreWrite]
    [ResponseTimeout(CallTimeouts.Quick)]
    Task<LabelRequestClaim> ClaimLabelRequest(string clipId, string labeller, TimeSpan? lease = null);

    /// <summary>Ends <paramref name="labeller"/>'s claim on a clip, if they hold one; returns the claim that stands
    /// afterwards (another labeller's, or none). Never an error for a closed request: the answer already ended the claim.</summary>
    [StoreWrite]
    [ResponseTimeout(CallTimeouts.Quick)]
    Task<LabelRequestClaim> ReleaseLabelRequest(string clipId, string labeller);

    /// <summary>Pending requests, oldest first, with the live claims; expired ones are dropped (with their audio) before listing.</summary>
    [ResponseTimeout(CallTimeouts.Quick)]
    Task<IReadOnlyList<LabelRequest>> GetPendingLabelRequests(int limit);

    [ResponseTimeout(CallTimeouts.Quick)]
    Task<MachineStatus> GetStatus();

    /// <summary>The embedder the machine is enrolled with (model, baseline or spectral), or null before enrollment: what an
    /// encoder worker embeds its clips with.</summary>
    [ResponseTimeout(CallTimeouts.Quick)]
    Task<string?> GetEnrolledEmbedder();
}
