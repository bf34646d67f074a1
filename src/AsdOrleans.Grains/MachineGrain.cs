using AsdOrleans.Abstractions;
using AsdOrleans.Method.Enrollment;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Strategies;
using AsdOrleans.Grains.Placement;
using AsdOrleans.Grains.Streams;
using AsdOrleans.Grains.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Storage;
using CoreEnrollmentClip = AsdOrleans.Method.Enrollment.EnrollmentClip;

namespace AsdOrleans.Grains;

/// <summary>
/// One monitored machine, thin over Core's <see cref="MachineModel"/> (the same code the experiment harness runs).
/// Enrollments and labels are written before the call returns; a new label request right after its clip's call, on a
/// turn of its own, and it is offered to labellers only once written; the per-clip budget state of clips that ask for
/// nothing is written at most <see cref="FlushInterval"/> later and on deactivation, so a crash can cost the last few
/// seconds of clips (b̂/h/counter updates, and requests not yet written, which no labeller has seen), never an
/// acknowledged label or a request a labeller was offered. Processing is
/// idempotent per clip id over the last 1,000 clips: a device's retry (the same audio) returns the original verdict, and
/// other audio under a recent id is refused (<see cref="ClipIdReusedException"/>).
/// Clips, and labels that leave the model's length unchanged, are written as a small <see cref="MachineJournal"/> beside
/// the full state (the base), which is rewritten only by enrollment, configuration, labels that grow a set, expiry and
/// when the journal has grown (<see cref="JournalLimits"/>). While a silo leaves the cluster (<see cref="WriteThroughWindow"/>)
/// each clip is written before its verdict is answered, and a new activation first fences off an earlier one that may
/// still live on another silo (<see cref="FenceEarlierActivation"/>).
/// </summary>
[RequiresSiloRole(SiloRoles.Machines)]
public sealed class MachineGrain(
    [PersistentState("machine", MachineGrain.StorageName)] IPersistentState<MachineGrainState> state,
    [PersistentState("journal", MachineGrain.StorageName)] IPersistentState<MachineJournal> journal,
    [PersistentState(MachineScoreHistory.HeadStateName, MachineGrain.StorageName)] IPersistentState<ScoreHistoryState> scoreHistoryHead,
    ILogger<MachineGrain> logger) : Grain, IMachineGrain, IScoreHistoryGrain, IRemindable, IGrainMigrationParticipant, IIncomingGrainCallFilter, IWritesBehind, IWritesBehindSoon
{
    public const string StorageName = "machines";
    public static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(5);
    private const int MaxClipIdLength = 128;

    /// <summary>When a journal write becomes a full write instead: verdicts or requests since the base, or a model
    /// patch larger than a quarter of the model (a journal is rewritten whole, so it must stay small).</summary>
    public static class JournalLimits
    {
        public const int Verdicts = 64;
        public const int Requests = 16;
        public const int ModelFraction = 4;
    }

    private MachineModel? _model;
    /// <summary>Digests of the base's model bytes (the last full write): journal writes patch the chunks that differ.
    /// The bytes themselves are dropped from memory after each write and on activation.</summary>
    private ChunkDigest? _baseDigest;
    /// <summary>Standardises or whitens each clip's raw features before the model sees them (training-free embedders only).</summary>
    private IFeatureTransform? _featureTransform;
    private bool _dirty;
    /// <summary>Writes the machine's per-clip changes and its score history behind; ticks only after a change.</summary>
    private ArmedSteadyTimer _flushTimer = null!;
    private MachineScoreHistory _history = null!;
    /// <summary>Alerts sent to the alert index and not yet confirmed written there; resent at each flush tick.</summary>
    private AlertOutbox _alerts = null!;
    private AlertResendReminder _alertWake = null!;
    /// <summary>What this activation last told the registry about holding label requests (null: not yet, or that call failed).</summary>
    private bool? _listedAsPending;
    /// <summary>Set when a write failed: memory then holds changes nobody acknowledged, which must never be written.</summary>
    private bool _discarded;
    private LabelRequestExpiryKeeper? _expiry;
    private MachineEventPublisher? _events;
    /// <summary>Who listens to which pending clip (memory only: advice to labellers, not state).</summary>
    private readonly LabelRequestClaims _claims = new();
    /// <summary>Open while a silo leaves the cluster: each clip is written before its verdict is answered.</summary>
    private WriteThroughWindow? _writeThrough;
    /// <summary>When this activation started, and the last window after which it wrote a clip through (window ticks).</summary>
    private long _activatedAt, _checkedAfterWindow = long.MinValue;

    /// <summary>While the window is open; and once after it, for an activation that lived while it was open: if another
    /// activation fenced this one off meanwhile (<see cref="FenceEarlierActivation"/>), it learns it on a clip it has not
    /// answered, instead of writing behind clips that a later write would fail to store.</summary>
    private bool WriteThroughDue()
    {
        if (_writeThrough is not { } window) return false;
        if (window.IsOpen) return true;
        long until = window.OpenUntil;
        if (until == long.MinValue || until == _checkedAfterWindow || _activatedAt >= until) return false;
        _checkedAfterWindow = until;
        return true;
    }

    /// <summary>Label requests expire after a TTL (<see cref="LabelRequestExpiryKeeper"/>).</summary>
    private LabelRequestExpiryKeeper Expiry => _expiry ??= new(this, ServiceProvider, MachineId, () => state.State, change => Persist(change), logger)
    {
        OnExpired = clipIds => Announce(clipIds.ToList(), LabelRequestOutcome.Expired),
    };

    /// <summary>Alerts and label requests go out on Orleans streams (<see cref="MachineEventPublisher"/>).</summary>
    private MachineEventPublisher Events => _events ??= MachineEventPublisher.For(this, logger);

    private string MachineId => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _flushTimer = new ArmedSteadyTimer(this, FlushTick, FlushInterval);
        _writeThrough = ServiceProvider.GetService<WriteThroughWindow>();
        _activatedAt = _writeThrough?.Now ?? 0;
        // Records as read (not after a migration: its state comes from memory, and it is never a second activation).
        if (_writeThrough?.IsOpen == true && !_rehydrated && state.RecordExists && state.State.Model is not null)
            await FenceEarlierActivation();
        _history = await MachineScoreHistory.OpenAsync(scoreHistoryHead, ServiceProvider.GetRequiredKeyedService<IGrainStorage>(StorageName),
            this.GetGrainId(), _flushTimer.Arm, logger);
        _alerts = new AlertOutbox(GrainFactory, MachineId, _flushTimer.Arm, _history, clipId => state.State.ClosureOf(clipId), logger);
        _alertWake = new AlertResendReminder(this, ServiceProvider, MachineId, logger, handedOver: _alertWakeHandedOver);
        if (_handedOver is { } handedOver)
        {
            _model = MachineModel.Deserialize(handedOver.Model);
            _baseDigest = ChunkDigest.FromBytes(handedOver.BaseDigest);
            _handedOver = null;
        }
        else if (state.State.Model is null && state.RecordExists)
        {
            // Migrated without the model handed over (the old activation had unwritten changes, or a failed write): the
            // state as the old activation held it in memory has no base model bytes (ForgetBaseBytes), so start from
            // what storage holds. (A configured machine that never enrolled reads twice.)
            await state.ReadStateAsync(cancellationToken);
            await journal.ReadStateAsync(cancellationToken);
        }
        if (state.RecordExists)
        {
            // Before anything that could change its status (expiry, below): the shard drops what it kept. Waited for at most
            // AwakeWait, so that a slow registry delays an activation (a clip's first call) by that and no more; the call
            // goes on in the background, and until it lands a listing may show the status the machine slept with.
            _tellingAwake = TellAwake();
            try
            {
                await _tellingAwake.WaitAsync(AwakeWait, cancellationToken);
            }
            catch (TimeoutException)
            {
                logger.LogWarning("machine {Machine}: its registry shard did not answer within {Seconds} s that it is awake; going on", MachineId, AwakeWait.TotalSeconds);
            }
        }
        state.State.MoveLegacyMemories(); // before the journal, whose verdicts are newer
        state.State.ApplyMemoryCapacities();
        if (state.State.Model is { } bytes)
        {
            _model = MachineModel.Deserialize(ReplayJournal(bytes));
            ForgetBaseBytes();
        }
        if (state.State.Standardizer is { } standardizer)
            _featureTransform = FeatureTransforms.FromBytes(standardizer);
        await RestoreLostOutcomes();
        await Expiry.ExpireDue();
        await Expiry.SyncReminder();
        if (AsdOrleans.Method.Vocabulary.Identifiers.IsValidMachineId(MachineId)) // an invalid id's calls are refused (RequireValidId); it has no folder
            Expiry.RemoveOrphanedAudio();
        if (state.RecordExists || _model is not null)
            RepairRegistryListing();
        if (state.State.Pending.Count > 0)
            await SyncPendingListing(); // repairs a listing lost between our write and the registry's
        UpdateGauges();
    }

    private const string HandedOverModel = "asd.machine.model", HandedOverBaseDigest = "asd.machine.base-digest", HandedOverAlertWake = "asd.machine.alert-wake";
    /// <summary>Set when a migration said the old activation had the alert-resend reminder.</summary>
    private bool _alertWakeHandedOver;
    /// <summary>What a migration handed this activation: the model's bytes and the digests of the stored base's.</summary>
    private (byte[] Model, byte[] BaseDigest)? _handedOver;

    /// <summary>
    /// Migration (Orleans' activation rebalancer) hands the persistent states over as held in memory, which lack the
    /// base model bytes; the model itself and the base's digests go with them, so the new activation needs no storage
    /// read and its journal patches stay relative to the stored base. Only when memory equals storage: OnDeactivateAsync
    /// has flushed by now, and after a failed write nothing is handed over, so the new activation reloads.
    /// </summary>
    void IGrainMigrationParticipant.OnDehydrate(IDehydrationContext context)
    {
        if (_alertWake?.MayExist == true)
            context.TryAddValue(HandedOverAlertWake, true); // the new activation removes it once nothing waits
        if (_model is null || _baseDigest is null || _dirty || _discarded || _unwritten.Count > 0)
            return;
        context.TryAddValue(HandedOverModel, _model.Serialize());
        context.TryAddValue(HandedOverBaseDigest, _baseDigest.ToBytes());
    }

    /// <summary>Set when a migration handed this activation its state from the old one's memory.</summary>
    private bool _rehydrated;

    void IGrainMigrationParticipant.OnRehydrate(IRehydrationContext context)
    {
        _rehydrated = true;
        _alertWakeHandedOver = context.TryGetValue<bool>(HandedOverAlertWake, out var wake) && wake;
        if (context.TryGetValue<byte[]>(HandedOverModel, out var model) && model is not null
            && context.TryGetValue<byte[]>(HandedOverBaseDigest, out var digest) && digest is not null)
            _handedOver = (model, digest);
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == AlertResendReminder.Name)
        {
            if (_retired)
            {
                await _alertWake.Forget();
                return;
            }
            await _alerts.ResendAsync(); // the stored alerts, on a machine nobody calls; confirmed at the ticks that follow
            await _history.Flush(CancellationToken.None);
            await _alertWake.OnWake(_alerts.Waiting || _history.UnindexedAlerts.Count > 0, _alerts.AlertsSent);
            return;
        }
        if (reminderName != LabelRequestExpiry.ReminderName)
            return;
        await Expiry.OnReminder();
        await SyncPendingListing();
    }

    /// <summary>Whether the registry is known to list this machine. Reads of a machine ask the registry whether it exists,
    /// so a fault between the machine's write and the registry's would leave a stored machine "unknown".</summary>
    private bool _listedInRegistry;
    private Task? _registryListing;

    private async Task ListInRegistry()
    {
        if (!_toldAwake)
            await TellAwake(); // a machine configured or enrolled for the first time: its sleep may be kept from now on
        await MachineRegistryShards.For(GrainFactory, MachineId).Register([MachineId]); // no write when already listed
        _listedInRegistry = true;
    }

    /// <summary>This activation, to its registry shard (<see cref="IMachineRegistryShardGrain.Awake"/>): only the activation
    /// that last said it was awake may hand over a status when it sleeps.</summary>
    private readonly Guid _activation = Guid.NewGuid();
    /// <summary>Whether the shard has heard <see cref="_activation"/> is awake: until then, a status it kept of an earlier
    /// activation may still be listed, and this one hands over none when it sleeps.</summary>
    private bool _toldAwake;
    private Task? _tellingAwake;
    private long _lastAwakeTry;
    /// <summary>How often a call retries telling the shard that the machine is awake after that failed.</summary>
    private static readonly TimeSpan AwakeRetryInterval = TimeSpan.FromSeconds(10);
    /// <summary>How long an activation waits for its shard to hear that it is awake before it goes on.</summary>
    private static readonly TimeSpan AwakeWait = TimeSpan.FromSeconds(2);

    /// <summary>Tells the shard this activation is awake, which drops the status it kept of the machine's last sleep (stop 56).
    /// A failure is logged, not thrown (a registry outage must not stop scoring): calls retry it in the background, and
    /// until one succeeds a listing may show the status the machine slept with.</summary>
    private async Task TellAwake()
    {
        _lastAwakeTry = Environment.TickCount64;
        try
        {
            await MachineRegistryShards.For(GrainFactory, MachineId).Awake(MachineId, _activation);
            _toldAwake = true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "machine {Machine}: could not tell its registry shard that it is awake; a listing may show the status it last slept with until a retry does", MachineId);
        }
    }

    /// <summary>On a call: retries <see cref="TellAwake"/> in the background when it failed, at most every <see cref="AwakeRetryInterval"/>.</summary>
    private void RetryTellAwake()
    {
        if (_toldAwake || _retired || IsUnknown || _tellingAwake is { IsCompleted: false }
            || Environment.TickCount64 - _lastAwakeTry < (long)AwakeRetryInterval.TotalMilliseconds)
            return;
        _tellingAwake = TellAwake();
    }

    /// <summary>
    /// Hands the shard the machine's status as it goes to sleep (<see cref="IMachineRegistryShardGrain.Asleep"/>), so a
    /// listing answers for it without waking it. Only after its state is written (the deactivation's flush), and only when
    /// memory is what storage holds: not after a failed write, nor for a retired or unknown machine. An activation the shard
    /// never heard awake says so first (which drops the status kept of its last sleep), and hands over nothing if that fails
    /// too. With label requests, the status holds until the oldest expires (its counts change then).
    /// </summary>
    private async Task TellAsleep(CancellationToken cancellation)
    {
        if (_retired || IsUnknown)
            return;
        if (!_toldAwake)
        {
            // Its word that it was awake never reached the shard (the call failed or outlived its wait, and calls retry it
            // at most every AwakeRetryInterval): the status kept of its last sleep may be stale by now, and would stay
            // listed until the machine next woke. Said now, that status goes, and this activation may hand over its own.
            try
            {
                await TellAwake().WaitAsync(cancellation);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            if (!_toldAwake)
                return;
        }
        if (_discarded || _dirty || _unwritten.Count > 0)
            return;
        var validUntil = LabelRequestExpiry.NextExpiry(state.State, Expiry.Ttl);
        if (validUntil <= DateTimeOffset.UtcNow)
            return; // a request has expired already: the next read expires it
        try
        {
            // Not past the deactivation's time: a report that lands later is ignored if the machine has woken meanwhile.
            await MachineRegistryShards.For(GrainFactory, MachineId).Asleep(MachineId, _activation, Status(), validUntil).WaitAsync(cancellation);
        }
        catch (Exception e) // a cancelled wait included: the machine is simply asked by the next listing
        {
            logger.LogDebug(e, "machine {Machine}: could not hand its registry shard its status as it went to sleep; a listing wakes it", MachineId);
        }
    }

    /// <summary>Lists the machine in the registry in the background unless it is known to be listed: on activation and on
    /// each clip until it succeeds. Neither waits for the registry, whose outage must not stop scoring.</summary>
    private void RepairRegistryListing()
    {
        if (_listedInRegistry || _registryListing is { IsCompleted: false })
            return;
        _registryListing = TryListInRegistry();
    }

    private async Task TryListInRegistry()
    {
        try
        {
            await ListInRegistry();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "machine {Machine}: could not list itself in the registry; reads call it unknown until it does (retried with its next clip)", MachineId);
        }
    }

    /// <summary>
    /// Tells the registry whether this machine holds pending label requests when that changed since it last told it, so a
    /// listing asks only machines that have some. A failure is logged, not thrown (the caller's change is persisted);
    /// the next call tries again, and every activation with pending requests tells it anew.
    /// </summary>
    private async Task SyncPendingListing()
    {
        bool has = state.State.Pending.Count > 0;
        if (_listedAsPending == has)
            return;
        try
        {
            var shard = MachineRegistryShards.For(GrainFactory, MachineId);
            if (!has)
                await shard.SetPending([MachineId], false);
            else
            {
                try
                {
                    // With its oldest request's time, by which a listing orders machines without waking them.
                    await shard.SetHolding(MachineId, state.State.Pending.Values.Min(p => p.RequestedAt));
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    await shard.SetPending([MachineId], true); // a shard on a silo of the release before the call
                }
            }
            _listedAsPending = has;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _listedAsPending = null;
            logger.LogWarning(e, "machine {Machine}: could not tell the registry whether it holds label requests", MachineId);
        }
    }

    /// <summary>
    /// A new label request is written, announced (its event; the audio of requests it withdrew is removed), given its
    /// reminder and listed on a turn of its own right after the clip's call returns, so neither the write nor a slow
    /// registry shard or reminder table holds up the clip's verdict. The timer does not interleave with calls, so it
    /// never races another write or a label's own sync, and requests opened by several calls before it runs share one
    /// write. A labeller never sees a request before it is written: it is not listed, announced or registered until
    /// then. A crash before the write loses the clip as it loses any clip not yet flushed (its verdict said a label
    /// was asked; nobody was asked). A crash after the write but before the listing leaves the machine unlisted until
    /// its next activation, which lists it (as after a failed registry call). docs/decisions.md, "a new request is
    /// written right after the call".
    /// </summary>
    private IGrainTimer? _followUp;
    private bool _followUpDue;
    /// <summary>Requests opened by calls that have returned, not yet written (or written by another call's write but
    /// not yet announced), oldest first.</summary>
    private readonly List<UnwrittenRequest> _unwritten = [];

    private sealed record UnwrittenRequest(ClipVerdict Verdict, PendingLabel Request, List<string> Withdrawn);

    private bool IsUnwritten(string clipId) => _unwritten.Exists(u => u.Request.ClipId == clipId);

    /// <summary>Marks the reminder and listing sync due unless both already hold; the follow-up armed by the clip that
    /// opened the request runs it (in the same turn when the follow-up is what wrote the request).</summary>
    private void NoteListingDue()
    {
        if (_listedAsPending == true && !Expiry.ReminderUnconfirmed)
            return; // both already hold: the usual case once a machine has open requests
        _followUpDue = true;
    }

    /// <summary>Runs <see cref="RunFollowUp"/> on a turn of its own as soon as this one ends.</summary>
    private void ScheduleFollowUp()
    {
        if (_followUp is null)
            _followUp = this.RegisterGrainTimer(RunFollowUp, TimeSpan.Zero, Timeout.InfiniteTimeSpan); // only machines that open requests hold one
        else
            _followUp.Change(TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    private async Task RunFollowUp(CancellationToken cancellation)
    {
        if (_retired) return;
        await WriteOpenedRequests();
        if (!_followUpDue) return;
        _followUpDue = false;
        await Expiry.SyncReminder();
        await SyncPendingListing();
    }

    /// <summary>Writes the requests opened since the last write (one journal write for all of them), then announces
    /// them. A failed write discards the activation (<see cref="Write{T}"/>): nothing of it is announced.</summary>
    private async Task WriteOpenedRequests()
    {
        if (_unwritten.Count == 0 || _discarded)
            return;
        if (_dirty && _model is not null)
            await WriteChanges(_model); // else another call's write since then holds them
        foreach (var opened in _unwritten)
        {
            Closed(opened.Withdrawn, LabelRequestOutcome.Withdrawn);
            var stillOpen = state.State.Pending.ContainsKey(opened.Request.ClipId) ? opened.Request : null; // not labelled or dropped meanwhile
            Events.Publish(MachineId, opened.Verdict, opened.Request.DecisionThreshold!.Value, opened.Request.AudioReference, stillOpen); // never waits or throws
        }
        _unwritten.Clear();
        NoteListingDue();
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _deactivating = true; // no reminder registration from its flush ticks: it is decided below, once
        if (reason.ReasonCode == DeactivationReasonCode.ShuttingDown)
            _alerts.Quiet(); // the shards are going too; what waits is in the stored list
        await RunFollowUp(cancellationToken); // one still due when the machine goes idle
        await FlushTick(cancellationToken);
        // Unconfirmed alerts sent once more (not as the silo shuts down), so the shard holds them and writes them on its
        // own; confirmations meanwhile leave the stored list.
        if (!_retired && await _alerts.HandOffAsync(AlertHandOffWait))
            await _history.Flush(cancellationToken);
        AsdMetrics.Forget(MachineId);
        if (_events is not null)
            await _events.DrainAsync();
        // After the write: a failed one threw above, and nothing is handed over. Not as the silo shuts down: its resident
        // machines (up to 100,000) would each make a call in the shutdown's time, to shards that are often going too.
        if (reason.ReasonCode != DeactivationReasonCode.ShuttingDown)
        {
            await TellAsleep(cancellationToken);
            // Stored alerts still unconfirmed wake the machine later; none: the reminder goes. Last, and bounded by the
            // deactivation's time. Not as the silo shuts down (a reminder write per resident machine in the shutdown's
            // time); one left over removes itself at a later wake.
            if (!_retired)
            {
                try
                {
                    await _alertWake.OnLeaving(_history.UnindexedAlerts.Count > 0).WaitAsync(cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    logger.LogWarning("machine {Machine}: its alert-resend reminder was not settled within the deactivation's time; the stored alerts are sent at its next activation", MachineId);
                }
            }
        }
    }

    public async Task<MachineStatus> Configure(MachineSettings settings)
    {
        RequireValidId();
        var config = settings.ToConfig(MachineId);
        var reconfigured = _model?.WithConfig(config);
        await Persist(s => s.Settings = settings, reconfigured);
        _model = reconfigured ?? _model;
        await ListInRegistry(); // after the write: listed only once it exists
        return Status();
    }

    public Task<string?> GetEnrolledEmbedder()
        => Task.FromResult(_model is null ? null : MachineStatusMapping.EnrolledEmbedder(state.State).ToName());

    public Task<MachineStatus> Enroll(EnrollmentRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.KeepLabels)
            throw new ArgumentException($"machine {MachineId}: keepLabels carries the labelled clips' audio that the silos keep; enroll through a silo's HTTP API (the silo embeds them again)");
        return EnrollCarrying(request, carry: null);
    }

    public Task<MachineStatus> Enroll(EnrollmentRequest request, LabelCarry carry)
    {
        ArgumentNullException.ThrowIfNull(carry);
        return EnrollCarrying(request, carry);
    }

    private async Task<MachineStatus> EnrollCarrying(EnrollmentRequest request, LabelCarry? carry)
    {
        RequireValidId();
        ArgumentNullException.ThrowIfNull(request);
        if (carry is not null)
        {
            if (carry.Labels is null || carry.Labels.Any(l => l?.Embedding is null || !Enum.IsDefined(l.Label)))
                throw new ArgumentException($"machine {MachineId}: a carried label has no embedding or no label");
            long held = _model is null ? 0 : _model.NormalLabels + _model.AnomalousLabels;
            if (held != carry.LabelsWhenRead)
                throw new LabelCarryRacedException($"machine {MachineId} holds {held} labels, {carry.LabelsWhenRead} when their audio was read: a label came meanwhile; enroll again (nothing changed)");
            if (state.State.Enrollments != carry.EnrollmentsWhenRead)
                throw new LabelCarryRacedException($"machine {MachineId} was enrolled again after its labels' audio was read; enroll again (nothing changed)");
        }
        // Before the feature transform is fitted on the clips, and with the machine named.
        string? tooFew = AsdOrleans.Method.Enrollment.MachineEnrollment.TooFewClips(request.Clips?.Count ?? 0);
        if (tooFew is not null || request.Clips is null) // no clips are too few
            throw new ArgumentException($"machine {MachineId}: {tooFew}");
        if (string.IsNullOrWhiteSpace(request.ModelVersion))
            throw new ArgumentException($"machine {MachineId}: enrollment needs the encoder model version of its embeddings");
        var clips = request.Clips.Select((c, i) => c?.Embedding is { } embedding ? new CoreEnrollmentClip(embedding, c.IsTargetDomain)
            : throw new ArgumentException($"machine {MachineId}: enrollment clip {i} {(c is null ? "is null" : "has no embedding")}")).ToList();
        if (request.Standardize && request.Whiten)
            throw new ArgumentException($"machine {MachineId}: enrollment can standardise or whiten its features, not both");
        var embedder = EmbedderNames.FromFeatureTransform(request.Standardize, request.Whiten);
        // Raw training-free features enrolled without their transform would enroll the machine on the model embedder,
        // and every clip after that would be refused (or embedded by another embedder than the references).
        if (EmbedderNames.TrainingFreeOf(request.ModelVersion) is { } named && named != embedder)
            throw new ArgumentException($"machine {MachineId}: model version '{request.ModelVersion}' names {named.ToName()} features, which enroll with "
                + (named == EmbedderKind.Spectral ? "whiten: true" : "standardize: true") + (embedder == EmbedderKind.Model ? "" : $", not as {embedder.ToName()} ones"));
        if (state.State.Settings.Embedder is { } setting && EmbedderNames.Parse(setting) is var set && set != embedder)
            throw new ArgumentException($"machine {MachineId} is set to the {set.ToName()} embedder, but these are {embedder.ToName()} embeddings"
                + (embedder == EmbedderKind.Model ? "" : $" ({(request.Whiten ? "to whiten" : "to standardise")})"));
        // Raw features: the transform is fitted on these clips, as the harness fits it on a machine's training clips.
        IFeatureTransform? featureTransform = null;
        MachineModel model;
        try
        {
            if (request.Standardize || request.Whiten)
                (featureTransform, clips) = FitFeatureTransform(clips, request.Whiten);
            model = MachineModel.Enroll(state.State.Settings.ToConfig(MachineId), clips, request.ModelVersion);
        }
        catch (UnvaryingTrainingException e)
        {
            throw new ArgumentException($"machine {MachineId}: {e.Message}");
        }
        long carried = 0, notCarried = 0;
        if (carry is not null)
        {
            ApplyCarriedLabels(model, featureTransform, carry.Labels);
            carried = carry.Labels.Count;
            notCarried = Math.Max(0, carry.LabelsWhenRead - carried);
        }
        var dropped = state.State.Pending.Keys.ToList();
        var enrolledAt = DateTimeOffset.UtcNow;
        // Without a carry the machine was changed or repaired and its labels are discarded: their kept audio goes before
        // the write, so a crash between the two never leaves the old machine's labelled audio for a later carry to take as
        // the new one's (a failed write costs only audio the operator was discarding).
        if (carry is null) Expiry.ForgetLabelledClips();
        await Persist(s =>
        {
            s.Standardizer = featureTransform?.ToBytes();
            s.ForgetHistory();
            s.CarriedLabels = carried;
            s.LabelsNotCarried = notCarried;
            s.Enrollments++;
            // A labeller still answering a withdrawn request hears 410 (closed), not 400 (never asked).
            foreach (var clipId in dropped) s.ClosedUnanswered(clipId, enrolledAt, LabelRequestOutcome.Withdrawn);
        }, model);
        Closed(dropped, LabelRequestOutcome.Withdrawn);
        // Without a carry the machine was changed or repaired: its normal examples are of the machine before it.
        // A carry (a new embedder on the same machine) keeps them and the labelled audio, which serves the next carry too.
        if (carry is null) Expiry.ForgetNormalExamples();
        await Expiry.SyncReminder();
        _model = model;
        _featureTransform = featureTransform;
        UpdateGauges(); // a new model: nothing pending, nothing spent
        await ListInRegistry();
        await SyncPendingListing(); // a re-enrollment dropped every request
        logger.LogInformation("machine {Machine} enrolled from {Clips} clips, model {Version}; {Carried} labels carried, {NotCarried} not", MachineId, clips.Count, request.ModelVersion, carried, notCarried);
        return Status();
    }

    /// <summary>Applies carried labels to a new model as labels are applied, each scored against the sets as they stand
    /// (the score a labelled normal brings to M); raw embeddings go through the enrollment's feature transform first.
    /// Bad values throw before anything is stored.</summary>
    private void ApplyCarriedLabels(MachineModel model, IFeatureTransform? featureTransform, IReadOnlyList<CarriedLabel> labels)
    {
        foreach (var label in labels)
        {
            if (!label.Embedding.All(float.IsFinite))
                throw new ArgumentException($"machine {MachineId}: carried clip '{label.ClipId}' has a value that is not a finite number");
            if (featureTransform is not null && label.Embedding.Length != featureTransform.Dimension)
                throw new ArgumentException($"machine {MachineId}: carried clip '{label.ClipId}' has {label.Embedding.Length} values, the enrollment clips {featureTransform.Dimension}");
            var embedding = featureTransform?.Transform(label.Embedding) ?? label.Embedding;
            model.ApplyLabel(embedding, model.Score(embedding), label.Label == ClipLabelValue.Anomalous ? ClipLabel.Anomalous : ClipLabel.Normal);
        }
    }

    public async Task<MachineRetirement> Retire()
    {
        RequireValidId();
        var shard = MachineRegistryShards.For(GrainFactory, MachineId);
        // An id with nothing stored may still be listed (a retirement that stopped after the storage): finish that one.
        if (IsUnknown && !await shard.Contains(MachineId))
            throw new MachineNotFoundException(MachineId);
        RequireNotDiscarded();
        var retirement = new MachineRetirement(MachineId, _model?.NormalLabels ?? 0, _model?.AnomalousLabels ?? 0, _model?.ClipsSeen ?? 0, state.State.Pending.Count);
        var withdrawn = state.State.Pending.Keys.ToList();
        if (_registryListing is { } listing)
            await listing; // an activation's own listing, still on its way, must not land after the unlisting
        // Unlisted first, so reads say 404 at once; its audio before its state, so a retirement that stops half-way leaves
        // a stored machine to retire again, never a new machine of this id that finds the old one's labelled audio.
        await shard.Unregister([MachineId]);
        _retired = true; // nothing of this activation is written again: the next call reloads what storage holds (nothing)
        try
        {
            Expiry.ForgetMachine();
            await _history.ClearAsync();
            await _alertWake.Forget();
            if (journal.RecordExists) await journal.ClearStateAsync();
            state.State.Pending.Clear();
            await Expiry.SyncReminder();
            if (state.RecordExists) await state.ClearStateAsync();
        }
        catch
        {
            DeactivateOnIdle(); // half retired: the next call (a retry) reloads what storage still holds
            throw;
        }
        _model = null;
        _featureTransform = null;
        _dirty = false;
        _unwritten.Clear();
        _listedInRegistry = false;
        _listedAsPending = null;
        AsdMetrics.Forget(MachineId);
        _claims.Forget(withdrawn);
        Events.PublishClosed(MachineId, withdrawn, LabelRequestOutcome.Withdrawn, null); // labellers' queues drop them
        DeactivateOnIdle();
        logger.LogInformation("machine {Machine} retired: {Normal} normal and {Anomalous} anomalous labels, {Clips} clips, {Withdrawn} open requests withdrawn",
            MachineId, retirement.NormalLabels, retirement.AnomalousLabels, retirement.ClipsSeen, retirement.WithdrawnLabelRequests);
        return retirement;
    }

    /// <summary>Set by <see cref="Retire"/>: this activation writes nothing more and refuses changes until it is gone.</summary>
    private bool _retired;

    public Task<ClipVerdict?> EarlierVerdict(string clipId, uint audioFingerprint)
    {
        RequireValidId();
        RequireEnrolled();
        RequireValidClipId(clipId);
        return Task.FromResult(RepeatOf(clipId, audioFingerprint));
    }

    public Task<ClipVerdict?> EarlierVerdict(string clipId) => EarlierVerdict(clipId, ClipAudioFingerprint.Unknown);

    /// <summary>The first verdict of one of the machine's recent clips, answered to a retry of it; null for any other id;
    /// <see cref="ClipIdReusedException"/> when the recent clip's audio had another fingerprint (an unknown one on
    /// either side is taken as a retry, as before fingerprints).</summary>
    private ClipVerdict? RepeatOf(string clipId, uint audioFingerprint)
    {
        if (!state.State.RecentClips.TryGet(clipId, out var earlier, out uint scoredFingerprint))
            return null;
        if (ClipAudioFingerprint.Differ(scoredFingerprint, audioFingerprint))
            throw ClipIdReusedException.For(MachineId, clipId, earlier.ClipIndex);
        return earlier.Repeated(clipId);
    }

    public async Task<ClipVerdict> ProcessClip(ClipSubmission clip)
    {
        RequireValidId();
        RequireNotDiscarded(); // never written: Orleans reroutes calls queued here, this makes it certain
        ArgumentNullException.ThrowIfNull(clip);
        var model = RequireEnrolled();
        RequireValidClipId(clip.ClipId);
        RepairRegistryListing();
        if (RepeatOf(clip.ClipId, clip.AudioFingerprint) is { } repeat) // a retry of a recent clip: same answer, counted once
            return repeat;
        if (state.State.Pending.ContainsKey(clip.ClipId) || state.State.AnsweredClips.Contains(clip.ClipId) || state.State.ExpiredClips.Contains(clip.ClipId))
            throw new ArgumentException($"machine {MachineId}: clip id '{clip.ClipId}' was already used");
        if (clip.Embedding is null)
            throw new ArgumentException("the clip has no embedding");
        // Pending requests keep the standardised embedding: the one the label is applied to.
        var embedding = Transformed(AsEnrolled(clip, model));

        var outcome = model.Process(embedding); // validates the embedding before changing anything
        string? reason = outcome.QueryReason.NameIfAsked();
        var verdict = new ClipVerdict(clip.ClipId, outcome.Score, outcome.Anomalous, outcome.LabelRequested, outcome.ClipIndex, QueryReason: reason);
        state.State.RecentClips.Remember(verdict.ClipId, new RecentVerdict(verdict.Score, verdict.ClipIndex, verdict.Anomalous, outcome.QueryReason), clip.AudioFingerprint);
        journal.State.AddVerdict(verdict, clip.AudioFingerprint);
        _dirty = true;
        bool writeThrough = WriteThroughDue(); // a silo leaves: a second activation must not cost an acknowledged clip
        if (outcome.LabelRequested)
        {
            RequireNotDiscarded(); // a request from an activation whose write failed would never be written
            var request = new PendingLabel
            {
                ClipId = clip.ClipId, Embedding = ReferenceEquals(embedding, clip.Embedding) ? (float[])embedding.Clone() : embedding, Score = outcome.Score,
                RequestedAt = DateTimeOffset.UtcNow, AudioReference = clip.AudioReference, QueryReason = reason,
                DecisionThreshold = outcome.DecisionThreshold, AudioFingerprint = clip.AudioFingerprint,
            };
            state.State.Pending[clip.ClipId] = request;
            journal.State.NewPending.Add(request);
            var withdrawn = WithdrawBeyondLimit(request.RequestedAt);
            _unwritten.Add(new UnwrittenRequest(verdict, request, withdrawn));
            ScheduleFollowUp(); // written on a turn of its own right after this call, then offered to labellers
            if (writeThrough)
                await WriteOpenedRequests(); // here instead, then offered; the follow-up keeps the listing and reminder
        }
        else
        {
            if (writeThrough)
                await FlushIfDirty(CancellationToken.None); // before anything is told of the verdict
            else
                _flushTimer.Arm(); // written within a flush period; a request's follow-up writes at once
            Events.Publish(MachineId, verdict, outcome.DecisionThreshold, clip.AudioReference, null); // never waits or throws
        }
        MachineActivity.OnClip(_history, _alerts, MachineId, verdict, outcome.DecisionThreshold, state.State.Pending.Count, model, clip.AudioReference); // metrics, score history, alert index
        if (writeThrough)
            await _history.Flush(CancellationToken.None);
        return verdict;
    }

    /// <summary>Writes what this activation holds unwritten: the requests it opened, its changes, its score history.</summary>
    public async Task WriteNow()
    {
        await WriteOpenedRequests();
        await FlushTick(CancellationToken.None);
    }

    public void WriteSoon()
    {
        if (_dirty || _unwritten.Count > 0)
            _flushTimer.FireNow();
    }

    /// <summary>
    /// While a silo leaves, this activation may be a second one of the machine, its first still live on another silo
    /// (<see cref="WriteThroughWindow"/>). Rewriting the machine's records as read moves their versions, so every later
    /// write of the first fails its version check, on a call that then fails and is retried. Without it, a first write
    /// here of the full state (expiry, a full journal) would succeed, and clips the first activation then wrote to the
    /// journal, acknowledged, would be dropped at the next load as a journal of an older generation. A failed rewrite
    /// fails this activation: the first one wrote since the read, and the next call reads again.
    /// </summary>
    private async Task FenceEarlierActivation()
    {
        try
        {
            await state.WriteStateAsync();
            await journal.WriteStateAsync();
            if (scoreHistoryHead.RecordExists)
                await scoreHistoryHead.WriteStateAsync();
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "machine {Machine}: another activation wrote its state while this one started (a silo leaves); this one reads again", MachineId);
            throw;
        }
    }

    /// <summary>Drops the oldest open requests beyond the limit (as expired), journaled; their clip ids.</summary>
    private List<string> WithdrawBeyondLimit(DateTimeOffset now)
    {
        var beyond = LabelRequestExpiry.OverLimit(state.State, Expiry.MaxPending);
        Withdraw(beyond, now);
        return beyond.Select(p => p.ClipId).ToList();
    }

    /// <summary>Closes open requests unanswered (into the expired memory: a later label gets 410), journaled.</summary>
    private void Withdraw(IReadOnlyList<PendingLabel> requests, DateTimeOffset now, bool declined = false, string? labeller = null)
    {
        LabelRequestExpiry.CloseUnanswered(state.State, requests, now, WithdrawnRequest.OutcomeOf(declined));
        foreach (var request in requests) state.State.RememberCloser(request.ClipId, labeller);
        journal.State.Withdrawn.AddRange(requests.Select(p => new WithdrawnRequest(p.ClipId, now, declined, labeller)));
    }

    /// <summary>After the write that closed these requests: their stored audio goes, and labellers' queues are told.
    /// After, not before: a crash in between costs orphaned files, never a request without audio.</summary>
    private void Closed(IReadOnlyCollection<string> clipIds, LabelRequestOutcome outcome, string? by = null, PendingLabel? answered = null)
    {
        // An answered one's audio may stay (labelled, or a normal example) if the stored file is the request's own.
        if (answered is not null) Expiry.RemoveAnsweredAudio(answered, outcome);
        else Expiry.RemoveAudio(clipIds, outcome);
        Announce(clipIds, outcome, by);
    }

    /// <summary>Labellers are told that these requests closed, and the score history and alert index mark how.</summary>
    private void Announce(IReadOnlyCollection<string> clipIds, LabelRequestOutcome outcome, string? by = null)
    {
        _claims.Forget(clipIds);
        Events.PublishClosed(MachineId, clipIds, outcome, by);
        foreach (var clipId in clipIds)
            MachineActivity.MarkClosed(_history, _alerts, clipId, outcome, by);
        UpdateGauges(); // expiry and withdrawal close requests outside a clip or a label
    }

    /// <summary>
    /// Label outcomes are written to the state before they are acknowledged, and marked in the score history behind it
    /// (at the next flush tick): a crash in between left requests closed in the state and open in the history, and in the
    /// alert index. Marked now from the state, and sent to the index like any outcome. A failed history read is retried
    /// at the next activation (the counts still differ).
    /// </summary>
    private async Task RestoreLostOutcomes()
    {
        if (!state.RecordExists) return;
        IReadOnlyList<ScorePoint> restored;
        try
        {
            restored = await _history.RestoreLostOutcomesAsync(state.State.RequestsClosed, state.State.ClosureOf);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "machine {Machine}: could not read its score history to restore label outcomes a crash may have lost; trying again at its next activation", MachineId);
            return;
        }
        foreach (var point in restored)
            _alerts.Closed(point.ClipId, point, point.RequestOutcome!.Value, by: point.ClosedBy);
        if (restored.Count > 0)
            logger.LogInformation("machine {Machine}: restored the outcomes of {Count} label requests that its score history lost in a crash, from its state", MachineId, restored.Count);
    }

    /// <summary>This silo's gauges of the machine (pending requests, realised budget), as of its state now.</summary>
    private void UpdateGauges()
    {
        if (_model is not null) AsdMetrics.Update(MachineId, state.State.Pending.Count, _model);
    }

    private void Remember(ClipVerdict verdict, uint audioFingerprint)
        => state.State.RecentClips.Remember(verdict.ClipId, RecentVerdict.Of(verdict), audioFingerprint);

    public async Task<LabelReceipt> SubmitLabel(string clipId, ClipLabelValue label, string? labeller = null)
    {
        RequireValidId();
        AsdOrleans.Method.Vocabulary.Identifiers.RequireValidLabellerName(labeller); // bad input first, whatever the machine's state
        var model = RequireEnrolled();
        if (!Enum.IsDefined(label))
            throw new ArgumentException($"label {(int)label} is neither normal nor anomalous");
        if (state.State.AnsweredClips.TryGet(clipId ?? "", out var earlier))
        {
            if (earlier != label)
                throw new LabelConflictException($"machine {MachineId}: clip '{clipId}' was already labelled {earlier.ToString().ToLowerInvariant()}");
            return Receipt(clipId!, label, alreadyApplied: true);
        }
        await Expiry.ExpireDue();
        LabelRequestExpiry.ThrowIfExpired(state.State, MachineId, clipId);
        var pending = RequirePending(clipId);

        RequireNotDiscarded();
        model.ApplyLabel(pending.Embedding, pending.Score, label == ClipLabelValue.Anomalous ? ClipLabel.Anomalous : ClipLabel.Normal);
        state.State.Answered(clipId, label, labeller);
        journal.State.NewPending.RemoveAll(p => p.ClipId == clipId); // opened since the base: the answer replaces it
        journal.State.Answered.Add(new AnsweredRequest(clipId, label, labeller));
        _dirty = true;
        await WriteChanges(model); // a journal when the label merged into a capped set; a full write when a set grew
        Closed([clipId], ScorePoint.OutcomeOf(label), labeller, answered: pending); // the audio has served
        await Expiry.SyncReminder();
        await SyncPendingListing();
        AsdMetrics.OnLabel(MachineId, label, state.State.Pending.Count, model);
        return Receipt(clipId, label, alreadyApplied: false);
    }

    public async Task<DeclineReceipt> DeclineLabelRequest(string clipId, string? labeller = null)
    {
        RequireValidId();
        AsdOrleans.Method.Vocabulary.Identifiers.RequireValidLabellerName(labeller);
        RequireEnrolled();
        if (state.State.AnsweredClips.TryGet(clipId ?? "", out var earlier))
            throw new LabelConflictException($"machine {MachineId}: clip '{clipId}' was already labelled {earlier.ToString().ToLowerInvariant()}; a labelled clip cannot be declined");
        await Expiry.ExpireDue();
        if (clipId is not null && state.State.ExpiredClips.TryGet(clipId, out _))
            return new DeclineReceipt(clipId, AlreadyClosed: true);
        var pending = RequirePending(clipId);

        RequireNotDiscarded();
        // Withdrawn as a request beyond the open limit is: journaled, then closed for every labeller with its audio.
        Withdraw([pending], DateTimeOffset.UtcNow, declined: true, labeller);
        _dirty = true;
        await WriteChanges(_model!);
        Closed([clipId], LabelRequestOutcome.Declined, labeller);
        await Expiry.SyncReminder();
        await SyncPendingListing();
        AsdMetrics.OnDecline(MachineId, state.State.Pending.Count, _model!);
        return new DeclineReceipt(clipId, AlreadyClosed: false);
    }

    public async Task<LabelRequestClaim> ClaimLabelRequest(string clipId, string labeller, TimeSpan? lease = null)
    {
        RequireValidId();
        RequireClaimant(labeller);
        var length = LabelRequestClaims.LeaseOf(lease);
        RequireEnrolled();
        if (state.State.AnsweredClips.TryGet(clipId ?? "", out var earlier))
            throw new LabelConflictException($"machine {MachineId}: clip '{clipId}' was already labelled {earlier.ToString().ToLowerInvariant()}");
        await Expiry.ExpireDue();
        LabelRequestExpiry.ThrowIfExpired(state.State, MachineId, clipId);
        RequirePending(clipId);
        var (claim, outcome) = _claims.Take(MachineId, clipId, labeller, length, DateTimeOffset.UtcNow);
        if (outcome != LabelRequestClaims.Outcome.Refused) Events.PublishClaim(claim); // a renewal moves the time others see
        if (outcome != LabelRequestClaims.Outcome.Renewed) AsdMetrics.OnClaim(MachineId, taken: outcome == LabelRequestClaims.Outcome.Taken);
        return claim;
    }

    public Task<LabelRequestClaim> ReleaseLabelRequest(string clipId, string labeller)
    {
        RequireValidId();
        RequireClaimant(labeller);
        RequireValidClipId(clipId);
        RequireEnrolled(); // a machine that does not exist has no claim to give up: 409, as its other calls answer
        var (claim, changed) = _claims.Release(MachineId, clipId, labeller, DateTimeOffset.UtcNow);
        if (changed) Events.PublishClaim(claim);
        return Task.FromResult(claim);
    }

    /// <summary>A claim says who listens, so it needs a name (unlike an answer, where the name is optional).</summary>
    private static void RequireClaimant(string labeller)
    {
        if (string.IsNullOrEmpty(labeller))
            throw new ArgumentException("a claim needs the labeller's name (the X-Labeller header, or --labeller)");
        AsdOrleans.Method.Vocabulary.Identifiers.RequireValidLabellerName(labeller);
    }

    // IScoreHistoryGrain: the machine records its own clips and labels; these serve readers and tools that fill a history.
    public Task Record(ScorePoint point)
    {
        _history.Record(point);
        _alerts.Send(point);
        return Task.CompletedTask;
    }

    public Task RecordLabel(string clipId, ClipLabelValue label)
    {
        MachineActivity.MarkClosed(_history, _alerts, clipId, ScorePoint.OutcomeOf(label));
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<ScorePoint>> Get(DateTimeOffset? since, int limit) => _history.Get(since, limit);

    public async Task<IReadOnlyList<LabelRequest>> GetPendingLabelRequests(int limit)
    {
        if (limit < 1) throw new ArgumentException($"limit must be at least 1, got {limit}");
        await WriteOpenedRequests(); // requests of calls that returned before this one are listed, written first
        await Expiry.ExpireDue();
        var now = DateTimeOffset.UtcNow; // one instant for every claim shown
        IReadOnlyList<LabelRequest> requests = state.State.Pending.Values.Where(p => !IsUnwritten(p.ClipId)) // written ones only
            .OrderBy(p => p.RequestedAt).ThenBy(p => p.ClipId, StringComparer.Ordinal).Take(limit)
            .Select(p => _claims.Show(p.ToRequest(MachineId), now)).ToList();
        await SyncPendingListing(); // a listing that asked a machine with none (expired meanwhile, or a stale entry) drops it
        return requests;
    }

    public async Task<MachineStatus> GetStatus()
    {
        RequireValidId();
        await Expiry.ExpireDue();
        return Status();
    }

    /// <summary>
    /// Applies <paramref name="change"/> and writes the full state (a new base: the journal's changes are in it), then
    /// the journal, emptied, with the new generation. <paramref name="model"/> is the model to store, by default the
    /// current one. If the base's write fails, this activation is discarded: it writes nothing more (not even its
    /// deactivation flush) and deactivates, so the next call reloads what storage holds (which, after a timed-out
    /// write that landed after all, includes the change) instead of running on, or later persisting, in-memory
    /// changes nobody acknowledged.
    /// </summary>
    /// <remarks>
    /// The journal is rewritten so that its ETag moves: a stale activation of this machine elsewhere (a duplicate
    /// activation, two silos on one SQLite file) still holds the old one, and its next journal write must fail instead
    /// of being acknowledged and then dropped at load as a journal of an older generation. Base first: the other order
    /// would lose the journal's acknowledged entries if the base's write then failed. When only the journal's write
    /// fails, the base holds the change, so the call succeeds; the activation is discarded all the same (its journal
    /// ETag is unknown), and the stored journal, of the older generation, is dropped at the next load (its entries are in
    /// the base, unless a stale activation wrote it in between: a window of one write, logged there and here).
    /// </remarks>
    private async Task Persist(Action<MachineGrainState> change, MachineModel? model = null)
    {
        RequireNotDiscarded();
        change(state.State);
        if ((model ?? _model) is { } current)
            state.State.Model = current.Serialize();
        state.State.Generation++;
        await Write(state);
        journal.State.Clear(state.State.Generation);
        ForgetBaseBytes();
        _dirty = false;
        try
        {
            await journal.WriteStateAsync();
        }
        catch (Exception e)
        {
            _discarded = true;
            logger.LogWarning(e, "machine {Machine}: its state (generation {Generation}) was written, but emptying its journal failed " +
                "(if another activation wrote the journal meanwhile, what it wrote is lost); the activation is discarded and reloads from storage",
                MachineId, state.State.Generation);
            DeactivateOnIdle();
        }
    }

    /// <summary>Keeps only the digest of the base's model bytes: every full write serialises the model afresh.</summary>
    private void ForgetBaseBytes()
    {
        if (state.State.Model is not { } bytes) return;
        _baseDigest = ChunkDigest.Of(bytes);
        state.State.Model = null;
    }

    /// <summary>
    /// Writes what changed since the base: the journal (the model as a patch of the base's bytes, the requests and
    /// verdicts since), or the full state when the journal would be large or the model's length changed.
    /// </summary>
    private async Task WriteChanges(MachineModel model)
    {
        RequireNotDiscarded();
        var entries = journal.State;
        var (patch, modelLength) = entries.NewVerdicts.Count < JournalLimits.Verdicts && entries.NewPending.Count < JournalLimits.Requests
            && entries.Withdrawn.Count < JournalLimits.Requests && entries.Answered.Count < JournalLimits.Requests
            ? PatchOfBase(model)
            : (null, 0);
        if (patch is null)
        {
            await Persist(_ => { }, model);
            return;
        }
        entries.Generation = state.State.Generation;
        entries.ModelLength = modelLength;
        entries.ModelPatch = patch;
        await Write(journal);
        _dirty = false;
    }

    /// <summary>The model's bytes as patches of the base's, with their length; no patch when the length changed or the
    /// patches would exceed <see cref="JournalLimits.ModelFraction"/> of the model (then a full write is due).</summary>
    private (List<BytePatch>? Patch, int ModelLength) PatchOfBase(MachineModel model)
    {
        var current = model.SerializeToScratch(); // compared, not kept: the patches copy what changed
        if (_baseDigest is not { } @base || @base.Length != current.Length)
            return (null, 0);
        var patch = @base.Diff(current);
        return patch.Sum(p => p.Bytes.Length) > current.Length / JournalLimits.ModelFraction ? (null, 0) : (patch, current.Length);
    }

    /// <summary>The model's bytes: the base's, with the journal of the same generation applied; its requests and
    /// verdicts rejoin the state in memory (the next full write then holds them).</summary>
    private byte[] ReplayJournal(byte[] @base)
    {
        var entries = journal.State;
        if (entries.Generation != state.State.Generation || entries.IsEmpty)
        {
            if (!entries.IsEmpty) // since the base's write empties the journal, only after a failed second write or a stale activation's
                logger.LogWarning("machine {Machine}: dropping a journal of generation {JournalGeneration} ({Requests} requests, {Answered} labels, " +
                    "{Verdicts} verdicts) that does not apply to the stored state's generation {Generation}", MachineId, entries.Generation,
                    entries.NewPending.Count, entries.Answered.Count, entries.NewVerdicts.Count, state.State.Generation);
            entries.Clear(state.State.Generation);
            return @base;
        }
        if (entries.ModelPatch.Count > 0 && entries.ModelLength != @base.Length)
            throw new InvalidDataException($"machine {MachineId}: its journal patches a model of {entries.ModelLength} bytes, but the stored model has {@base.Length}");
        foreach (var request in entries.NewPending)
            state.State.Pending[request.ClipId] = request;
        foreach (var withdrawn in entries.Withdrawn)
            if (state.State.Pending.TryGetValue(withdrawn.ClipId, out var request))
            {
                LabelRequestExpiry.CloseUnanswered(state.State, [request], withdrawn.At, withdrawn.Outcome);
                state.State.RememberCloser(withdrawn.ClipId, withdrawn.Labeller);
            }
        foreach (var answered in entries.Answered)
            state.State.Answered(answered.ClipId, answered.Label, answered.Labeller);
        for (int i = 0; i < entries.NewVerdicts.Count; i++)
            Remember(entries.NewVerdicts[i], entries.FingerprintOf(i));
        return BytePatches.Apply(@base, entries.ModelPatch);
    }

    private async Task Write<T>(IPersistentState<T> target)
    {
        try
        {
            await target.WriteStateAsync();
        }
        catch (Exception e)
        {
            _discarded = true;
            logger.LogWarning(e, "machine {Machine}: writing its state failed; the activation is discarded and reloads from storage", MachineId);
            DeactivateOnIdle();
            throw;
        }
    }

    private void RequireNotDiscarded()
    {
        if (_retired)
            throw new MachineStateUnavailableException($"machine {MachineId} was just retired; a retry finds it unknown");
        if (_discarded)
            throw new MachineStateUnavailableException($"machine {MachineId} is reloading its state after a failed write; retry");
    }

    /// <summary>The flush timer's tick: the machine's unwritten changes, then its score history (written even when the
    /// machine's write failed: its points are verdicts callers already have), and a resend of alerts the index has not
    /// confirmed.</summary>
    private async Task FlushTick(CancellationToken cancellation)
    {
        if (_retired) return;
        try
        {
            await FlushIfDirty(cancellation);
        }
        finally
        {
            await _alerts.ResendAsync(); // never throws: the history's write below holds clips callers have verdicts for
            await _history.Flush(cancellation);
            if (!_deactivating)
                _alertWake.AfterFlush(_history.UnindexedAlerts.Count > 0 && _alerts.LongestWait >= AlertResendReminder.RegisterAfter);
        }
    }

    /// <summary>Set as the activation deactivates: its flush ticks register no reminder (OnDeactivateAsync decides).</summary>
    private bool _deactivating;

    /// <summary>How long a deactivating machine waits for its last resend of unconfirmed alerts.</summary>
    private static readonly TimeSpan AlertHandOffWait = TimeSpan.FromSeconds(2);

    private async Task FlushIfDirty(CancellationToken cancellation)
    {
        if (!_dirty || _model is null || _discarded)
            return;
        await WriteChanges(_model);
    }

    /// <summary>The transform fitted on the raw clips, and the clips transformed (whitened clips with their held-out distances).</summary>
    private (IFeatureTransform Transform, List<CoreEnrollmentClip> Clips) FitFeatureTransform(IReadOnlyList<CoreEnrollmentClip> clips, bool whiten)
    {
        if (clips.Any(c => c.Embedding.Length != clips[0].Embedding.Length))
            throw new ArgumentException($"machine {MachineId}: enrollment clips differ in dimension");
        if (clips.Any(c => !c.Embedding.All(float.IsFinite)))
            throw new ArgumentException($"machine {MachineId}: an enrollment clip has a value that is not a finite number");
        if (whiten)
            return HeldOutWhitening.Fit(clips);
        var standardizer = FeatureStandardizer.Fit(clips.Select(c => c.Embedding).ToList());
        return (standardizer, clips.Select(c => c with { Embedding = standardizer.Transform(c.Embedding) }).ToList());
    }

    /// <summary>The clip's values as the machine was enrolled on them: as they are from the enrolled embedder; the prefix
    /// from a later version of a whitened machine's embedder that appends values (<see cref="AppendedFeatures"/>).</summary>
    private float[] AsEnrolled(ClipSubmission clip, MachineModel model)
    {
        if (clip.ModelVersion == model.ModelVersion) return clip.Embedding;
        if (_featureTransform is FeatureWhitener whitener && AppendedFeatures.Extends(clip.ModelVersion, model.ModelVersion)
            && clip.Embedding.Length > whitener.Dimension)
            return clip.Embedding[..whitener.Dimension];
        throw new ArgumentException($"machine {MachineId} holds embeddings of model {model.ModelVersion}, but this clip was embedded by {clip.ModelVersion}; re-enroll the machine with the new model");
    }

    private float[] Transformed(float[] embedding)
    {
        if (_featureTransform is null) return embedding;
        if (embedding.Length != _featureTransform.Dimension)
            throw new ArgumentException($"machine {MachineId}: the clip has {embedding.Length} values, the machine's embeddings {_featureTransform.Dimension}");
        return _featureTransform.Transform(embedding);
    }

    /// <summary>Neither configured nor enrolled: nothing is stored for this id (a made-up id, or a typo).</summary>
    private bool IsUnknown => _model is null && !state.RecordExists;

    /// <summary>How long an activation for an id nobody configured or enrolled stays after its last call.</summary>
    public static readonly TimeSpan UnknownIdLinger = TimeSpan.FromSeconds(1);
    private IGrainTimer? _leaveIfUnknown;

    /// <summary>
    /// A machine call for an id nobody configured or enrolled is refused (or, for a first Configure or Enroll, creates
    /// it); if the id is still unknown when the call ends, the activation goes <see cref="UnknownIdLinger"/> after its
    /// last call instead of after the idle age, so calls with made-up ids hold at most about a second's worth of grains
    /// (docs/decisions.md, "unknown machine ids", stop 53). Not at once: calls queued behind this one would be forwarded
    /// to a new activation that left at once too, and Orleans rejects a call forwarded twice. Nothing is written for the
    /// id: its activation only read, and its deactivation has nothing to flush. Score-history calls (tools that fill a
    /// history) are left as they were.
    /// </summary>
    async Task IIncomingGrainCallFilter.Invoke(IIncomingGrainCallContext context)
    {
        if (!_toldAwake && context.Request.GetInterfaceType() == typeof(IMachineGrain))
            RetryTellAwake();
        try
        {
            await context.Invoke();
        }
        finally
        {
            if (IsUnknown && context.Request.GetInterfaceType() == typeof(IMachineGrain))
                LeaveSoonIfStillUnknown();
        }
    }

    private void LeaveSoonIfStillUnknown()
    {
        if (_leaveIfUnknown is null)
            _leaveIfUnknown = this.RegisterGrainTimer(LeaveIfUnknown, UnknownIdLinger, Timeout.InfiniteTimeSpan);
        else
            _leaveIfUnknown.Change(UnknownIdLinger, Timeout.InfiniteTimeSpan); // from the last call
    }

    private Task LeaveIfUnknown(CancellationToken cancellation)
    {
        if (IsUnknown)
            DeactivateOnIdle();
        return Task.CompletedTask;
    }

    private MachineModel RequireEnrolled()
        => _model ?? throw new InvalidOperationException(IsUnknown
            ? $"machine {MachineId} is not enrolled: nobody configured or enrolled a machine of this id (check it), or enroll it from training clips first"
            : $"machine {MachineId} is not enrolled yet: enroll it from training clips first");

    private void RequireValidId()
    {
        if (!AsdOrleans.Method.Vocabulary.Identifiers.IsValidMachineId(MachineId))
            throw new ArgumentException(AsdOrleans.Method.Vocabulary.Identifiers.InvalidMachineId(MachineId));
    }

    /// <summary>The open request of a clip; a clip the machine did not ask about (or no longer holds) is bad input.</summary>
    private PendingLabel RequirePending([System.Diagnostics.CodeAnalysis.NotNull] string? clipId)
        => clipId is not null && state.State.Pending.TryGetValue(clipId, out var pending)
            ? pending
            : throw new ArgumentException($"machine {MachineId} has no label request for clip '{clipId}'");

    private static void RequireValidClipId(string? clipId)
    {
        if (!AsdOrleans.Method.Vocabulary.Identifiers.IsValidClipId(clipId))
            throw new ArgumentException(AsdOrleans.Method.Vocabulary.Identifiers.InvalidClipId(clipId));
    }

    private LabelReceipt Receipt(string clipId, ClipLabelValue label, bool alreadyApplied)
        => new(clipId, label, alreadyApplied, _model!.ReferenceSet.Count, _model.AnomalySet.Count);

    private MachineStatus Status() => MachineStatusMapping.Describe(MachineId, state.State, _model);
}
