using System.Diagnostics;
using System.Text;
using System.Text.Json;
using AsdOrleans.Audio;
using static AsdOrleans.Cli.Tests.CliHarness;

namespace AsdOrleans.Cli.Tests;

/// <summary>
/// What an encoder and training audit found (docs/decisions.md, stop 52): a short clip silently shortened every crop,
/// --width changed the spectrum encoder's version id and nothing else, an edited training block went unnoticed, and a
/// silo started with a model whose weights are damaged.
/// </summary>
public sealed class TrainingAuditTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-training-audit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string[] Tiny =
        ["--epochs", "1", "--batch-size", "4", "--embedding-dim", "8", "--seconds", "2", "--seed", "1", "--device", "cpu"];

    /// <summary>The mini data set's training clips, one of them replaced by a tone of <paramref name="seconds"/>.</summary>
    private (string Root, string ShortClip) DataWithAShortClip(double seconds)
    {
        string root = Path.Combine(_dir, $"data-{seconds}");
        foreach (var file in Directory.EnumerateFiles(SharedData.Dcase2023Mini, "*train*.wav", SearchOption.AllDirectories))
        {
            string target = Path.Combine(root, Path.GetRelativePath(SharedData.Dcase2023Mini, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        string shortClip = Directory.EnumerateFiles(root, "*.wav", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Last();
        var tone = Enumerable.Range(0, (int)(seconds * 16_000)).Select(i => 0.1f * MathF.Sin(i * 0.05f)).ToArray();
        File.WriteAllBytes(shortClip, WavEncoder.EncodeMono16(tone, 16_000));
        return (root, shortClip);
    }

    [Fact]
    public async Task A_short_clip_shortens_the_crop_out_loud_and_a_clip_under_the_floor_is_refused_by_name()
    {
        var (root, shortClip) = DataWithAShortClip(1.5);
        string model = Path.Combine(_dir, "short.asdm");
        var (code, output, error) = await Run(["train", "--data", root, "--out", model, .. Tiny]);
        Assert.True(code == 0, error);
        Assert.Contains($"the crop was shortened from 2 s to 1.5 s by the shortest clip, {shortClip} (1.5 s)", output);
        Assert.Contains("1.5 s crops", output); // the header line shows the crop used, not the one asked for
        (code, output, error) = await Run("model-info", model);
        Assert.True(code == 0, error);
        Assert.Contains("crops 1.5 s (asked 2 s; the shortest clip shortened it)", output);

        (root, shortClip) = DataWithAShortClip(0.5);
        string refused = Path.Combine(_dir, "refused.asdm");
        (code, _, error) = await Run(["train", "--data", root, "--out", refused, .. Tiny]);
        Assert.True(code == 2, $"exit {code}: {error}");
        Assert.Contains($"{shortClip}: a training clip of 0.5 s is shorter than the 1 s training needs", error);
        Assert.False(File.Exists(refused));
    }

    [Fact]
    public async Task Width_is_refused_for_the_spectrum_encoder_and_a_batch_larger_than_the_data_names_batch_size()
    {
        string model = Path.Combine(_dir, "w.asdm");
        // --width used to change the spectrum encoder's version id and nothing else (byte-identical embeddings).
        var (code, output, error) = await Run(["train", "--data", SharedData.Dcase2023Mini, "--out", model, "--width", "4", .. Tiny]);
        Assert.True(code == 2, $"exit {code}: {error}");
        Assert.Contains("--width 4 sets the ResNet's channels, and the spectrum branch (recipe 'spectrum') has no ResNet", error);
        Assert.DoesNotContain("epoch", output);

        (code, _, error) = await Run(["train", "--data", SharedData.Dcase2023Mini, "--out", model, .. Tiny.Select(a => a == "4" ? "64" : a)]);
        Assert.True(code == 2, $"exit {code}: {error}");
        Assert.Contains("14 training clips < batch size 64; give a smaller --batch-size", error);
        Assert.False(File.Exists(model));
    }

    [Fact]
    public async Task An_edited_training_block_is_reported_and_keeps_the_version_id()
    {
        string model = Path.Combine(_dir, "m.asdm");
        var (code, _, error) = await Run(["train", "--data", SharedData.Dcase2023Mini, "--out", model, .. Tiny]);
        Assert.True(code == 0, error);
        (code, var output, error) = await Run("model-info", model);
        Assert.True(code == 0, error);
        Assert.Contains("metadata     training block intact", output);
        Assert.Contains("recipe       spectrum, schedule cosine, mixup 0, weight decay 0.0001, targets attributes", output);
        string version = output.Split('\n').First(l => l.StartsWith("version", StringComparison.Ordinal));

        string text = Encoding.Latin1.GetString(File.ReadAllBytes(model));
        Assert.Contains("\"Seed\": 1,", text, StringComparison.Ordinal);
        File.WriteAllBytes(model, Encoding.Latin1.GetBytes(text.Replace("\"Seed\": 1,", "\"Seed\": 7,")));
        (code, output, error) = await Run("model-info", model);
        Assert.True(code == 0, error); // the weights are whole: the model still loads, under its version id
        Assert.Contains(version, output);
        Assert.Contains("metadata     edited: the training block does not match its checksum", output);
        (code, output, _) = await Run("model-info", model, "--json");
        Assert.Equal(0, code);
        Assert.Equal("edited", JsonDocument.Parse(output).RootElement.GetProperty("TrainingBlock").GetString());
    }

    [Fact]
    public async Task A_silo_refuses_a_model_with_damaged_weights_at_start_as_model_info_does()
    {
        string model = Path.Combine(_dir, "flip.asdm");
        var (code, _, error) = await Run(["train", "--data", SharedData.Dcase2023Mini, "--out", model, .. Tiny]);
        Assert.True(code == 0, error);
        byte[] bytes = File.ReadAllBytes(model);
        for (int i = 1; i <= 4; i++) bytes[^(i * 101)] ^= 0x5A; // four bytes of the weights; the header still reads
        File.WriteAllBytes(model, bytes);
        (code, _, var expected) = await Run("model-info", model);
        Assert.Equal(2, code);
        Assert.Contains("does not match the weights", expected);

        // A process, stopped after a minute: a silo that starts (as it used to, healthy, answering every enrollment 500) runs on.
        var start = new ProcessStartInfo("dotnet",
        [
            Path.Combine(AppContext.BaseDirectory, "asd.dll"), "silo", "--model", model, "--data-dir", Path.Combine(_dir, "silo-data"),
            "--urls", $"http://127.0.0.1:{Silo.SiloApp.FreeLoopbackPort()}",
            "--silo-port", Silo.SiloApp.FreeLoopbackPort().ToString(), "--gateway-port", Silo.SiloApp.FreeLoopbackPort().ToString(),
        ])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        using var silo = Process.Start(start)!;
        var output = silo.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var errors = silo.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            await silo.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            silo.Kill(entireProcessTree: true);
            Assert.Fail($"the silo started with damaged weights: {await output}");
        }
        Assert.True(silo.ExitCode == 2, $"exit {silo.ExitCode}: {await output}{await errors}");
        Assert.Equal(expected.Trim(), (await errors).Trim());
        Assert.DoesNotContain("silo up", await output);
    }
}
