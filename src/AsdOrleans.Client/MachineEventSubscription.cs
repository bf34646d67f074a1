using System.Threading.Channels;
using AsdOrleans.Abstractions;
using Orleans.Streams;

namespace AsdOrleans.Client;

/// <summary>
/// A live subscription to one machine event stream (all machines, or one). Active as soon as it is returned: events
/// published after that are buffered until read. Read it with <c>await foreach</c> or <see cref="ReadAsync"/>;
/// dispose it to unsubscribe. Events published while nobody was subscribed are not replayed — list pending label
/// requests with <see cref="AsdClusterClient.GetPendingLabelRequestsAsync"/> after subscribing to catch up.
/// </summary>
/// <typeparam name="T"><see cref="AnomalyAlert"/> or <see cref="LabelRequestEvent"/>.</typeparam>
public sealed class MachineEventSubscription<T> : IAsyncEnumerable<T>, IAsyncDisposable where T : IMachineEvent
{
    private readonly Channel<T> _buffer;
    private readonly Func<MachineEventSubscription<T>, ValueTask> _onDisposed;
    private StreamSubscriptionHandle<T>? _handle;
    private int _disposed;

    private MachineEventSubscription(int capacity, Func<MachineEventSubscription<T>, ValueTask> onDisposed)
    {
        _buffer = Channel.CreateBounded<T>(new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.Wait, SingleWriter = true });
        _onDisposed = onDisposed;
    }

    internal static async Task<MachineEventSubscription<T>> StartAsync(IAsyncStream<T> stream, string? machineId, int capacity,
        Func<MachineEventSubscription<T>, ValueTask> onDisposed)
    {
        var subscription = new MachineEventSubscription<T>(capacity, onDisposed);
        subscription._handle = await stream.SubscribeAsync(new FilteringObserver<T>(machineId, (item, token) => subscription._buffer.Writer.WriteAsync(item, token),
            error => subscription._buffer.Writer.TryComplete(error), () => subscription._buffer.Writer.TryComplete()));
        return subscription;
    }

    /// <summary>The next event; waits for one. Throws <see cref="ChannelClosedException"/> once the subscription is disposed.</summary>
    public ValueTask<T> ReadAsync(CancellationToken cancellationToken = default) => _buffer.Reader.ReadAsync(cancellationToken);

    /// <summary>Events as they arrive, until the subscription is disposed or <paramref name="cancellationToken"/> fires.</summary>
    public IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default)
        => _buffer.Reader.ReadAllAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);

    /// <summary>Unsubscribes (the cluster forgets the subscription) and ends the enumeration after the buffered events.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
            return;
        // Complete first: a delivery waiting for room in a full buffer fails at once instead of holding up the unsubscribe.
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
internal sealed class FilteringObserver<T>(string? machineId, Func<T, CancellationToken, ValueTask> onNext, Action<Exception> onError, Action onCompleted)
    : IAsyncObserver<T> where T : IMachineEvent
{
    public async Task OnNextAsync(T item, StreamSequenceToken? token = null)
    {
        if (machineId is null || string.Equals(item.MachineId, machineId, StringComparison.Ordinal))
            await onNext(item, CancellationToken.None);
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
