namespace AsdOrleans.Method.Vocabulary;

/// <summary>
/// The names of an enum's values as settings, options and reports spell them (e.g. <c>variable-uncertainty</c>):
/// one table per enum, parsed case-insensitively, an unknown name refused with the known ones.
/// </summary>
/// <param name="what">What the value is called in the refusal: "unknown {what} 'x'; known: …".</param>
public sealed class KindNames<TKind>(string what, params (TKind Kind, string Name)[] names) where TKind : struct, Enum
{
    public IEnumerable<string> All => names.Select(n => n.Name);

    public string ToName(TKind kind) => names.First(n => EqualityComparer<TKind>.Default.Equals(n.Kind, kind)).Name;

    public TKind Parse(string name)
    {
        foreach (var (kind, text) in names)
            if (string.Equals(text, name.Trim(), StringComparison.OrdinalIgnoreCase))
                return kind;
        throw new ArgumentException($"unknown {what} '{name}'; known: {string.Join(", ", All)}");
    }
}
