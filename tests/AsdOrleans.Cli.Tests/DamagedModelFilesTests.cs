using System.Text;
using static AsdOrleans.Cli.Tests.CliHarness;

namespace AsdOrleans.Cli.Tests;

/// <summary>
/// `asd train` and `asd model-info` on settings and files that cannot work: a 1-d embedding, a truncated or edited model
/// file (a truncated checkpoint: TrainingTests). Each is bad input (exit 2) that says what is wrong, not a NaN blamed on --lr or a
/// damaged model described as if it were whole.
/// </summary>
public sealed class DamagedModelFilesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-damaged-model-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Mini => SharedData.Dcase2023Mini;

    private static readonly string[] Tiny =
        ["--epochs", "1", "--batch-size", "4", "--embedding-dim", "8", "--seconds", "0.5", "--seed", "1", "--device", "cpu"];

    [Fact]
    public async Task A_one_dimensional_embedding_is_refused_up_front_naming_the_option()
    {
        string model = Path.Combine(_dir, "d1.asdm");
        var (code, _, error) = await Run(["train", "--data", Mini, "--out", model, .. Tiny.Select(a => a == "8" ? "1" : a)]);
        Assert.True(code == 2, $"exit {code}: {error}");
        Assert.Contains("--embedding-dim must be at least 2", error, StringComparison.Ordinal);
        Assert.DoesNotContain("--lr", error, StringComparison.Ordinal);
        Assert.False(File.Exists(model) || File.Exists(model + ".checkpoint"));
    }

    [Fact]
    public async Task Model_info_refuses_a_truncated_or_edited_model_file_as_embed_does()
    {
        string model = Path.Combine(_dir, "tiny.asdm");
        var (code, _, error) = await Run(["train", "--data", Mini, "--out", model, .. Tiny]);
        Assert.True(code == 0, error);
        byte[] whole = File.ReadAllBytes(model);

        // model-info used to read only the header: a cut file printed full metadata with exit 0.
        string cut = Path.Combine(_dir, "cut.asdm");
        File.WriteAllBytes(cut, whole[..(whole.Length - 1000)]);
        (code, var output, error) = await Run("model-info", cut);
        Assert.True(code == 2, $"exit {code}: {output}{error}");
        Assert.Contains(cut, error, StringComparison.Ordinal);
        Assert.Contains("damaged", error, StringComparison.Ordinal);

        // …and an edited format version printed "(format 9)".
        string edited = Path.Combine(_dir, "v9.asdm");
        string text = Encoding.Latin1.GetString(whole);
        Assert.Contains("\"FormatVersion\": 1", text, StringComparison.Ordinal);
        File.WriteAllBytes(edited, Encoding.Latin1.GetBytes(text.Replace("\"FormatVersion\": 1", "\"FormatVersion\": 9")));
        (code, output, error) = await Run("model-info", edited);
        Assert.True(code == 2, $"exit {code}: {output}{error}");
        Assert.Contains("model format 9", error, StringComparison.Ordinal);
        (code, _, _) = await Run("model-info", model);
        Assert.Equal(0, code);
    }
}
