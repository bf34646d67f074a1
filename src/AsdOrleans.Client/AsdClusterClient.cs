using System.Collections.Concurrent;
using AsdOrleans.Abstractions;
using AsdOrleans.Application;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Streams;

namespace AsdOrleans.Client;

/// <summary>
/// A .NET service inside the cluster network (labelling service, plant gateway) talking to the AsdOrleans grains
/// directly through an Orleans gateway: machines, clips, label requests and labels, and live alert / label-request
/// events. Devices and labellers outside the cluster network use the silo's HTTP API instead (see docs/client.md).
/// Bad input is refused by the grains with an <see cref="ArgumentException"/> carrying their message, and changes
/// nothing; a machine that is not enrolled yet gives an <see cref="InvalidOperationException"/>. While the cluster's Redis
/// has lost its data (or is another cluster's), every write (configure, enroll, retire, clips, labels, declines, claims)
/// is refused with a <see cref="ClusterStoreLostException"/> and changes nothing, as the HTTP API answers 503, until an
/// operator restores Redis or accepts the loss (<c>asd cluster accept-store-loss</c>); reads are answered. While Redis
/// would not keep a write through its own crash (its append-only settings changed under a silo that requires them),
/// writes are refused alike with a <see cref="ClusterStoreNotDurableException"/>.
/// </summary>
public sealed class AsdClusterClient : IAsyncDisposable
{
    private readonly IHost? _host;
    private readonly IStreamProvider _streams;
    private readonly ILogger _logger;
    private readonly int _subscriptionBuffer;
    private readonly ConcurrentDictionary<object, Func<ValueTask>> _subscriptions = new();
    private readonly ConnectionStatus _status;
    private int _disposed;

    /// <summary>Wraps an Orleans client the caller hosts (configured with <see cref="AsdClientBuilderExtensions.ConfigureAsdClient"/>);
    /// disposing this object then leaves that client running.</summary>
    public AsdClusterClient(IClusterClient orleans, ILogger<AsdClusterClient>? logger = null, int subscriptionBuffer = 10_000)
        : this(orleans, host: null, logger ?? NullLogger<AsdClusterClient>.Instance, subscriptionBuffer, new ConnectionStatus())
    {
    }

    private AsdClusterClient(IClusterClient orleans, IHost? host, ILogger logger, int subscriptionBuffer, ConnectionStatus status)
    {
        ArgumentNullException.ThrowIfNull(orleans);
        ArgumentOutOfRangeException.ThrowIfLessThan(subscriptionBuffer, 1);
        Orleans = orleans;
        _host = host;
        _logger = logger;
        _subscriptionBuffer = subscriptionBuffer;
        _status = status;
        status.Logger = logger;
        status.Owner = this;
        _streams = orleans.GetStreamProvider(MachineEventStreams.ProviderName);
    }

    /// <summary>The underlying Orleans client, for grain calls this class does not wrap.</summary>
    public IClusterClient Orleans { get; }

    /// <summary>The number of gateways this client is connected to changed (Orleans' event: <c>NumberOfConnectedGateways</c>
    /// 0 is no connection, <c>ConnectionRecovered</c> when one is back: then re-list pending requests, as events
    /// published meanwhile are lost). Raised on an Orleans thread: return quickly. Only for a client made by
    /// <see cref="ConnectAsync"/>; one that wraps the caller's Orleans client raises nothing (use Orleans'
    /// <c>AddGatewayCountChangedHandler</c> there).</summary>
    public event EventHandler<GatewayCountChangedEventArgs>? GatewayCountChanged
    {
        add => _status.GatewayCountChanged += value;
        remove => _status.GatewayCountChanged -= value;
    }

    /// <summary>The client lost its last gateway (Orleans' cluster-connection-lost notice). It keeps trying to
    /// reconnect; calls fail meanwhile. Same conditions as <see cref="GatewayCountChanged"/>.</summary>
    public event EventHandler? ConnectionLost
    {
        add => _status.ConnectionLost += value;
        remove => _status.ConnectionLost -= value;
    }

