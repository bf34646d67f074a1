using System.Globalization;
using System.Text.RegularExpressions;
using AsdOrleans.Method.Vocabulary;

namespace AsdOrleans.Cli;

/// <summary>
/// Early checks of inputs, so that a command refuses bad input (exit 2, one line naming the option) before it does any
/// work or writes anything. Output paths are checked by <see cref="OutputPaths"/>.
/// </summary>
public static partial class InputChecks
{
    /// <summary>An existing, readable file (not a folder).</summary>
    public static void ExistingFile(string option, string path)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new UsageException($"{option}: the path is empty");
        if (Directory.Exists(path))
            throw new UsageException($"{option}: '{path}' is a folder, not a file");
        if (!File.Exists(path))
            throw new UsageException($"{option}: '{path}' does not exist");
        try
        {
            using var _ = File.OpenRead(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{option}: '{path}' cannot be read: {e.Message}");
        }
    }

    /// <summary>An existing, listable folder (not a file).</summary>
    public static void ExistingFolder(string option, string path)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new UsageException($"{option}: the path is empty");
        if (File.Exists(path))
            throw new UsageException($"{option}: '{path}' is a file, not a folder");
        if (!Directory.Exists(path))
            throw new UsageException($"{option}: '{path}' is not a folder");
        try
        {
            using var entries = Directory.EnumerateFileSystemEntries(path).GetEnumerator();
            entries.MoveNext();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{option}: '{path}' cannot be read: {e.Message}");
        }
    }

    /// <summary>An encoder model file whose header (format, metadata, version id) reads; returns its version id.</summary>
    public static string ModelVersion(string option, string path)
    {
        ExistingFile(option, path);
        try
        {
            return Encoder.EncoderModel.ReadInfo(path).VersionId;
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException or ArgumentException or System.Text.Json.JsonException or FormatException)
        {
            throw new UsageException($"{option}: '{path}' is not a readable encoder model file: {e.Message}");
        }
    }

    [GeneratedRegex(@"^(auto|cpu|cuda(:\d{1,3})?)$", RegexOptions.IgnoreCase)]
    private static partial Regex DeviceName();

    /// <summary>auto, cpu, cuda or cuda:N (whether that device exists is known only once Torch loads).</summary>
    public static void Device(string option, string text)
    {
        if (!DeviceName().IsMatch(text.Trim()))
            throw new UsageException($"{option}: '{text}' is not auto, cpu, cuda or cuda:N");
    }

    public static void MachineId(string option, string id)
    {
        if (!Identifiers.IsValidMachineId(id))
            throw new UsageException($"{option}: {Identifiers.InvalidMachineId(id)}");
    }

    public static void ClipId(string option, string id)
    {
        if (!Identifiers.IsValidClipId(id))
            throw new UsageException($"{option}: {Identifiers.InvalidClipId(id)}");
    }

    public static void AtLeast(string option, int value, int min)
    {
        if (value < min)
            throw new UsageException($"{option} must be at least {min.ToString(CultureInfo.InvariantCulture)}, got {value.ToString(CultureInfo.InvariantCulture)}");
    }

    public static void InRange(string option, double value, double min, double max)
    {
        if (!(value >= min && value <= max))
            throw new UsageException($"{option} must be in [{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}], got {value.ToString(CultureInfo.InvariantCulture)}");
    }
}
