using System.Text.RegularExpressions;
using static AsdOrleans.Cli.Tests.CliHarness;

namespace AsdOrleans.Cli.Tests;

/// <summary>`asd bench scoring` and `asd --help`, in-process.</summary>
public sealed class BenchAndHelpTests
{
    [Fact]
    public async Task BenchScoringReportsBothReferenceSetSizesAndStateBytes()
    {
        var (code, output, error) = await Run("bench", "scoring", "--seconds", "0.05");

        Assert.True(code == 0, $"exit code {code}, stderr: {error}");
        Assert.Equal("", error);
        // Rows: case, J, calls/s, ns/call.
        var rows = output.Split('\n').Select(l => Regex.Match(l, @"\s(\d+)\s+([\d,]+)\s+(\d+)\s*$")).Where(m => m.Success).ToList();
        Assert.Contains(rows, m => m.Groups[1].Value == "42");
        Assert.Contains(rows, m => m.Groups[1].Value == "1000");
        Assert.All(rows, m => Assert.True(long.Parse(m.Groups[2].Value.Replace(",", "")) > 0, m.Value));
        Assert.Contains("state bytes", output);
        Assert.Matches(@"\d[\d,]* bytes", output);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("601")]
    public async Task BenchScoringRejectsImpossibleDurations(string seconds)
    {
        var (code, output, error) = await Run("bench", "scoring", "--seconds", seconds);

        Assert.Equal(CliRunner.BadInput, code);
        Assert.Equal("", output);
        Assert.StartsWith("error: --seconds must be in (0, 600]", error);
    }

    [Fact]
    public async Task BenchScoringReportsTheMeasuringTimeItWasGiven()
    {
        var (code, output, _) = await Run("bench", "scoring", "--seconds", "0.05");

        Assert.Equal(0, code);
        Assert.Contains("0.05 s per case", output);
    }

    [Fact]
    public async Task BenchEmbeddersPrintsEachTrainingFreeEmbeddersCostAgainstTheSpectralOneWithoutModulation()
    {
        var (code, output, error) = await Run("bench", "embedders", "--clip-seconds", "1", "--rounds", "3");

        Assert.True(code == 0, $"exit code {code}, stderr: {error}");
        Assert.Contains("3 alternating rounds", output);
        var tables = output.Replace("\r", "").Split("\n\n");
        Assert.Equal(2, tables.Length);
        var rows = tables[0].Split('\n').Select(l => Regex.Match(l, @"^(.+?)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$")).Where(m => m.Success).ToList();
        Assert.Equal(new[] { "baseline (mean, std)", "spectral without modulation (512)", "spectral (528)" }, rows.Select(m => m.Groups[1].Value.Trim()));
        Assert.All(rows, m => Assert.True(double.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) > 0, m.Value));
        Assert.Equal("1.00", rows[1].Groups[4].Value);
        // The power spectra: one 1-s clip has 32 log-mel frames (1024 points, hop 512, centred) and 247 envelope frames.
        var spectra = tables[1].Split('\n').Select(l => Regex.Match(l, @"^(.+?)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$")).Where(m => m.Success).ToList();
        Assert.Equal(new[] { ("log-mel (1024 points, hop 512)", "32"), ("envelopes (256 points, hop 64)", "247") },
            spectra.Select(m => (m.Groups[1].Value.Trim(), m.Groups[2].Value)));
        Assert.All(spectra, m => Assert.True(double.Parse(m.Groups[4].Value, System.Globalization.CultureInfo.InvariantCulture) > 0, m.Value));

        (code, output, error) = await Run("bench", "embedders", "--rounds", "0");
        Assert.Equal(CliRunner.BadInput, code);
        Assert.StartsWith("error: --rounds must be in [1, 10000]", error);
    }

    [Fact]
    public async Task HelpListsEveryCommand()
    {
        var (code, output, error) = await Run("--help");

        Assert.Equal(0, code);
        Assert.Equal("", error);
        foreach (var command in new[] { "demo", "experiment", "synth-embeddings", "metrics", "bench" })
            Assert.Matches(new Regex($@"^\s+{Regex.Escape(command)}\s", RegexOptions.Multiline), output);
    }
    [Fact]
    public async Task The_experiment_help_states_the_paced_budgets_true_bound()
    {
        // A strategy that always wants a label, under the paced budget: its realised rate after n clips stays within the
        // bound the help states, and reaches above the bound the help once stated (b + (1 − b)/n), so that one was wrong.
        const double b = 0.1;
        var budget = AsdOrleans.Method.Budget.PacedBudget.Start(b);
        int queried = 0;
        bool aboveOldBound = false;
        for (int n = 1; n <= 500; n++)
        {
            bool query = budget.MaySpend(b);
            budget.Commit(query, b, window: 100);
            queried += query ? 1 : 0;
            Assert.True((double)queried / n <= b + (2 - b) / n + 1e-12, $"{queried} of {n} clips");
            aboveOldBound |= (double)queried / n > b + (1 - b) / n;
        }
        Assert.True(aboveOldBound);

        var (code, output, _) = await Run("experiment", "--help");
        Assert.Equal(0, code);
        Assert.Contains("paced: never above b + (2 − b)/n after n clips", output);
    }
}
