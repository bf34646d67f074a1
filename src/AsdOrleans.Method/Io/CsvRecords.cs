using System.Globalization;

namespace AsdOrleans.Method.Io;

/// <summary>One data row of a CSV file with its 1-based line number, for error messages.</summary>
public readonly record struct CsvRow(int Line, string[] Fields);

/// <summary>
/// Strict reader for the project's plain CSV files (no quoting: none of our columns needs it).
/// Every problem is an <see cref="InputDataException"/> naming file and line.
/// </summary>
public static class CsvRecords
{
    /// <summary>Reads a header and rows; every row must have exactly as many fields as the header.</summary>
    public static (string[] Header, List<CsvRow> Rows) ReadWithHeader(string path)
    {
        var lines = ReadLines(path);
        if (lines.Count == 0)
            throw new InputDataException(path, null, "the file is empty (expected a header line)");
        var (headerLine, headerText) = lines[0];
        var header = Split(headerText);
        for (int i = 0; i < header.Length; i++)
        {
            if (header[i].Length == 0)
                throw new InputDataException(path, headerLine, $"header column {i + 1} is empty");
            if (Array.IndexOf(header, header[i]) != i)
                throw new InputDataException(path, headerLine, $"header column '{header[i]}' appears twice");
        }
        var rows = new List<CsvRow>(lines.Count - 1);
        foreach (var (line, text) in lines.Skip(1))
        {
            var fields = Split(text);
            if (fields.Length != header.Length)
                throw new InputDataException(path, line, $"expected {header.Length} fields as in the header, found {fields.Length}");
            rows.Add(new CsvRow(line, fields));
        }
        return (header, rows);
    }

    /// <summary>Reads rows without a header; every row must have <paramref name="fieldCount"/> fields.</summary>
    public static List<CsvRow> ReadHeaderless(string path, int fieldCount)
    {
        var rows = new List<CsvRow>();
        foreach (var (line, text) in ReadLines(path))
        {
            var fields = Split(text);
            if (fields.Length != fieldCount)
                throw new InputDataException(path, line, $"expected {fieldCount} fields, found {fields.Length}");
            rows.Add(new CsvRow(line, fields));
        }
        return rows;
    }

    /// <summary>Parses a finite floating-point number or throws naming the column.</summary>
    public static double ParseFinite(string path, int line, string column, string text)
    {
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            throw new InputDataException(path, line, $"column '{column}': '{text}' is not a number");
        if (!double.IsFinite(value))
            throw new InputDataException(path, line, $"column '{column}': {text} is not a finite number");
        return value;
    }

    /// <summary>Parses a whole number in [<paramref name="minimum"/>, <paramref name="maximum"/>] or throws naming the column.</summary>
    public static long ParseInteger(string path, int line, string column, string text, long minimum = 0, long maximum = long.MaxValue)
    {
        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            throw new InputDataException(path, line, $"column '{column}': '{text}' is not a whole number");
        if (value < minimum || value > maximum)
            throw new InputDataException(path, line, $"column '{column}': {value} is outside {minimum}…{maximum}");
        return value;
    }

    private static List<(int Line, string Text)> ReadLines(string path)
    {
        if (!File.Exists(path))
            throw new InputDataException(path, null, "no such file");
        var result = new List<(int, string)>();
        int number = 0;
        foreach (var raw in File.ReadLines(path))
        {
            number++;
            var text = raw.TrimEnd('\r');
            if (text.Trim().Length == 0)
                continue; // blank lines (a trailing newline) carry no data
            if (text.Contains('"'))
                throw new InputDataException(path, number, "quoted fields are not supported");
            result.Add((number, text));
        }
        return result;
    }

    private static string[] Split(string text)
    {
        var fields = text.Split(',');
        for (int i = 0; i < fields.Length; i++)
            fields[i] = fields[i].Trim();
        return fields;
    }
}
