namespace AsdOrleans.Silo;

/// <summary>
/// What a value of a .NET type looks like, in a user's words, for the messages that refuse one: a setting the silo
/// binds, a query parameter the API binds, a CLI option the parser reads. Each names its types its own way
/// (<c>System.Int32</c>, <c>Nullable&lt;int&gt;</c>, <c>System.Nullable`1[System.Double]</c>); all are read here.
/// </summary>
public static class ValueForms
{
    /// <summary>"a whole number", "a number", …; null for a type without words here (the caller says what fits).</summary>
    public static string? InWords(string typeName)
    {
        string name = typeName.Replace("System.Nullable`1[", "", StringComparison.Ordinal).Replace("Nullable<", "", StringComparison.Ordinal)
            .TrimEnd(']', '>');
        if (name.StartsWith("System.", StringComparison.Ordinal)) name = name["System.".Length..];
        return name switch
        {
            "Int32" or "Int64" or "Int16" or "int" or "long" or "short" => "a whole number",
            "UInt64" or "UInt32" or "UInt16" or "Byte" or "ulong" or "uint" or "ushort" or "byte" => "a whole number, 0 or more",
            "Double" or "Single" or "Decimal" or "double" or "float" or "decimal" => "a number",
            "Boolean" or "bool" => "true or false",
            "TimeSpan" => "a duration (d.hh:mm:ss, e.g. 00:00:10)",
            "DateTimeOffset" or "DateTime" => "a date and time (ISO 8601, e.g. 2026-12-06T08:00:00Z)",
            "Uri" => "a URL",
            _ => null,
        };
    }
}
