using System.CommandLine;
using System.Diagnostics;
using AsdOrleans.Audio.Features;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Model;
using AsdOrleans.Encoder.Training;
using Spectre.Console;

namespace AsdOrleans.Cli.Commands;

/// <summary>`asd train`: trains the encoder on a DCASE-layout data set's training clips.</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "data set root (DCASE layout: dev_data/raw/<machine>/train, …)", Required = true };
        var output = new Option<string>("--out") { Description = "model file to write", Required = true };
        var epochs = new Option<int>("--epochs") { Description = "passes over the training clips", DefaultValueFactory = _ => 20 };
        var batch = new Option<int>("--batch-size") { Description = "clips per step", DefaultValueFactory = _ => 32 };
        var width = new Option<int>("--width") { Description = "channels of the first stage (the paper: 32)", DefaultValueFactory = _ => 32 };
        var dim = new Option<int>("--embedding-dim") { Description = "embedding size (the paper: 128)", DefaultValueFactory = _ => 128 };
        var seconds = new Option<double>("--seconds") { Description = "length of the random training crops", DefaultValueFactory = _ => 2.0 };
        var lr = new Option<double>("--lr") { Description = "AdamW learning rate", DefaultValueFactory = _ => 1e-3 };
        var seed = new Option<ulong>("--seed") { Description = "seed of weights, order and crops", DefaultValueFactory = _ => 0UL };
        var device = new Option<string>("--device") { Description = "auto (CUDA if available), cpu, cuda, cuda:N", DefaultValueFactory = _ => "auto" };
        var command = new Command("train", "train the ResNet18 encoder with sub-center ArcFace over machine type × section × attribute classes; resumes from MODEL.checkpoint")
        {
            data, output, epochs, batch, width, dim, seconds, lr, seed, device,
        };
        command.SetAction((parse, cancellation) =>
        {
            var writer = parse.InvocationConfiguration.Output;
            string modelPath = parse.GetValue(output)!;
            InputChecks.ExistingFolder("--data", parse.GetValue(data)!);
            OutputPaths.CheckFile("--out", modelPath);
            InputChecks.Device("--device", parse.GetValue(device)!);
            EncoderArchitecture architecture;
            TrainingOptions options;
            try
            {
                architecture = new EncoderArchitecture { Width = parse.GetValue(width), EmbeddingDimension = parse.GetValue(dim) }.Validate();
                options = new TrainingOptions
                {
                    Epochs = parse.GetValue(epochs), BatchSize = parse.GetValue(batch), CropSeconds = parse.GetValue(seconds),
                    LearningRate = parse.GetValue(lr), Seed = parse.GetValue(seed), Device = parse.GetValue(device)!,
                    CheckpointPath = modelPath + ".checkpoint",
                }.Validate();
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }
            TorchRuntime.EnsureAvailable();
            var watch = Stopwatch.StartNew();
            string root = parse.GetValue(data)!;
            var clips = AudioData.Scan(root, null, c => !c.IsTest);
            using var model = TrainOn(clips, architecture, options, Path.GetFullPath(root), writer, cancellation);
            model.Save(modelPath);
            File.Delete(options.CheckpointPath!); // the finished model supersedes it
            writer.WriteLine($"wrote {modelPath}: version {model.VersionId}, {model.Info.ParameterCount:N0} parameters, {watch.Elapsed.TotalSeconds:F0} s on {model.Device}");
            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>
    /// Trains on the given training clips, one class per machine type × section × attributes; prints a line per epoch.
    /// <paramref name="dataIdentity"/> names the data in the checkpoint's fingerprint, so a resume never mixes data sets.
    /// </summary>
    public static EncoderModel TrainOn(IReadOnlyList<AsdOrleans.Datasets.Dcase.DcaseClip> clips, EncoderArchitecture architecture, TrainingOptions options,
        string dataIdentity, TextWriter writer, CancellationToken cancellation)
    {
        var classes = clips.Select(c => c.ClassKey).Distinct().Order(StringComparer.Ordinal).ToList();
        if (!OneDnnSwitch.TrainingAvoidsOneDnn)
            writer.WriteLine($"warning: {OneDnnSwitch.KeepVariable}=1: training with oneDNN, which gave NaN gradients on AVX-512 CPUs (docs/decisions.md)");
        writer.WriteLine($"{clips.Count} training clips of {clips.Select(c => c.MachineType).Distinct().Count()} machine types, {classes.Count} classes");
        var samples = Terminal.WithProgress(writer, "reading audio", p => AudioData.Load(clips, p));
        var classIndex = classes.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => x.i);
        var training = clips.Select((c, i) => new TrainingClip(samples[i], classIndex[c.ClassKey])).ToList();
        return Terminal.WithProgress(writer, "training", progress =>
            EncoderTrainer.Train(architecture, LogStftSettings.Paper, classes, training, options, dataIdentity,
                onEpoch: r => writer.WriteLine(r.Resumed
                    ? $"resumed after epoch {r.Epoch}/{r.Epochs} from {options.CheckpointPath}"
                    : $"epoch {r.Epoch}/{r.Epochs}: loss {r.Loss:F4}, accuracy {r.Accuracy:P1}, margin {r.Margin:F3}, {r.Elapsed.TotalSeconds:F1} s"),
                onStep: (step, total, _) => progress((int)step, (int)total), cancellation: cancellation), linesWhenRedirected: true);
    }
}