    /// <summary>Connects to the cluster's gateway and returns once connected.</summary>
    /// <exception cref="ArgumentException">An option is out of range; checked before anything connects.</exception>
    /// <exception cref="InvalidOperationException">No gateway answered.</exception>
    public static async Task<AsdClusterClient> ConnectAsync(AsdClientOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        if (options.LoggerFactory is { } loggerFactory)
            builder.Services.Replace(ServiceDescriptor.Singleton(loggerFactory)); // an instance: the host does not dispose it
        else
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
        bool infinite = options.ConnectTimeout == Timeout.InfiniteTimeSpan;
        var deadline = infinite ? DateTime.MaxValue : DateTime.UtcNow + options.ConnectTimeout;
        var status = new ConnectionStatus();
        builder.UseOrleansClient(client => client.ConfigureAsdClient(options)
            .AddGatewayCountChangedHandler((_, e) => status.OnGatewayCountChanged(e))
            .AddClusterConnectionLostHandler((_, _) => status.OnConnectionLost())
            .UseConnectionRetryFilter(async (_, cancellation) =>
        {
            if (DateTime.UtcNow + RetryDelay >= deadline)
                return false;
            await Task.Delay(RetryDelay, cancellation);
            return true;
        }));
        var host = builder.Build();
        bool connected = false;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (!infinite)
                timeout.CancelAfter(options.ConnectTimeout);
            try
            {
                await host.StartAsync(timeout.Token);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                string where = string.IsNullOrWhiteSpace(options.Redis)
                    ? $"the silo gateway on localhost:{options.GatewayPort}"
                    : $"a gateway of cluster '{options.ClusterId}' (service '{options.ServiceId}') listed in Redis";
                string why = e is OperationCanceledException ? $"no answer within {options.ConnectTimeout.TotalSeconds:0.#} s" : e.Message;
                throw new InvalidOperationException($"cannot connect to {where}: {why}", e);
            }
            var client = new AsdClusterClient(host.Services.GetRequiredService<IClusterClient>(), host,
                host.Services.GetRequiredService<ILoggerFactory>().CreateLogger<AsdClusterClient>(), options.SubscriptionBuffer, status);
            connected = true;
            return client;
        }
        finally
        {
            // Every failure, a cancelled connect included, leaves no Orleans client behind.
            if (!connected)
                await StopAndDisposeAsync(host);
        }
    }

    private static async Task StopAndDisposeAsync(IHost host)
    {
        try
        {
            using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await host.StopAsync(stopping.Token);
        }
        catch (Exception)
        {
            // A host that never started, or a gateway that is gone: disposing below is what matters.
        }
        if (host is IAsyncDisposable asyncHost)
            await asyncHost.DisposeAsync();
        else
            host.Dispose();
    }

    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    private MachineUseCases UseCases => _useCases ??= new(Orleans);
    private MachineUseCases? _useCases;

    /// <summary>Ids of all configured or enrolled machines.</summary>
    public Task<IReadOnlyList<string>> ListMachinesAsync(CancellationToken cancellationToken = default) => Call(u => u.ListMachineIds(), cancellationToken);

    /// <summary>One machine's settings, set sizes, counters and budget.</summary>
    public Task<MachineStatus> GetStatusAsync(string machineId, CancellationToken cancellationToken = default) => Call(u => u.GetStatus(machineId), cancellationToken);

    /// <summary>Sets a machine's method settings (creating it if new); the machine lists itself in the registry.</summary>
    public Task<MachineStatus> ConfigureAsync(string machineId, MachineSettings settings, CancellationToken cancellationToken = default)
        => Call(u => u.Configure(machineId, settings), cancellationToken);

    /// <summary>Retires a machine for good: its state, labels, score history, label requests and kept audio go, and its id
    /// is unknown afterwards. <see cref="MachineNotFoundException"/> for an id nobody configured or enrolled.</summary>
    public Task<MachineRetirement> RetireAsync(string machineId, CancellationToken cancellationToken = default)
        => Call(u => u.Retire(machineId), cancellationToken);

    /// <summary>Enrolls a machine from embeddings made by the cluster's encoder model version.</summary>
    public Task<MachineStatus> EnrollAsync(string machineId, EnrollmentRequest request, CancellationToken cancellationToken = default)
        => Call(u => u.Enroll(machineId, request), cancellationToken);

    /// <summary>Enrolls a machine from training WAVs, embedded by the cluster's encoder workers (as the HTTP API's
    /// <c>enrollment/audio</c> does).</summary>
    public Task<MachineStatus> EnrollFromAudioAsync(string machineId, IReadOnlyList<TrainingClip> clips, CancellationToken cancellationToken = default)
        => Call(u => u.EnrollFromAudio(machineId, clips), cancellationToken);

    /// <summary>
    /// Scores one clip: the encoder worker embeds the WAV and hands it to the machine (the HTTP API's ingest path).
    /// The silo keeps no audio for clips pushed this way: pass in <paramref name="audioReference"/> where your
    /// labellers can fetch the clip, and it travels with any label request. Retrying a recent clip id with the same bytes
    /// returns the original verdict; the id with other bytes is a <see cref="ClipIdReusedException"/> (nothing changes).
    /// </summary>
    public Task<ClipVerdict> PushClipAsync(string machineId, string clipId, byte[] wav, string? audioReference = null, CancellationToken cancellationToken = default)
        => Call(u => u.IngestClip(machineId, clipId, wav, audio: null, audioReference), cancellationToken);

    /// <summary>Pending label requests, oldest first: of one machine, or of every machine in the registry.</summary>
    public Task<IReadOnlyList<LabelRequest>> GetPendingLabelRequestsAsync(string? machineId = null, int limit = 100, CancellationToken cancellationToken = default)
        => Call(u => u.PendingLabelRequests(machineId, limit), cancellationToken);

    /// <summary>Answers a label request. Submitting the same label again is harmless (<see cref="LabelReceipt.AlreadyApplied"/>);
    /// a clip the machine did not ask about, or a different label for an answered clip, is an <see cref="ArgumentException"/>;
    /// a request that expired unanswered is a <see cref="LabelRequestExpiredException"/>. The clip's stored audio, if the
    /// silo kept any, is removed once labelled. <paramref name="labeller"/>, when given, is recorded with the answer
    /// (letters, digits, '.', '_', '-', '@'; at most 64).</summary>
    public Task<LabelReceipt> SubmitLabelAsync(string machineId, string clipId, ClipLabelValue label, string? labeller = null, CancellationToken cancellationToken = default)
        => Call(u => u.SubmitLabel(machineId, clipId, label, labeller), cancellationToken);

    /// <summary>Closes a label request without a label, for a labeller who cannot tell (a guess would put the clip in the
    /// wrong set). The query stays spent; a later label for it is a <see cref="LabelRequestExpiredException"/>. Declining
    /// again, or a request that expired, gives <see cref="DeclineReceipt.AlreadyClosed"/>; a labelled clip is a
    /// <see cref="LabelConflictException"/>.</summary>
    public Task<DeclineReceipt> DeclineLabelRequestAsync(string machineId, string clipId, string? labeller = null, CancellationToken cancellationToken = default)
        => Call(u => u.DeclineLabelRequest(machineId, clipId, labeller), cancellationToken);

    /// <summary>Tells other labellers that <paramref name="labeller"/> is listening to a pending clip, for
    /// <paramref name="lease"/> (default 2 minutes; renew by claiming again). When someone else's claim is live, nothing
    /// changes and theirs comes back: check <see cref="LabelRequestClaim.IsHeldBy"/> and pick another clip. A claim is
    /// advice, not a lock: any labeller may still answer the request, and the answer ends the claim.</summary>
    public Task<LabelRequestClaim> ClaimLabelRequestAsync(string machineId, string clipId, string labeller, TimeSpan? lease = null, CancellationToken cancellationToken = default)
        => Call(u => u.ClaimLabelRequest(machineId, clipId, labeller, lease), cancellationToken);

    /// <summary>Ends <paramref name="labeller"/>'s claim on a clip (a skipped clip goes back to the others).</summary>
    public Task<LabelRequestClaim> ReleaseLabelRequestAsync(string machineId, string clipId, string labeller, CancellationToken cancellationToken = default)
        => Call(u => u.ReleaseLabelRequest(machineId, clipId, labeller), cancellationToken);

    /// <summary>Subscribes to claims taken, renewed and released (<see cref="LabelRequestClaim.ClaimedBy"/> null), so a
    /// labelling service can show who is listening to what.</summary>
    public Task<MachineEventSubscription<LabelRequestClaim>> SubscribeToLabelRequestClaimsAsync(string? machineId = null, CancellationToken cancellationToken = default)
        => Subscribe<LabelRequestClaim>(MachineEventStreams.LabelRequestClaimNamespace, machineId, cancellationToken);

    /// <summary>Subscribes to anomaly alerts of every machine, or of <paramref name="machineId"/> only.</summary>
    public Task<MachineEventSubscription<AnomalyAlert>> SubscribeToAlertsAsync(string? machineId = null, CancellationToken cancellationToken = default)
        => Subscribe<AnomalyAlert>(MachineEventStreams.AlertNamespace, machineId, cancellationToken);

    /// <summary>Subscribes to new label requests of every machine, or of <paramref name="machineId"/> only.</summary>
    public Task<MachineEventSubscription<LabelRequestEvent>> SubscribeToLabelRequestsAsync(string? machineId = null, CancellationToken cancellationToken = default)
        => Subscribe<LabelRequestEvent>(MachineEventStreams.LabelRequestNamespace, machineId, cancellationToken);

    /// <summary>Subscribes to label requests as they close (labelled, declined, expired or withdrawn), so a labelling
    /// service can drop them from its own queue at once.</summary>
    public Task<MachineEventSubscription<LabelRequestClosed>> SubscribeToClosedLabelRequestsAsync(string? machineId = null, CancellationToken cancellationToken = default)
        => Subscribe<LabelRequestClosed>(MachineEventStreams.LabelRequestClosedNamespace, machineId, cancellationToken);

    /// <summary>Calls <paramref name="onAlert"/> for each anomaly alert (of one machine, or all) until the returned
    /// handle is disposed. A callback that throws is logged and the event skipped. Callbacks run one at a time on the
    /// subscription's own loop: a slow one delays only this subscription, which ends (logged) once it falls
    /// <see cref="AsdClientOptions.SubscriptionBuffer"/> events behind: the handle's <see cref="CallbackSubscription.Completion"/>
    /// then faults with <see cref="SubscriptionOverflowException"/> (or the stream's error), so the service can
    /// re-list and subscribe again.</summary>
    public Task<CallbackSubscription> OnAlertAsync(Func<AnomalyAlert, Task> onAlert, string? machineId = null, CancellationToken cancellationToken = default)
        => Subscribe(MachineEventStreams.AlertNamespace, machineId, onAlert, cancellationToken);

    /// <summary>Calls <paramref name="onRequest"/> for each new label request (of one machine, or all) until the
    /// returned handle is disposed. A callback that throws is logged and the event skipped; a slow one delays only this
    /// subscription, as for <see cref="OnAlertAsync"/>.</summary>
    public Task<CallbackSubscription> OnLabelRequestAsync(Func<LabelRequestEvent, Task> onRequest, string? machineId = null, CancellationToken cancellationToken = default)
        => Subscribe(MachineEventStreams.LabelRequestNamespace, machineId, onRequest, cancellationToken);

    private Task<T> Call<T>(Func<MachineUseCases, Task<T>> call, CancellationToken cancellationToken)
    {
        // Checked before the call: an Orleans client disposed under us would name its own types instead.
        if (Volatile.Read(ref _disposed) == 1)
            return Task.FromException<T>(new ObjectDisposedException(nameof(AsdClusterClient)));
        if (cancellationToken.IsCancellationRequested)
            return Task.FromCanceled<T>(cancellationToken);
        // The grain methods take no token: stop waiting here (the call itself still runs to the grain's answer).
        return call(UseCases).WaitAsync(cancellationToken);
    }

    private IAsyncStream<T> Stream<T>(string streamNamespace) => _streams.GetStream<T>(StreamId.Create(streamNamespace, MachineEventStreams.PlantKey));

    private async Task<MachineEventSubscription<T>> Subscribe<T>(string streamNamespace, string? machineId, CancellationToken cancellationToken)
        where T : IMachineEvent
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        var subscription = await MachineEventSubscription<T>.StartAsync(Stream<T>(streamNamespace), machineId, _subscriptionBuffer,
            s => { _subscriptions.TryRemove(s, out _); return ValueTask.CompletedTask; }, _logger, cancellationToken);
        _subscriptions[subscription] = subscription.DisposeAsync;
        // Disposing began while we subscribed: it may have listed the subscriptions before this one was added.
        if (Volatile.Read(ref _disposed) == 1)
        {
            await subscription.DisposeAsync();
            throw new ObjectDisposedException(nameof(AsdClusterClient));
        }
        return subscription;
    }

    private async Task<CallbackSubscription> Subscribe<T>(string streamNamespace, string? machineId, Func<T, Task> callback, CancellationToken cancellationToken)
        where T : IMachineEvent
    {
        ArgumentNullException.ThrowIfNull(callback);
        var subscription = await Subscribe<T>(streamNamespace, machineId, cancellationToken);
        // Its own loop, off the client's stream delivery: a slow callback holds up no other subscription. How it ends
        // is the handle's Completion: a log line alone reaches nobody when the client was given no logger.
        var loop = Task.Run(async () =>
        {
            try
            {
                await foreach (var item in subscription)
                {
                    try
                    {
                        await callback(item);
                    }
                    catch (Exception e)
                    {
                        _logger.LogError(e, "{Event} handler failed for machine {Machine}; the event is skipped", typeof(T).Name, item.MachineId);
                    }
                }
            }
            catch (SubscriptionOverflowException e)
            {
                _logger.LogError(e, "{Event} callback subscription ended: its handler fell behind", typeof(T).Name);
                throw;
            }
            catch (Exception e)
            {
                _logger.LogWarning(e, "{Event} stream reported an error", typeof(T).Name);
                throw;
            }
        }, CancellationToken.None);
        return new CallbackSubscription(subscription, loop);
    }

    private void ThrowIfDisposed()
    {
        if (Volatile.Read(ref _disposed) == 1)
            throw new ObjectDisposedException(nameof(AsdClusterClient));
    }

    /// <summary>Unsubscribes what is still subscribed and, when this object made the connection, disconnects. Calls
    /// and subscriptions afterwards (or begun during it) throw <see cref="ObjectDisposedException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
            return;
        foreach (var unsubscribe in _subscriptions.Values.ToList())
        {
            try
            {
                await unsubscribe();
            }
            catch (Exception e)
            {
                _logger.LogWarning(e, "could not unsubscribe while disconnecting");
            }
        }
        if (_host is not null)
        {
            await _host.StopAsync();
            _host.Dispose();
        }
    }

    /// <summary>Relays Orleans' connection notices, which are wired up before this object exists.</summary>
    private sealed class ConnectionStatus
    {
        public ILogger Logger { get; set; } = NullLogger.Instance;
        public object? Owner { get; set; }
        public event EventHandler<GatewayCountChangedEventArgs>? GatewayCountChanged;
        public event EventHandler? ConnectionLost;

        public void OnGatewayCountChanged(GatewayCountChangedEventArgs e) => Raise(() => GatewayCountChanged?.Invoke(Owner ?? this, e), nameof(GatewayCountChanged));

        public void OnConnectionLost() => Raise(() => ConnectionLost?.Invoke(Owner ?? this, EventArgs.Empty), nameof(ConnectionLost));

        // A throwing handler must not break Orleans' gateway bookkeeping.
        private void Raise(Action raise, string name)
        {
            try
            {
                raise();
            }
            catch (Exception e)
            {
                Logger.LogError(e, "a {Event} handler failed", name);
            }
        }
    }
}
