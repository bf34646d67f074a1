namespace AsdOrleans.Abstractions;

/// <summary>
/// A machine's method settings (docs/design.md §1). Every field may be null, and null keeps the default of <see cref="Method"/>
/// (Core's <c>MachineConfig.Default</c> or <c>MachineConfig.Paper</c>, the one record of the method's defaults), so a
/// settings document names only what it changes. An unknown field is refused, not dropped: a misspelt setting would
/// otherwise leave the machine on its default without a word.
/// </summary>
[GenerateSerializer, Immutable]
[System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
public sealed record MachineSettings
{
    /// <summary>none, random, variable-uncertainty, hybrid, hybrid-printed or qbc (default hybrid).</summary>
    [Id(0)] public string? Strategy { get; init; }
    /// <summary>b: the share of clips that may be labelled (default 0.1).</summary>
    [Id(1)] public double? Budget { get; init; }
    [Id(2)] public double? Gamma { get; init; }
    [Id(3)] public double? Alpha { get; init; }
    [Id(4)] public int? BudgetWindow { get; init; }
    [Id(5)] public double? RandomShare { get; init; }
    [Id(6)] public double? DecisionQuantile { get; init; }
    /// <summary>Seed of the machine's decisions; null derives it from the machine id, so replays repeat.</summary>
    [Id(7)] public ulong? Seed { get; init; }
    [Id(8)] public int? SourceClusters { get; init; }
    /// <summary>The named method whose values fill the null fields: <c>default</c> (null) or <c>paper</c> (exactly docs/design.md §1).</summary>
    [Id(9)] public string? Method { get; init; }
    /// <summary>paper (Eq. 1–3), margin, domain or local (docs/decisions.md, issue 11); null: the method's.</summary>
    [Id(10)] public string? Scoring { get; init; }
    /// <summary>paced (between b − (1 + b)/n and b + (2 − b)/n of n clips labelled) or paper (Žliobaitė's b̂ from 0); null: the method's.</summary>
    [Id(11)] public string? BudgetStart { get; init; }
    /// <summary>model (the silo's trained encoder), baseline or spectral (training-free log-mel statistics, standardised or
    /// whitened per machine): what the machine's clips are embedded with from its next enrollment on; null: the silo's
    /// (<c>asd silo --embedder</c>). An enrolled machine keeps the embedder it was enrolled with until it is enrolled again.</summary>
    [Id(12)] public string? Embedder { get; init; }
    /// <summary>Most rows of the reference set N (beyond it labelled normals merge into their nearest row); 0 unbounded; null: the method's.</summary>
    [Id(13)] public int? ReferenceCap { get; init; }
    /// <summary>Most rows of the labelled anomalies A; 0 unbounded; null: the method's.</summary>
    [Id(14)] public int? AnomalyCap { get; init; }
    /// <summary>Most scores kept in M (a reservoir sample beyond it); 0 unbounded; null: the method's.</summary>
    [Id(15)] public int? ScoreCap { get; init; }
    /// <summary>How N and A store their rows: fp16 (the default method's) or fp32 (the paper's); null: the method's.</summary>
    [Id(16)] public string? EmbeddingPrecision { get; init; }
    /// <summary>per-domain (each domain's φ from its own enrollment scores, under the <c>domain</c> scoring) or single (one
    /// φ for both, the paper's); null: the method's. Takes effect at once: the domains' fits are kept either way.</summary>
    [Id(17)] public string? DecisionThresholds { get; init; }
}

/// <summary>One training clip's embedding for enrollment. Both fields are required in JSON: a clip without its domain
/// would otherwise enroll as a source-domain one without a word.</summary>
[GenerateSerializer, Immutable]
[System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
public sealed record EnrollmentClip([property: Id(0), System.Text.Json.Serialization.JsonRequired] float[] Embedding,
    [property: Id(1), System.Text.Json.Serialization.JsonRequired] bool IsTargetDomain);

/// <summary>Enrollment from training clips, all embedded by one encoder model version.</summary>
/// <param name="Standardize">The embeddings are raw features (the training-free baseline's): the machine fits a
/// per-dimension mean and standard deviation on these clips, enrolls the standardised clips, and standardises every
/// later clip the same way before scoring. False (the default) for a trained encoder's embeddings.</param>
/// <param name="Whiten">The embeddings are raw features (the <c>spectral</c> embedder's): the machine fits a whitening
/// transform on these clips and their domains (AsdOrleans.Method.Enrollment.FeatureWhitener), enrolls the whitened
/// clips, and whitens every later clip the same way. At most one of Standardize and Whiten.</param>
/// <param name="KeepLabels">Carry the machine's human labels into the new enrollment: the clips labelled since its
/// earlier enrollments, whose audio the silo kept (Asd:LabelledAudioPerMachine), are embedded again with this enrollment's
/// embedder and join the new sets as labelled. For a new encoder or embedder on the same machine; false (the default)
/// for a machine that was changed or repaired, whose labels describe the machine before it.</param>
[GenerateSerializer, Immutable]
[System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
public sealed record EnrollmentRequest([property: Id(0)] IReadOnlyList<EnrollmentClip> Clips, [property: Id(1)] string ModelVersion,
    [property: Id(2)] bool Standardize = false, [property: Id(3)] bool Whiten = false, [property: Id(4)] bool KeepLabels = false);

/// <summary>What a machine's retirement removed: its labels, its clips seen and the label requests it withdrew.</summary>
[GenerateSerializer, Immutable]
public sealed record MachineRetirement([property: Id(0)] string MachineId, [property: Id(1)] long NormalLabels, [property: Id(2)] long AnomalousLabels,
    [property: Id(3)] long ClipsSeen, [property: Id(4)] int WithdrawnLabelRequests);

/// <summary>One labelled clip carried into a re-enrollment: its audio embedded again with the new enrollment's embedder
/// (raw, as the enrollment clips are), and the label a person gave it.</summary>
[GenerateSerializer, Immutable]
public sealed record CarriedLabel([property: Id(0)] string ClipId, [property: Id(1)] float[] Embedding, [property: Id(2)] ClipLabelValue Label);

/// <summary>The labels a re-enrollment carries, oldest first, and how many labels and enrollments the machine had when
/// their audio was read: a label given after that read would not be among them, and another enrollment meanwhile (a
/// --replace) would make them another machine's, so the machine refuses either (nothing changes) and the caller reads
/// again.</summary>
[GenerateSerializer, Immutable]
public sealed record LabelCarry([property: Id(0)] IReadOnlyList<CarriedLabel> Labels, [property: Id(1)] long LabelsWhenRead,
    [property: Id(2)] long EnrollmentsWhenRead = 0);

/// <summary>One incoming clip, already embedded.</summary>
/// <param name="ClipId">Unique per machine; used to answer the label request later.</param>
/// <param name="AudioReference">Where the clip's audio is kept for a labeller (path or URI), if anywhere.</param>
/// <param name="AudioFingerprint"><see cref="ClipAudioFingerprint.Of"/> of the audio the embedding was made from, so a
/// reused id with other audio is refused instead of answered as a repeat; <see cref="ClipAudioFingerprint.Unknown"/>
/// for an embedding submitted without its audio.</param>
[GenerateSerializer, Immutable]
public sealed record ClipSubmission(
    [property: Id(0)] string ClipId,
    [property: Id(1)] float[] Embedding,
    [property: Id(2)] string ModelVersion,
    [property: Id(3)] string? AudioReference = null,
    [property: Id(4)] uint AudioFingerprint = ClipAudioFingerprint.Unknown);

/// <summary>The machine's answer for one clip (docs/design.md §2, Flow); <see cref="Repeated"/> when it answers a retry of a clip it already had.</summary>
/// <param name="QueryReason">Why the label was asked for, when it was: <c>uncertain</c>, <c>random</c>, <c>committee</c> (the
/// strategy's branch), <c>budget-floor</c> (the paced budget's floor), or <c>unrecorded</c> (a retry answered from older state).</param>
[GenerateSerializer, Immutable]
public sealed record ClipVerdict(
    [property: Id(0)] string ClipId,
    [property: Id(1)] double Score,
    [property: Id(2)] bool Anomalous,
    [property: Id(3)] bool LabelRequested,
    [property: Id(4)] long ClipIndex,
    [property: Id(5)] bool Repeated = false,
    [property: Id(6)] string? QueryReason = null);

public enum ClipLabelValue { Normal = 0, Anomalous = 1 }

/// <summary>A durable request for a human label.</summary>
/// <param name="QueryReason">Why the machine asked (see <see cref="ClipVerdict.QueryReason"/>); null for a request stored
/// before machines recorded it.</param>
/// <param name="ClaimedBy">The labeller listening to the clip now (<see cref="LabelRequestClaim"/>), as listings show it;
/// never stored.</param>
/// <param name="ClaimedUntil">When that claim lapses unless renewed.</param>
/// <param name="DecisionThreshold">The φ the clip's score was compared with (above it: an alert); null for a request stored
/// before machines recorded it.</param>
[GenerateSerializer, Immutable]
public sealed record LabelRequest(
    [property: Id(0)] string MachineId,
    [property: Id(1)] string ClipId,
    [property: Id(2)] double Score,
    [property: Id(3)] DateTimeOffset RequestedAt,
    [property: Id(4)] string? AudioReference,
    [property: Id(5)] string? QueryReason = null,
    [property: Id(6)] string? ClaimedBy = null,
    [property: Id(7)] DateTimeOffset? ClaimedUntil = null,
    [property: Id(8)] double? DecisionThreshold = null);

/// <summary>
/// Who is listening to a pending request's clip: an advisory lease a labeller takes when they open a clip, so that other
/// labellers pick another one instead of judging the same clip twice. It does not lock the request (any labeller may
/// still answer it, and the answer ends the claim), lapses at <see cref="ClaimedUntil"/> unless renewed, and lives in the
/// machine's memory only: a machine that moves to another silo forgets its claims, which costs at most a clip heard
/// twice. Also the event of the <c>asd.label-requests.claims</c> stream; <see cref="ClaimedBy"/> null: released (or no claim).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record LabelRequestClaim(
    [property: Id(0)] string MachineId,
    [property: Id(1)] string ClipId,
    [property: Id(2)] string? ClaimedBy,
    [property: Id(3)] DateTimeOffset? ClaimedUntil) : IMachineEvent
{
    /// <summary>How long a claim lasts when the labeller names no length; the console renews it while the card is open.</summary>
    public static readonly TimeSpan DefaultLease = TimeSpan.FromMinutes(2);
    /// <summary>The shortest and longest lease a labeller may ask for.</summary>
    public static readonly TimeSpan MinLease = TimeSpan.FromSeconds(5), MaxLease = TimeSpan.FromMinutes(10);

    /// <summary>Whether <paramref name="labeller"/> holds this claim.</summary>
    public bool IsHeldBy(string labeller) => string.Equals(ClaimedBy, labeller, StringComparison.Ordinal);
}

/// <summary>Result of declining a label request (a labeller cannot tell); <see cref="AlreadyClosed"/> when it was
/// declined before, or expired, so nothing changed this time.</summary>
[GenerateSerializer, Immutable]
public sealed record DeclineReceipt(
    [property: Id(0)] string ClipId,
    [property: Id(1)] bool AlreadyClosed);

/// <summary>Result of submitting a label; <see cref="AlreadyApplied"/> when the same label came before.</summary>
[GenerateSerializer, Immutable]
public sealed record LabelReceipt(
    [property: Id(0)] string ClipId,
    [property: Id(1)] ClipLabelValue Label,
    [property: Id(2)] bool AlreadyApplied,
    [property: Id(3)] int ReferenceSetSize,
    [property: Id(4)] int AnomalySetSize);

/// <summary>What an operator sees of a machine.</summary>
[GenerateSerializer, Immutable]
public sealed record MachineStatus
{
    [Id(0)] public required string MachineId { get; init; }
    [Id(1)] public required bool Enrolled { get; init; }
    [Id(2)] public required MachineSettings Settings { get; init; }
    [Id(3)] public string? ModelVersion { get; init; }
    [Id(4)] public int ReferenceSetSize { get; init; }
    [Id(5)] public int AnomalySetSize { get; init; }
    [Id(6)] public long ClipsSeen { get; init; }
    [Id(7)] public long Queries { get; init; }
    [Id(8)] public double RealisedBudget { get; init; }
    [Id(9)] public double SpentBudget { get; init; }
    [Id(10)] public double LabellingThreshold { get; init; }
    [Id(11)] public double DecisionThreshold { get; init; }
    [Id(12)] public int PendingLabelRequests { get; init; }
    [Id(13)] public long NormalLabels { get; init; }
    [Id(14)] public long AnomalousLabels { get; init; }
    /// <summary>Label requests dropped unanswered (past their time-to-live, or the oldest beyond the machine's limit of open
    /// requests), since the last enrollment; declines are counted apart (<see cref="DeclinedLabelRequests"/>).</summary>
    [Id(15)] public long ExpiredLabelRequests { get; init; }
    /// <summary>b, the nominal budget in force (<see cref="RealisedBudget"/> is the share of clips actually queried).</summary>
    [Id(16)] public double Budget { get; init; }
    /// <summary>The scoring and budget start in force (names), whatever the settings left null.</summary>
    [Id(17)] public string? Scoring { get; init; }
    [Id(18)] public string? BudgetStart { get; init; }
    /// <summary>RealisedBudget &gt; Budget + 0.02 after at least 100 clips.</summary>
    [Id(19)] public bool Overspent { get; init; }
    /// <summary>Whether each clip's features are standardised with μ and σ fitted on the machine's enrollment clips before
    /// scoring (a machine enrolled on raw baseline features); false for encoder embeddings.</summary>
    [Id(20)] public bool StandardizesFeatures { get; init; }
    /// <summary>Whether each clip's features are whitened with a transform fitted on the machine's enrollment clips (a
    /// machine enrolled on raw <c>spectral</c> features).</summary>
    [Id(21)] public bool WhitensFeatures { get; init; }
    /// <summary>The embedder the machine is enrolled with (model, baseline or spectral), which every clip must be embedded
    /// with; null before enrollment. <see cref="MachineSettings.Embedder"/> is the one its next enrollment uses.</summary>
    [Id(22)] public string? Embedder { get; init; }
    /// <summary>Of <see cref="Queries"/>, those the paced budget's floor made where the strategy passed (query reason
    /// budget-floor): a machine whose strategy rarely finds a clip worth a label shows a large share here.</summary>
    [Id(23)] public long ForcedQueries { get; init; }
    /// <summary>Label requests a labeller closed as "can't tell", since the last enrollment: asked, spent, and answered
    /// with nothing (a share that grows says the machine asks about clips its labellers cannot judge).</summary>
    [Id(24)] public long DeclinedLabelRequests { get; init; }
    /// <summary>The target domain's φ where the machine keeps one per domain (the default method); <see cref="DecisionThreshold"/>
    /// is then the source domain's, and each clip is compared with the φ of its nearest reference's domain. Null: one φ.</summary>
    [Id(25)] public double? DecisionThresholdTarget { get; init; }
    /// <summary>The decision-threshold setting in force (per-domain or single); <see cref="DecisionThresholdTarget"/> is
    /// null where it is single, and also where a per-domain machine has no second domain to fit.</summary>
    [Id(26)] public string? DecisionThresholds { get; init; }
    /// <summary>Why the machine cannot be read now (its stored state could not be loaded, or it failed to start), in a
    /// listing, where it stands in for the machine's status: every other field but <see cref="MachineId"/> is then a
    /// default that says nothing. Null, and left out of JSON, for a machine that answered.</summary>
    [Id(27)]
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Unreadable { get; init; }
    /// <summary>Labels the last enrollment carried from the machine's earlier ones (<see cref="EnrollmentRequest.KeepLabels"/>);
    /// they are counted in <see cref="NormalLabels"/> and <see cref="AnomalousLabels"/>, not in <see cref="Queries"/>.</summary>
    [Id(28)] public long CarriedLabels { get; init; }
    /// <summary>Labels the machine held that the last enrollment could not carry: a gateway's clip (its audio is the
    /// gateway's), a label beyond Asd:LabelledAudioPerMachine, audio that could not be kept or read.</summary>
    [Id(29)] public long LabelsNotCarried { get; init; }
    /// <summary>How many times the machine has been enrolled (0: never, or before this count existed).</summary>
    [Id(30)] public long Enrollments { get; init; }
}
