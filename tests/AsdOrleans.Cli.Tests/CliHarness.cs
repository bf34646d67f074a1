using System.CommandLine;
using System.Globalization;
using AsdOrleans.Cli.Commands;
using AsdOrleans.Evaluation.Experiments;

namespace AsdOrleans.Cli.Tests;

/// <summary>Runs `asd …` in-process, with the same subcommands as Program.cs, capturing stdout and stderr.</summary>
internal static class CliHarness
{
    public static async Task<(int Code, string Output, string Error)> Run(params string[] args)
    {
        using var output = new StringWriter(CultureInfo.InvariantCulture);
        return await RunWriting(output, args);
    }

    /// <summary>As <see cref="Run"/>, with stdout going to <paramref name="output"/> (which may, say, interrupt the command).</summary>
    public static async Task<(int Code, string Output, string Error)> RunWriting(StringWriter output, params string[] args)
    {
        var root = new RootCommand("asd — test root");
        foreach (var command in CommandCatalog.All())
            root.Subcommands.Add(command);
        using var error = new StringWriter(CultureInfo.InvariantCulture);
        int code = await CliRunner.RunAsync(root, args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>A small, fast embedding set: 2 machines, d = 8, 48 test clips each.</summary>
    public static SyntheticEmbeddingSettings SmallSettings(ulong seed = 3) => new()
    {
        Machines = 2,
        Dimension = 8,
        SourceTrain = 60,
        TargetTrain = 4,
        TestPerDomainAndLabel = 12,
        Seed = seed,
    };

    public static string WriteSmallEmbeddings(string path, ulong seed = 3)
    {
        SyntheticEmbeddings.Generate(SmallSettings(seed)).Save(path);
        return path;
    }

    /// <summary>A CSV file as rows of fields (no quoting, as the project's CSVs).</summary>
    public static List<string[]> ReadCsv(string path)
        => File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => l.Split(',')).ToList();

    /// <summary>
    /// Every printed interval "[low, high]" lies within what it measures: [0, 1] for a bounded metric or share (printed
    /// unsigned), [−1, 1] for a difference (printed with its sign, + or −).
    /// </summary>
    public static void AssertPrintedIntervalsInBounds(string text)
    {
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(text, @"\[([+−-]?\d+\.\d+), ([+−-]?\d+\.\d+)\]"))
            foreach (var bound in new[] { m.Groups[1].Value, m.Groups[2].Value })
            {
                bool signed = bound[0] is '+' or '−';
                double value = D(bound.Replace('−', '-'));
                Assert.True(signed ? value is >= -1 and <= 1 : value is >= 0 and <= 1, m.Value);
            }
    }

    public static double D(string text) => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>Every file under a folder with its bytes, for "nothing changed" checks.</summary>
    public static Dictionary<string, byte[]> Snapshot(string folder)
        => Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(folder, f), File.ReadAllBytes);
}
