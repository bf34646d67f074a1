using AsdOrleans.Method.Io;

namespace AsdOrleans.Method.Vocabulary;

/// <summary>
/// The one vocabulary for a clip's label and domain, read and written the same way by every file format, command and API.
/// Read (case-insensitive, surrounding spaces ignored): label <c>normal</c> | <c>anomaly</c> (also <c>anomalous</c>),
/// or <c>0</c> | <c>1</c>; domain <c>source</c> | <c>target</c>, or <c>0</c> | <c>1</c>.
/// Written: <see cref="Normal"/> / <see cref="Anomaly"/> and <see cref="Source"/> / <see cref="Target"/>.
/// </summary>
public static class ClipWords
{
    public const string Normal = "normal";
    public const string Anomaly = "anomaly";
    /// <summary>Accepted on input as a synonym of <see cref="Anomaly"/> (the HTTP API's label body used it first).</summary>
    public const string Anomalous = "anomalous";
    public const string Source = "source";
    public const string Target = "target";

    /// <summary>What a label may be, for messages and help.</summary>
    public const string LabelChoices = "normal, anomaly (or anomalous), 0 or 1";
    public const string DomainChoices = "source, target, 0 or 1";

    /// <summary>true = anomaly, false = normal, null = not a label word.</summary>
    public static bool? TryParseLabel(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        Normal or "0" => false,
        Anomaly or Anomalous or "1" => true,
        _ => null,
    };

    /// <summary>true = target, false = source, null = not a domain word.</summary>
    public static bool? TryParseDomain(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        Source or "0" => false,
        Target or "1" => true,
        _ => null,
    };

    public static string Label(bool isAnomaly) => isAnomaly ? Anomaly : Normal;

    public static string Domain(bool isTarget) => isTarget ? Target : Source;

    /// <summary>The message for a word that is not a label, with the column (or option) it was found in.</summary>
    public static string NotALabel(string where, string text) => $"{where}: '{text}' is not {LabelChoices}";

    public static string NotADomain(string where, string text) => $"{where}: '{text}' is not {DomainChoices}";

    /// <summary>Parses a label in a file, naming the file, line and column on error.</summary>
    public static bool ParseLabel(string path, int? line, string column, string text)
        => TryParseLabel(text) ?? throw new InputDataException(path, line, NotALabel($"column '{column}'", text));

    /// <summary>Parses a domain in a file, naming the file, line and column on error.</summary>
    public static bool ParseDomain(string path, int? line, string column, string text)
        => TryParseDomain(text) ?? throw new InputDataException(path, line, NotADomain($"column '{column}'", text));
}
