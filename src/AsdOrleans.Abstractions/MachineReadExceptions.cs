namespace AsdOrleans.Abstractions;

/// <summary>
/// A read of a machine that nobody configured or enrolled (HTTP 404): the machine registry does not list it, and the
/// read changed nothing (no grain was activated for the id). A <see cref="KeyNotFoundException"/>, as a lookup by an
/// unknown key is in .NET.
/// </summary>
[GenerateSerializer]
public sealed class MachineNotFoundException : KeyNotFoundException
{
    public MachineNotFoundException() { }

    public MachineNotFoundException(string machineId)
        : base($"no machine '{machineId}' is configured or enrolled; configure or enroll it first") => MachineId = machineId;

    public MachineNotFoundException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>The id asked for.</summary>
    [Id(0)] public string? MachineId { get; private set; }
}

/// <summary>
/// A listed machine that cannot be read: its stored state could not be loaded, or it failed to start, for a reason a
/// retry does not get past (a damaged row, say). A fault of ours (HTTP 500); the cause is in the silo's log and in
/// <see cref="Exception.InnerException"/>. Listings show such a machine as <see cref="MachineStatus.Unreadable"/> instead.
/// </summary>
[GenerateSerializer]
public sealed class MachineUnreadableException : Exception
{
    public MachineUnreadableException() { }

    public MachineUnreadableException(string message) : base(message) { }

    public MachineUnreadableException(string message, Exception innerException) : base(message, innerException) { }

    public MachineUnreadableException(string machineId, string reason, Exception innerException)
        : base($"machine '{machineId}' cannot be read: {reason}", innerException) => (MachineId, Reason) = (machineId, reason);

    /// <summary>The machine that could not be read.</summary>
    [Id(0)] public string? MachineId { get; private set; }
    /// <summary>Why, in an API client's terms (the cause's message may name storage paths and types).</summary>
    [Id(1)] public string? Reason { get; private set; }
}

/// <summary>
/// Tells a fault of the cluster or its store (a silo down or not answering, a timeout, a store unreachable, full or
/// refusing our credentials: a retry or an operator gets past it) from a failure of one machine. Listings over many
/// machines use it to tell "the cluster is unavailable: fail the listing" from "this one machine cannot be read: list the
/// others". The silo's is the classification its HTTP API answers 503 for.
/// </summary>
public interface IClusterFaults
{
    bool IsClusterFault(Exception exception);

    /// <summary>Why one machine cannot be read, in an API client's terms, where the silo can say more than that its state
    /// could not be loaded (a damaged database file: what an operator does); null for the general reason.</summary>
    string? UnreadableReason(Exception exception) => null;
}
