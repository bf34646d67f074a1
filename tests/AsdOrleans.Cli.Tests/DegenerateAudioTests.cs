using NAudio.Wave;
using static AsdOrleans.Cli.Tests.CliHarness;

namespace AsdOrleans.Cli.Tests;

/// <summary>
/// `asd embed` on audio that cannot give a usable embedding: float samples that overflow in the downmix, and a machine
/// whose training clips are copies of one recording. Both are bad input (exit 2) named as such, and no CSV is written.
/// </summary>
public sealed class DegenerateAudioTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-degenerate-").FullName;
    private string Plant => Path.Combine(_dir, "plant");
    private string Train => Directory.GetDirectories(Path.Combine(Plant, "dev_data", "raw"))[0] + "/train";

    public async ValueTask InitializeAsync()
    {
        var (code, _, error) = await Run("synth", "--out", Plant, "--machine-types", "1", "--train", "6", "--target-train", "2", "--test", "4", "--seconds", "1", "--seed", "3");
        Assert.True(code == 0, error);
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_dir, recursive: true);
        return ValueTask.CompletedTask;
    }

    [Theory]
    [InlineData("spectral")]
    [InlineData("baseline")]
    public async Task Stereo_float_samples_whose_downmix_overflows_are_refused_naming_the_file(string embedder)
    {
        // Finite samples of ±3e38 in both channels: their sum is ±∞, which used to become a row of NaN with exit 0.
        string wav = Directory.GetFiles(Train, "*.wav").Order(StringComparer.Ordinal).First();
        using (var writer = new WaveFileWriter(wav, WaveFormat.CreateIeeeFloatWaveFormat(16_000, 2)))
            for (int i = 0; i < 2 * 16_000; i++)
                writer.WriteSample((i / 2) % 2 == 0 ? 3e38f : -3e38f);
        string csv = Path.Combine(_dir, "out.csv");
        var (code, _, error) = await Run("embed", "--embedder", embedder, "--raw", "--data", Plant, "--out", csv);
        Assert.True(code == 2, $"exit {code}: {error}");
        Assert.Contains(wav, error, StringComparison.Ordinal);
        Assert.Contains("overflow", error, StringComparison.Ordinal);
        Assert.False(File.Exists(csv));
    }

    [Theory]
    [InlineData("spectral")]
    [InlineData("baseline")]
    public async Task A_machine_whose_training_clips_are_copies_of_one_recording_is_refused_by_name(string embedder)
    {
        var clips = Directory.GetFiles(Train, "*.wav").Order(StringComparer.Ordinal).ToList();
        foreach (var clip in clips.Skip(1))
            File.Copy(clips[0], clip, overwrite: true);
        string machine = Path.GetFileName(Path.GetDirectoryName(Train.TrimEnd('/'))!);
        string csv = Path.Combine(_dir, "out.csv");
        var (code, _, error) = await Run("embed", "--embedder", embedder, "--data", Plant, "--out", csv);
        Assert.True(code == 2, $"exit {code}: {error}");
        Assert.Contains($"machine '{machine}'", error, StringComparison.Ordinal);
        Assert.Contains("do not vary", error, StringComparison.Ordinal);
        Assert.False(File.Exists(csv));
    }
}
