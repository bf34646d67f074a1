namespace AsdOrleans.Abstractions;

/// <summary>
/// A label that contradicts the one the clip already has (HTTP 409). Still an <see cref="ArgumentException"/>, so
/// callers that know only bad input treat it as such.
/// </summary>
[GenerateSerializer]
public sealed class LabelConflictException : ArgumentException
{
    public LabelConflictException() { }

    public LabelConflictException(string message) : base(message) { }

    public LabelConflictException(string message, Exception innerException) : base(message, innerException) { }
}

/// <summary>A machine could not reach its stored state just now (a failed write is being reloaded): a fault of ours, retry later (HTTP 503).</summary>
[GenerateSerializer]
public sealed class MachineStateUnavailableException : Exception
{
    public MachineStateUnavailableException() { }

    public MachineStateUnavailableException(string message) : base(message) { }

    public MachineStateUnavailableException(string message, Exception innerException) : base(message, innerException) { }
}
