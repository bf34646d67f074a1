using System.Text.Json;
using AsdOrleans.Evaluation.Experiments;

namespace AsdOrleans.Cli.Tests;

/// <summary>`train`, `model-info` and `embed` on the 28 real DCASE 2023 clips, with a tiny encoder.</summary>
public sealed class EncoderCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-encoder-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Mini => SharedData.Dcase2023Mini;

    private static readonly string[] TinyTraining =
        ["--epochs", "2", "--batch-size", "4", "--embedding-dim", "16", "--seconds", "0.5", "--seed", "1", "--device", "cpu"];

    [Fact]
    public async Task Train_then_model_info_then_embed_on_real_clips()
    {
        string model = Path.Combine(_dir, "tiny.asdm");
        var (code, output, error) = await CliHarness.Run(["train", "--data", Mini, "--out", model, .. TinyTraining]);
        Assert.True(code == 0, error);
        Assert.Contains("14 training clips of 7 machine types", output);
        Assert.Contains("epoch 2/2", output);
        Assert.True(File.Exists(model));
        Assert.False(File.Exists(model + ".checkpoint"), "a finished training removes its checkpoint");

        (code, output, error) = await CliHarness.Run("model-info", model);
        Assert.True(code == 0, error);
        Assert.Contains("version      enc-", output);
        Assert.Contains("16-d", output);
        (code, output, _) = await CliHarness.Run("model-info", model, "--json");
        using var json = JsonDocument.Parse(output);
        // The training block says how to train it again (it used to lack the recipe, schedule, mixup, weight decay, targets,
        // command line, software and a hash of the data), and its checksum says nobody edited it.
        var training = json.RootElement.GetProperty("Training");
        Assert.Equal("spectrum", training.GetProperty("Recipe").GetString());
        Assert.Equal("cosine", training.GetProperty("Schedule").GetString());
        Assert.Equal(0, training.GetProperty("Mixup").GetDouble());
        Assert.Equal(1e-4, training.GetProperty("WeightDecay").GetDouble());
        Assert.Equal("attributes", training.GetProperty("Targets").GetString());
        Assert.Equal($"asd train --data {Mini} --out {model} {string.Join(" ", TinyTraining)}", training.GetProperty("CommandLine").GetString());
        Assert.False(string.IsNullOrEmpty(training.GetProperty("Software").GetString()));
        Assert.Matches("^[0-9a-f]{64}$", training.GetProperty("DataSha256").GetString());
        Assert.Equal("intact", json.RootElement.GetProperty("TrainingBlock").GetString());
        Assert.Equal(12, json.RootElement.GetProperty("Classes").GetArrayLength()); // 14 clips, two attribute strings repeat

        string embeddings = Path.Combine(_dir, "emb.csv");
        (code, output, error) = await CliHarness.Run("embed", "--model", model, "--data", Mini, "--out", embeddings, "--device", "cpu");
        Assert.True(code == 0, error);
        var table = EmbeddingTable.Load(embeddings);
        Assert.Equal(28, table.Records.Count);
        Assert.Equal(16, table.Dimension);
        Assert.Equal(7, table.Machines.Count);
        Assert.Equal(5, table.Records.Count(r => r.IsAnomaly));
        Assert.Contains(table.Records, r => r.Machine == "ToyCar" && r.File == "section_00_source_train_normal_0362_car_C2_spd_31V_mic_1.wav");

        // Too few test clips per machine for an experiment: a clear error, not a crash.
        (code, _, error) = await CliHarness.Run("experiment", "--embeddings", embeddings, "--out", Path.Combine(_dir, "run"), "--trials", "1");
        Assert.Equal(2, code);
        Assert.Contains("needs normal and anomalous test clips", error);
    }

    /// <summary>Interrupts the command (as Ctrl-C does) once it prints a line containing <paramref name="marker"/>.</summary>
    private sealed class InterruptAtLine(string marker) : StringWriter(System.Globalization.CultureInfo.InvariantCulture)
    {
        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value?.Contains(marker, StringComparison.Ordinal) == true)
                throw new OperationCanceledException();
        }
    }

    [Fact]
    public async Task Train_refuses_an_existing_model_without_force_and_an_interrupted_training_still_resumes()
    {
        string model = Path.Combine(_dir, "resume.asdm");
        string[] train = ["train", "--data", Mini, "--out", model, .. TinyTraining];
        // Interrupted after epoch 1, whose checkpoint is written before its line is printed.
        using (var interrupting = new InterruptAtLine("epoch 1/2:"))
        {
            var (stopped, _, stopError) = await CliHarness.RunWriting(interrupting, train);
            Assert.True(stopped == CliRunner.Cancelled, $"exit {stopped}: {stopError}");
            Assert.Contains($"interrupted; rerun the same command to resume from {model}.checkpoint", stopError); // it used to exit 130 without a word
        }
        Assert.True(File.Exists(model + ".checkpoint"));
        Assert.False(File.Exists(model));

        // The checkpoint is not an existing --out: the same command resumes without --force.
        var (code, output, error) = await CliHarness.Run(train);
        Assert.True(code == 0, error);
        Assert.Contains("resumed after epoch 1/2", output);
        byte[] trained = File.ReadAllBytes(model);

        // A finished model is not replaced without a word (it used to be).
        (code, output, error) = await CliHarness.Run(train);
        Assert.Equal(2, code);
        Assert.Contains($"--out: '{model}' exists; pass --force to replace it", error);
        Assert.DoesNotContain("epoch", output);
        Assert.Equal(trained, File.ReadAllBytes(model));
        (code, output, error) = await CliHarness.Run([.. train, "--force"]);
        Assert.True(code == 0, error);
        Assert.Contains("epoch 2/2", output);
    }

    [Fact]
    public async Task Bad_inputs_are_clear_errors_and_write_nothing()
    {
        string model = Path.Combine(_dir, "m.asdm");
        var (code, _, error) = await CliHarness.Run(["train", "--data", Path.Combine(_dir, "nowhere"), "--out", model, .. TinyTraining]);
        Assert.Equal(2, code);
        Assert.Contains("is not a folder", error);
        (code, _, error) = await CliHarness.Run(["train", "--data", Mini, "--out", model, .. TinyTraining.Select(a => a == "4" ? "1" : a)]);
        Assert.Equal(2, code);
        Assert.Contains("batch size", error);
        Assert.False(File.Exists(model));

        File.WriteAllText(model, "not a model");
        (code, _, error) = await CliHarness.Run("model-info", model);
        Assert.Equal(2, code);
        Assert.Contains("not an AsdOrleans encoder model", error);
        (code, _, error) = await CliHarness.Run("embed", "--model", model, "--data", Mini, "--out", Path.Combine(_dir, "e.csv"));
        Assert.Equal(2, code);
        Assert.False(File.Exists(Path.Combine(_dir, "e.csv")));

        // A damaged WAV in the data set names itself, and no model is written.
        string data = Path.Combine(_dir, "data");
        foreach (var file in Directory.EnumerateFiles(Mini, "*.wav", SearchOption.AllDirectories))
        {
            string target = Path.Combine(data, Path.GetRelativePath(Mini, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        string broken = Directory.EnumerateFiles(data, "*train*.wav", SearchOption.AllDirectories).Order().First();
        File.WriteAllBytes(broken, File.ReadAllBytes(broken).AsSpan(0, 2_000).ToArray());
        string model2 = Path.Combine(_dir, "m2.asdm");
        (code, _, error) = await CliHarness.Run(["train", "--data", data, "--out", model2, .. TinyTraining]);
        Assert.Equal(2, code);
        Assert.Contains(Path.GetFileName(broken), error);
        Assert.False(File.Exists(model2));
    }
}
