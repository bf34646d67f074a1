namespace AsdOrleans.Abstractions;

/// <summary>
/// Marks a grain method that changes what the cluster stores (a machine's settings, sets, labels, requests, its
/// retirement; a clip's ingest). While the cluster's Redis has lost its data (the silo's store watch), silos refuse such
/// calls from every caller with <see cref="ClusterStoreLostException"/> before the method runs, as the HTTP API refuses
/// its writes (503); methods without it are reads and are taken. docs/decisions.md, stop 56.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class StoreWriteAttribute : Attribute;

/// <summary>
/// A write (<see cref="StoreWriteAttribute"/>) refused because the cluster's store (Redis) has lost its data or is not
/// the cluster's: it would land in a store that forgot the machines. Nothing changed; the same call may be sent again
/// once an operator has restored Redis from its backup or accepted the loss (<c>asd cluster accept-store-loss</c>, or
/// <c>POST /api/cluster/store/accept-loss</c>). Reads are still answered. Neither an <see cref="ArgumentException"/> nor
/// an <see cref="InvalidOperationException"/> (bad input, a machine not enrolled): the call was right, the cluster's
/// store is not.
/// </summary>
[GenerateSerializer]
public sealed class ClusterStoreLostException : Exception
{
    /// <summary>What a caller is told (Redis's address and the store markers are the operator's: the silo's log and /readyz).</summary>
    public const string DefaultMessage = "the cluster takes no writes now: its store (Redis) has lost its data (or went back to an older copy of it) or is not the cluster's, "
        + "and a write would land in a store that forgot the machines. Nothing changed. An operator must restore Redis from its backup "
        + "or accept the loss (asd cluster accept-store-loss, or POST /api/cluster/store/accept-loss; the silo's log and /readyz name the lost store); "
        + "send the write again after that. Reads are still answered.";

    public ClusterStoreLostException() : base(DefaultMessage) { }

    public ClusterStoreLostException(string message) : base(message) { }

    public ClusterStoreLostException(string message, Exception innerException) : base(message, innerException) { }
}

/// <summary>
/// A write (<see cref="StoreWriteAttribute"/>) refused because the cluster's Redis would not keep it through a crash of
/// Redis now (its append-only file is off, or not synced on every write), so an acknowledged label could be lost. Nothing
/// changed; the same call may be sent again once an operator has made Redis durable again (the silo's log and /readyz
/// say what). Reads are still answered.
/// </summary>
[GenerateSerializer]
public sealed class ClusterStoreNotDurableException : Exception
{
    public const string DefaultMessage = "the cluster takes no writes now: its store (Redis) would not keep them through a crash of Redis "
        + "(its append-only settings changed). Nothing changed. An operator must make Redis durable again (the silo's log and /readyz say what); "
        + "send the write again after that. Reads are still answered.";

    public ClusterStoreNotDurableException() : base(DefaultMessage) { }

    public ClusterStoreNotDurableException(string message) : base(message) { }

    public ClusterStoreNotDurableException(string message, Exception innerException) : base(message, innerException) { }
}
