using System.Threading.Channels;
using AsdOrleans.Abstractions;
using Microsoft.Extensions.Logging;
using Orleans.Streams;

namespace AsdOrleans.Client;

/// <summary>
/// A live subscription to one machine event stream (all machines, or one). Active as soon as it is returned: events
/// published after that are buffered until read. Read it with <c>await foreach</c> or <see cref="ReadAsync"/>;
/// dispose it to unsubscribe. Events published while nobody was subscribed are not replayed — list pending label
/// requests with <see cref="AsdClusterClient.GetPendingLabelRequestsAsync"/> after subscribing to catch up.
/// </summary>
/// <remarks>A reader that falls more than <see cref="AsdClientOptions.SubscriptionBuffer"/> events behind ends its
/// subscription: after the buffered events, reading throws <see cref="SubscriptionOverflowException"/> (delivery never
/// waits for a reader, so one slow reader cannot hold up the client's other subscriptions).</remarks>
/// <typeparam name="T"><see cref="AnomalyAlert"/>, <see cref="LabelRequestEvent"/>, <see cref="LabelRequestClosed"/> or
/// <see cref="LabelRequestClaim"/>.</typeparam>
public sealed class MachineEventSubscription<T> : IAsyncEnumerable<T>, IAsyncDisposable where T : IMachineEvent
{
    private readonly Channel<T> _buffer;
    private readonly Func<MachineEventSubscription<T>, ValueTask> _onDisposed;
    private readonly int _capacity;
    private readonly ILogger _logger;
    private StreamSubscriptionHandle<T>? _handle;
    private int _disposed;
    private int _overflowed;

    private MachineEventSubscription(int capacity, Func<MachineEventSubscription<T>, ValueTask> onDisposed, ILogger logger)
    {
        _buffer = Channel.CreateBounded<T>(new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.Wait, SingleWriter = true });
        _capacity = capacity;
        _onDisposed = onDisposed;
        _logger = logger;
    }

    internal static async Task<MachineEventSubscription<T>> StartAsync(IAsyncStream<T> stream, string? machineId, int capacity,
        Func<MachineEventSubscription<T>, ValueTask> onDisposed, ILogger logger, CancellationToken cancellationToken)
    {
        var subscription = new MachineEventSubscription<T>(capacity, onDisposed, logger);
        var subscribing = stream.SubscribeAsync(new FilteringObserver<T>(machineId, subscription.Offer,
            error => subscription._buffer.Writer.TryComplete(error), () => subscription._buffer.Writer.TryComplete()));
        try
        {
            subscription._handle = await subscribing.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The cluster may still make the subscription: undo it when it comes, or the client would receive (and
            // buffer) its events for the rest of its life with no handle to end it.
            Volatile.Write(ref subscription._disposed, 1);
            subscription._buffer.Writer.TryComplete();
            _ = subscribing.ContinueWith(async made =>
            {
                if (made.IsCompletedSuccessfully)
                    try { await made.Result.UnsubscribeAsync(); }
                    catch (Exception e) { logger.LogWarning(e, "could not undo a {Event} subscription whose caller cancelled", typeof(T).Name); }
            }, TaskScheduler.Default).Unwrap();
            throw;
        }
        // Ended (overflowed) before its handle came: DisposeAsync had nothing to unsubscribe.
        if (Volatile.Read(ref subscription._disposed) == 1)
            await subscription._handle.UnsubscribeAsync();
        return subscription;
    }

    // Runs inside the client's stream delivery, which serves every subscription in turn: never wait here.
    private void Offer(T item)
    {
        if (_buffer.Writer.TryWrite(item) || Volatile.Read(ref _disposed) == 1 || Interlocked.Exchange(ref _overflowed, 1) == 1)
            return;
        _buffer.Writer.TryComplete(new SubscriptionOverflowException(_capacity));
        _logger.LogWarning("a {Event} subscription fell more than {Capacity} events behind and was ended", typeof(T).Name, _capacity);
        // Unsubscribe off the delivery path; the reader still gets the buffered events, then the exception.
        _ = Task.Run(async () =>
        {
            try
            {
                await DisposeAsync();
            }
            catch (Exception e)
            {
                _logger.LogWarning(e, "could not unsubscribe an overflowed {Event} subscription", typeof(T).Name);
            }
        });
    }

    /// <summary>The next event; waits for one. Throws <see cref="ChannelClosedException"/> once the subscription is
    /// disposed, and <see cref="SubscriptionOverflowException"/> once it was ended for falling behind.</summary>
    public async ValueTask<T> ReadAsync(CancellationToken cancellationToken = default)
    {
        // WaitToReadAsync throws the completion's own exception (ReadAsync would wrap it in a ChannelClosedException).
        while (await _buffer.Reader.WaitToReadAsync(cancellationToken))
        {
            if (_buffer.Reader.TryRead(out var item))
                return item;
        }
        throw new ChannelClosedException();
    }

    /// <summary>Events as they arrive, until the subscription is disposed or <paramref name="cancellationToken"/> fires;
    /// throws <see cref="SubscriptionOverflowException"/> after the buffered events if it was ended for falling behind.</summary>
    public IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default)
        => _buffer.Reader.ReadAllAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);

    /// <summary>Unsubscribes (the cluster forgets the subscription) and ends the enumeration after the buffered events.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
            return;
        _buffer.Writer.TryComplete();
        try
        {
            if (_handle is not null)
                await _handle.UnsubscribeAsync();
        }
        finally
        {
            await _onDisposed(this);
        }
    }
}

/// <summary>Passes on the events of one machine (or all, when <c>machineId</c> is null).</summary>
internal sealed class FilteringObserver<T>(string? machineId, Action<T> onNext, Action<Exception> onError, Action onCompleted)
    : IAsyncObserver<T> where T : IMachineEvent
{
    public Task OnNextAsync(T item, StreamSequenceToken? token = null)
    {
        if (machineId is null || string.Equals(item.MachineId, machineId, StringComparison.Ordinal))
            onNext(item);
        return Task.CompletedTask;
    }

    public Task OnErrorAsync(Exception ex)
    {
        onError(ex);
        return Task.CompletedTask;
    }

    public Task OnCompletedAsync()
    {
        onCompleted();
        return Task.CompletedTask;
    }
}
