namespace AsdOrleans.Abstractions;

/// <summary>
/// A label arrived for a clip whose label request expired (its audio and embedding are gone). Distinct from an unknown
/// clip; still an <see cref="ArgumentException"/>, so callers that know only bad input treat it as such.
/// </summary>
[GenerateSerializer]
public sealed class LabelRequestExpiredException : ArgumentException
{
    public LabelRequestExpiredException() { }

    public LabelRequestExpiredException(string message) : base(message) { }

    public LabelRequestExpiredException(string message, Exception innerException) : base(message, innerException) { }
}
