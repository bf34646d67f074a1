using System.Globalization;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Cli.Commands;

/// <summary>Parsers for list-valued options such as --budgets 0,0.05,0.1.</summary>
public static class OptionParsing
{
    public static IReadOnlyList<double> Doubles(string option, string text)
    {
        var values = new List<double>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
                throw new UsageException($"{option}: '{part}' is not a finite number");
            values.Add(value);
        }
        return values;
    }

    /// <summary>Comma-separated whole numbers, optionally within [min, max], e.g. --machines 1000,10000.</summary>
    public static IReadOnlyList<int> Integers(string option, string text, int min = int.MinValue, int max = int.MaxValue)
    {
        var values = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
                throw new UsageException($"{option}: '{part}' is not a whole number");
            if (value < min || value > max)
                throw new UsageException($"{option}: '{part}' is not a whole number in [{min}, {max}]");
            values.Add(value);
        }
        return values;
    }

    /// <summary>A duration such as 90s, 10m, 1h or 0 (a whole number and a unit: s, m or h; 0 needs none).</summary>
    public static TimeSpan Duration(string option, string text)
    {
        string t = text.Trim();
        if (t == "0") return TimeSpan.Zero;
        if (t.Length >= 2 && long.TryParse(t[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n <= 1_000_000)
            switch (t[^1])
            {
                case 's': return TimeSpan.FromSeconds(n);
                case 'm': return TimeSpan.FromMinutes(n);
                case 'h': return TimeSpan.FromHours(n);
            }
        throw new UsageException($"{option}: '{text}' is not a duration such as 90s, 10m or 1h (or 0)");
    }

    public static IReadOnlyList<QueryStrategyKind> Strategies(string text)
    {
        try
        {
            return text.Split(',', StringSplitOptions.TrimEntries).Select(QueryStrategyNames.Parse).ToList();
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--strategies: {e.Message}");
        }
    }

    /// <summary>Comma-separated names, each parsed by <paramref name="parse"/> (which throws ArgumentException for unknown ones).</summary>
    public static IReadOnlyList<T> Names<T>(string option, string text, Func<string, T> parse)
        => Name(option, text, t => t.Split(',', StringSplitOptions.TrimEntries).Select(parse).ToList());

    /// <summary>One name, parsed by <paramref name="parse"/>; its ArgumentException becomes a usage error naming the option.</summary>
    public static T Name<T>(string option, string text, Func<string, T> parse)
    {
        try
        {
            return parse(text);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"{option}: {e.Message}");
        }
    }
}
