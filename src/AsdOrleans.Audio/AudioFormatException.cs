namespace AsdOrleans.Audio;

/// <summary>
/// Audio content that cannot be used: not a WAV file, truncated, an unsupported encoding, empty, too short
/// or too long, non-finite samples. The message names the source (file path or given name) and the problem,
/// as "source: problem".
/// </summary>
public sealed class AudioFormatException : Exception
{
    public AudioFormatException(string sourceName, string problem, Exception? innerException = null)
        : base($"{sourceName}: {problem}", innerException)
    {
        SourceName = sourceName;
        Problem = problem;
    }

    /// <summary>The file path or caller-given name of the audio.</summary>
    public string SourceName { get; }

    /// <summary>What is wrong with it, without the source name.</summary>
    public string Problem { get; }
}
