namespace AsdOrleans.Method.Vocabulary;

/// <summary>
/// The rules for machine ids and clip ids, in one place. Both are 1–128 ASCII letters, digits, '.', '_' or '-'
/// (e.g. <c>plant-a.line-3.bandsaw-07</c>): they are grain keys, URL path segments and file names of stored audio,
/// so neither may be "." or ".." (a machine id names its audio folders: ".." would be the data directory).
/// </summary>
public static class Identifiers
{
    public const int MaxLength = 128;

    public const string Rule = "letters, digits, '.', '_', '-'; at most 128 characters; not '.' or '..'";

    public static bool IsValidMachineId(string? id)
        => id is { Length: > 0 and <= MaxLength } and not ("." or "..") && id.All(IsIdCharacter);

    /// <summary>A character a machine or clip id may hold (a prefix of ids too, such as a gateway key's <c>line3-*</c>).</summary>
    public static bool IsIdCharacter(char c) => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-';

    public static bool IsValidClipId(string? id) => IsValidMachineId(id);

    public static string InvalidMachineId(string? id) => $"'{id}' is not a valid machine id ({Rule})";

    public static string InvalidClipId(string? id) => $"clip id '{id}' is not valid ({Rule})";

    /// <summary>A labeller's name as labels record it: an id's characters and '@' (a login or an e-mail address), at most 64.</summary>
    public static bool IsValidLabellerName(string? name)
        => name is { Length: > 0 and <= 64 } && name.All(c => IsIdCharacter(c) || c == '@');

    public static string InvalidLabellerName(string? name) => $"labeller '{name}' is not a valid name (letters, digits, '.', '_', '-', '@'; at most 64 characters)";

    /// <summary>Throws <see cref="ArgumentException"/> for a labeller name that is given and not valid; null is "not said".</summary>
    public static void RequireValidLabellerName(string? name)
    {
        if (name is not null && !IsValidLabellerName(name)) throw new ArgumentException(InvalidLabellerName(name));
    }
}
