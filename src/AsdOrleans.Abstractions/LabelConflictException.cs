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

/// <summary>
/// A carrying enrollment refused because a label or another enrollment came between the carry's read and its write
/// (HTTP 409, problem <c>code</c> <see cref="Code"/>): nothing changed, and the same enrollment sent again reads afresh.
/// Still an <see cref="InvalidOperationException"/>, as it was before it had a type of its own.
/// </summary>
[GenerateSerializer]
public sealed class LabelCarryRacedException : InvalidOperationException
{
    /// <summary>The problem's <c>code</c>, by which a client tells this refusal from other 409s and sends again.</summary>
    public const string Code = "carry-raced";

    public LabelCarryRacedException() { }

    public LabelCarryRacedException(string message) : base(message) { }

    public LabelCarryRacedException(string message, Exception innerException) : base(message, innerException) { }
}
