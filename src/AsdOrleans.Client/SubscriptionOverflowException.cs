namespace AsdOrleans.Client;

/// <summary>
/// Ends a <see cref="MachineEventSubscription{T}"/> (or a callback subscription) whose reader fell more than its buffer
/// (<see cref="AsdClientOptions.SubscriptionBuffer"/>) behind. The subscription is unsubscribed: events after it are
/// not delivered, so re-list pending requests (<see cref="AsdClusterClient.GetPendingLabelRequestsAsync"/>) and
/// subscribe again. Other subscriptions of the client are not affected.
/// </summary>
public sealed class SubscriptionOverflowException : Exception
{
    /// <summary>For a subscription whose buffer of <paramref name="capacity"/> events was full.</summary>
    public SubscriptionOverflowException(int capacity)
        : base($"the reader fell behind by more than {capacity} events; re-list pending requests (GetPendingLabelRequestsAsync) and subscribe again")
    {
        Capacity = capacity;
    }

    /// <summary>The buffer size the reader exceeded.</summary>
    public int Capacity { get; }
}
