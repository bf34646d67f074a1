namespace AsdOrleans.Client;

/// <summary>
/// A callback subscription (<see cref="AsdClusterClient.OnAlertAsync"/>, <see cref="AsdClusterClient.OnLabelRequestAsync"/>):
/// dispose it to unsubscribe. <see cref="Completion"/> says when and why the callbacks stopped.
/// </summary>
public sealed class CallbackSubscription : IAsyncDisposable
{
    private readonly IAsyncDisposable _subscription;

    internal CallbackSubscription(IAsyncDisposable subscription, Task loop)
    {
        _subscription = subscription;
        Completion = loop;
        // Observed here, so an ending nobody awaits is not an unobserved task exception.
        _ = loop.ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
    }

    /// <summary>Completes when the callbacks stop: normally after <see cref="DisposeAsync"/>; faulted with
    /// <see cref="SubscriptionOverflowException"/> when the callback fell <see cref="AsdClientOptions.SubscriptionBuffer"/>
    /// events behind, or with the stream's error. After a fault, re-list pending requests and subscribe again.</summary>
    public Task Completion { get; }

    /// <summary>Unsubscribes; the callbacks stop after the events already buffered, and <see cref="Completion"/> completes.</summary>
    public ValueTask DisposeAsync() => _subscription.DisposeAsync();
}
