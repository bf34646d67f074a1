using static AsdOrleans.Cli.Tests.CliHarness;

namespace AsdOrleans.Cli.Tests;

/// <summary>`asd synth`, in-process.</summary>
public sealed class SynthCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-synth-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string[] Small = ["--machine-types", "2", "--train", "4", "--target-train", "1", "--test", "4", "--seconds", "0.25", "--seed", "3"];

    /// <summary>`asd synth --out folder` with the small settings; an option in <paramref name="extra"/> replaces the small value.</summary>
    private static Task<(int Code, string Output, string Error)> Synth(string folder, params string[] extra)
    {
        var args = new List<string> { "synth", "--out", folder };
        for (int i = 0; i < Small.Length; i += 2)
            if (!extra.Contains(Small[i]))
                args.AddRange([Small[i], Small[i + 1]]);
        args.AddRange(extra);
        return Run([.. args]);
    }

    [Fact]
    public async Task IsListedInHelp()
    {
        var (code, output, _) = await Run("--help");
        Assert.Equal(0, code);
        Assert.Contains("synth", output.Replace("synth-embeddings", "", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WritesTheDataSetAndOneLineSummary()
    {
        string folder = Path.Combine(_dir, "data");

        var (code, output, error) = await Synth(folder);

        Assert.True(code == 0, $"exit code {code}, stderr: {error}");
        Assert.Equal("", error);
        Assert.Matches(@"^wrote 18 clips \(4\.5 s of audio, 2 machine types\) to .*dev_data in \d+\.\d s\r?\n$", output);
        foreach (var machine in new[] { "synth-fan", "synth-pump" })
        {
            Assert.Equal(5, Directory.GetFiles(Path.Combine(folder, "dev_data", "raw", machine, "train"), "*.wav").Length);
            Assert.Equal(4, Directory.GetFiles(Path.Combine(folder, "dev_data", "raw", machine, "test"), "*.wav").Length);
        }
        string readme = File.ReadAllText(Path.Combine(folder, "README.md"));
        Assert.Contains($"asd synth --out {folder} --machine-types 2 --train 4 --target-train 1 --test 4 --seconds 0.25 --seed 3", readme);
        Assert.Equal(19, File.ReadAllLines(Path.Combine(folder, "synth_clips.csv")).Length);
    }

    [Fact]
    public async Task RecurringFaultsChangeOnlyTheAnomaliesAndTheReadmeSaysSo()
    {
        string perClip = Path.Combine(_dir, "per-clip"), recurring = Path.Combine(_dir, "recurring");
        Assert.Equal(0, (await Synth(perClip, "--test", "16")).Code);
        var (code, _, error) = await Synth(recurring, "--test", "16", "--faults", "recurring");
        Assert.True(code == 0, error);

        var wavs = Directory.GetFiles(perClip, "*.wav", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(perClip, f)).Order().ToList();
        Assert.Equal(wavs, Directory.GetFiles(recurring, "*.wav", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(recurring, f)).Order());
        foreach (string wav in wavs)
        {
            bool same = File.ReadAllBytes(Path.Combine(perClip, wav)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(recurring, wav)));
            Assert.True(same != wav.Contains("_anomaly_", StringComparison.Ordinal), $"{wav}: same bytes {same}");
        }
        string readme = File.ReadAllText(Path.Combine(recurring, "README.md"));
        Assert.Contains("--seed 3 --faults recurring", readme);
        Assert.Contains("| fault conditions | recurring", readme);
        Assert.DoesNotContain("--faults", File.ReadAllText(Path.Combine(perClip, "README.md")));
    }

    [Fact]
    public async Task TheCommandInTheReadmeReproducesTheFiles()
    {
        string a = Path.Combine(_dir, "a"), b = Path.Combine(_dir, "b");
        Assert.Equal(0, (await Synth(a, "--threads", "1")).Code);
        Assert.Equal(0, (await Synth(b, "--threads", "2")).Code);

        var wavs = Directory.GetFiles(a, "*.wav", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a, f)).Order().ToList();
        Assert.Equal(wavs, Directory.GetFiles(b, "*.wav", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(b, f)).Order());
        Assert.All(wavs, f => Assert.Equal(File.ReadAllBytes(Path.Combine(a, f)), File.ReadAllBytes(Path.Combine(b, f))));
    }

    [Theory]
    [InlineData("--machine-types", "0", "--machine-types must be between 1 and 7, got 0")]
    [InlineData("--machine-types", "8", "--machine-types must be between 1 and 7, got 8")]
    [InlineData("--train", "0", "--train must be at least 1, got 0")]
    [InlineData("--target-train", "-1", "--target-train must be at least 0, got -1")]
    [InlineData("--target-train", "9999", "--train + --target-train must be at most 10000")]
    [InlineData("--test", "6", "--test must be a positive multiple of 4")]
    [InlineData("--test", "0", "--test must be a positive multiple of 4")]
    [InlineData("--seconds", "0", "--seconds must be in [0.05, 60] (a clip shorter than 0.05 s is too short for the features), got 0")]
    [InlineData("--seconds", "0.01", "--seconds must be in [0.05, 60]")]
    [InlineData("--seconds", "61", "--seconds must be in [0.05, 60] (a clip shorter than 0.05 s is too short for the features), got 61")]
    [InlineData("--threads", "0", "--threads must be at least 1, got 0")]
    [InlineData("--train", "many", "many")]
    [InlineData("--seconds", "NaN", "--seconds must be in [0.05, 60] (a clip shorter than 0.05 s is too short for the features), got NaN")]
    [InlineData("--faults", "sometimes", "--faults: unknown fault conditions 'sometimes'; known: per-clip, recurring, recurring-fixed-severity")]
    public async Task BadParametersExitWithTwoAndCreateNothing(string option, string value, string problem)
    {
        string folder = Path.Combine(_dir, "data");

        var (code, output, error) = await Synth(folder, option, value);

        Assert.True(code == CliRunner.BadInput, $"{option} {value}: exit code {code}, stderr: {error}");
        Assert.Equal("", output);
        Assert.StartsWith("error: ", error);
        Assert.Contains(problem, error);
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public async Task AnExistingDataSetIsRefusedWithoutForce()
    {
        string folder = Path.Combine(_dir, "data");
        Assert.Equal(0, (await Synth(folder)).Code);
        var before = Snapshot(folder);

        var (code, output, error) = await Synth(folder, "--seed", "4");

        Assert.Equal(CliRunner.BadInput, code);
        Assert.Equal("", output);
        Assert.Contains($"--out: '{folder}' already holds dev_data, README.md, synth_clips.csv; pass --force to replace them", error);
        var after = Snapshot(folder);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        Assert.All(before, kv => Assert.Equal(kv.Value, after[kv.Key]));

        var forced = await Synth(folder, "--seed", "4", "--force");

        Assert.True(forced.Code == 0, forced.Error);
        Assert.Contains("seed 4", File.ReadAllText(Path.Combine(folder, "README.md")));
        var replaced = Snapshot(folder);
        Assert.Equal(before.Count, replaced.Count); // the new seed draws other attributes, so other file names
        Assert.NotEqual(before.Keys.Order(), replaced.Keys.Order());
        Assert.Single(Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public async Task OutAtAFileIsAUsageError()
    {
        string file = Path.Combine(_dir, "taken");
        File.WriteAllText(file, "not a folder\n");

        var (code, _, error) = await Synth(file);

        Assert.Equal(CliRunner.BadInput, code);
        Assert.StartsWith("error: --out: ", error);
        Assert.Equal("not a folder\n", File.ReadAllText(file));
        Assert.Single(Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public async Task OutBelowAFileIsAUsageError()
    {
        string file = Path.Combine(_dir, "taken");
        File.WriteAllText(file, "not a folder\n");

        var (code, _, error) = await Synth(Path.Combine(file, "data"));

        Assert.Equal(CliRunner.BadInput, code);
        Assert.Contains("is a file", error);
        Assert.Single(Directory.GetFileSystemEntries(_dir));
    }
}
