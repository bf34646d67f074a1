using AsdOrleans.Abstractions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Streams;

namespace AsdOrleans.Grains.Streams;

/// <summary>
/// Publishes one machine grain's alerts and label requests on the plant-wide streams without holding up the clip:
/// events leave in order on a background chain after the verdict is returned; a failed publication is logged and the
/// event dropped — the verdict and the persisted label request stand. A silo without the stream provider publishes nothing.
/// </summary>
internal sealed partial class MachineEventPublisher
{
    /// <summary>Events waiting to be published beyond this are dropped, so a stuck stream cannot grow memory without bound.</summary>
    public const int MaxBacklog = 1_000;
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(5);

    private readonly IAsyncStream<AnomalyAlert>? _alerts;
    private readonly IAsyncStream<LabelRequestEvent>? _labelRequests;
    private readonly IAsyncStream<LabelRequestClosed>? _closed;
    private readonly IAsyncStream<LabelRequestClaim>? _claims;
    private readonly ILogger _logger;
    private Task _chain = Task.CompletedTask;
    private int _backlog;
    private long _dropped;

    private MachineEventPublisher(IStreamProvider? provider, ILogger logger)
    {
        _logger = logger;
        _alerts = provider?.GetStream<AnomalyAlert>(StreamId.Create(MachineEventStreams.AlertNamespace, MachineEventStreams.PlantKey));
        _labelRequests = provider?.GetStream<LabelRequestEvent>(StreamId.Create(MachineEventStreams.LabelRequestNamespace, MachineEventStreams.PlantKey));
        _closed = provider?.GetStream<LabelRequestClosed>(StreamId.Create(MachineEventStreams.LabelRequestClosedNamespace, MachineEventStreams.PlantKey));
        _claims = provider?.GetStream<LabelRequestClaim>(StreamId.Create(MachineEventStreams.LabelRequestClaimNamespace, MachineEventStreams.PlantKey));
    }

    /// <summary>The publisher of a grain's activation (all its work runs on the activation's scheduler, one step at a time).</summary>
    public static MachineEventPublisher For(IGrainBase grain, ILogger logger)
    {
        var provider = grain.GrainContext.ActivationServices.GetKeyedService<IStreamProvider>(MachineEventStreams.ProviderName);
        if (provider is null)
            LogNoProvider(logger, MachineEventStreams.ProviderName);
        return new MachineEventPublisher(provider, logger);
    }

    /// <summary>Queues the events of one scored clip: an alert when anomalous, a label request when one was persisted.</summary>
    public void Publish(string machineId, ClipVerdict verdict, double decisionThreshold, string? audioReference, PendingLabel? request)
    {
        if (_alerts is null || _labelRequests is null || (!verdict.Anomalous && request is null))
            return;
        var alert = verdict.Anomalous
            ? new AnomalyAlert(machineId, verdict.ClipId, verdict.ClipIndex, verdict.Score, decisionThreshold, verdict.LabelRequested, DateTimeOffset.UtcNow, audioReference)
            : null;
        var asked = request is null
            ? null
            : new LabelRequestEvent(request.ToRequest(machineId), verdict.Anomalous, verdict.ClipIndex);
        Enqueue(machineId, verdict.ClipId, alert, asked, closed: null);
    }

    /// <summary>Queues one event per closed request, after the events queued before it (a request's own event first).</summary>
    public void PublishClosed(string machineId, IEnumerable<string> clipIds, LabelRequestOutcome outcome, string? by = null)
    {
        if (_closed is null)
            return;
        var now = DateTimeOffset.UtcNow;
        foreach (var clipId in clipIds)
        {
            Enqueue(machineId, clipId, alert: null, asked: null, new LabelRequestClosed(machineId, clipId, outcome, now, by));
        }
    }

    /// <summary>Queues a claim taken, renewed or released, after the events queued before it.</summary>
    public void PublishClaim(LabelRequestClaim claim)
    {
        if (_claims is null)
            return;
        Enqueue(claim.MachineId, claim.ClipId, alert: null, asked: null, closed: null, claim);
    }

    /// <summary>Chains one clip's events after everything queued before them, unless the backlog is full (then dropped).</summary>
    private void Enqueue(string machineId, string clipId, AnomalyAlert? alert, LabelRequestEvent? asked, LabelRequestClosed? closed, LabelRequestClaim? claim = null)
    {
        if (_backlog >= MaxBacklog)
        {
            LogDropped(_logger, machineId, clipId, ++_dropped);
            return;
        }
        _backlog++;
        _chain = SendAfter(_chain, alert, asked, closed, claim);
    }

    /// <summary>Waits (a few seconds at most) for queued events to leave, e.g. before the activation goes away.</summary>
    public async Task DrainAsync()
    {
        try
        {
            await _chain.WaitAsync(DrainLimit);
        }
        catch (TimeoutException)
        {
            LogDrainTimedOut(_logger, _backlog, DrainLimit.TotalSeconds);
        }
    }

    private async Task SendAfter(Task previous, AnomalyAlert? alert, LabelRequestEvent? asked, LabelRequestClosed? closed, LabelRequestClaim? claim)
    {
        await previous; // never faults: every step catches its own failures
        try
        {
            if (alert is not null)
                await Send(_alerts!, alert, alert.MachineId, alert.ClipId);
            if (asked is not null)
                await Send(_labelRequests!, asked, asked.MachineId, asked.Request.ClipId);
            if (closed is not null)
                await Send(_closed!, closed, closed.MachineId, closed.ClipId);
            if (claim is not null)
                await Send(_claims!, claim, claim.MachineId, claim.ClipId);
        }
        finally
        {
            _backlog--;
        }
    }

    private async Task Send<T>(IAsyncStream<T> stream, T item, string machineId, string clipId)
    {
        try
        {
            await stream.OnNextAsync(item);
        }
        catch (Exception e)
        {
            LogPublishFailed(_logger, e, typeof(T).Name, machineId, clipId);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "no stream provider '{Provider}' on this silo: alerts and label requests are not published")]
    private static partial void LogNoProvider(ILogger logger, string provider);

    [LoggerMessage(Level = LogLevel.Warning, Message = "event backlog full: dropped the events of machine {Machine} clip {Clip} ({Dropped} dropped so far)")]
    private static partial void LogDropped(ILogger logger, string machine, string clip, long dropped);

    [LoggerMessage(Level = LogLevel.Warning, Message = "could not publish {Event} of machine {Machine} clip {Clip}; the event is dropped")]
    private static partial void LogPublishFailed(ILogger logger, Exception exception, string @event, string machine, string clip);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Backlog} events still unpublished after {Seconds} s")]
    private static partial void LogDrainTimedOut(ILogger logger, int backlog, double seconds);
}
