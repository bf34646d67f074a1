using System.CommandLine;
using AsdOrleans.Cli.Demo;
using AsdOrleans.Encoder;

namespace AsdOrleans.Cli.Commands;

/// <summary>
/// `asd demo`: the product on one machine — a synthetic plant, the training-free spectral embedder, an embedded silo, enrollment and
/// streaming with an oracle annotator, then AUC/pAUC without and with active learning (see <see cref="DemoRun"/>).
/// </summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var d = new DemoSettings();
        var outDir = new Option<string>("--out") { Description = "demo folder: the plant and the encoder are cached there and reused", DefaultValueFactory = _ => Path.Combine("out", "demo") };
        var keepRunning = new Option<bool>("--keep-running") { Description = "leave the silo (HTTP API and dashboard) up until Ctrl+C" };
        var machineTypes = new Option<int>("--machine-types") { Description = "synthetic machine types", DefaultValueFactory = _ => d.MachineTypes };
        var perType = new Option<int>("--machines-per-type") { Description = "machines of each type, each in its own factory", DefaultValueFactory = _ => d.MachinesPerType };
        var train = new Option<int>("--train") { Description = "source-domain training clips per machine", DefaultValueFactory = _ => d.SourceTrain };
        var targetTrain = new Option<int>("--target-train") { Description = "target-domain training clips per machine", DefaultValueFactory = _ => d.TargetTrain };
        var test = new Option<int>("--test") { Description = "test clips streamed per machine (a multiple of 4)", DefaultValueFactory = _ => d.Test };
        var seconds = new Option<double>("--seconds") { Description = "clip length in seconds", DefaultValueFactory = _ => d.Seconds };
        var embedder = new Option<string>("--embedder") { Description = "spectral (training-free log-mel statistics, whitened per machine) or model (train an encoder on the plant first)", DefaultValueFactory = _ => d.Embedder };
        var recipe = new Option<string>("--recipe") { Description = "with --embedder model, the encoder recipe (asd train --recipe): spectrum, or resnet-issue3 (the demo before issue 11, with --epochs 10)", DefaultValueFactory = _ => d.Recipe };
        var width = new Option<int>("--width") { Description = "ResNet width with --recipe resnet-issue3 (the paper: 32)", DefaultValueFactory = _ => d.Width };
        var epochs = new Option<int>("--epochs") { Description = "encoder training epochs", DefaultValueFactory = _ => d.Epochs };
        var strategy = new Option<string>("--strategy") { Description = "query strategy of the active-learning machines", DefaultValueFactory = _ => d.Strategy };
        var budget = new Option<double>("--budget") { Description = "labelling budget b", DefaultValueFactory = _ => d.Budget };
        var seed = new Option<ulong>("--seed") { Description = "seed of the plant, the encoder and the streams", DefaultValueFactory = _ => d.Seed };
        var command = new Command("demo", "run the product on this machine: synthetic plant, spectral embedder (no training; --embedder model trains a small encoder), embedded silo, streaming with an oracle annotator, AUC/pAUC without and with active learning")
        {
            outDir, keepRunning, machineTypes, perType, train, targetTrain, test, seconds, embedder, recipe, width, epochs, strategy, budget, seed,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            DemoSettings settings;
            try
            {
                settings = new DemoSettings
                {
                    MachineTypes = parse.GetValue(machineTypes), MachinesPerType = parse.GetValue(perType),
                    SourceTrain = parse.GetValue(train), TargetTrain = parse.GetValue(targetTrain), Test = parse.GetValue(test),
                    Seconds = parse.GetValue(seconds), Embedder = parse.GetValue(embedder)!, Recipe = parse.GetValue(recipe)!, Width = parse.GetValue(width), Epochs = parse.GetValue(epochs),
                    Strategy = parse.GetValue(strategy)!, Budget = parse.GetValue(budget), Seed = parse.GetValue(seed),
                }.Validate();
                // As asd train: a width the recipe has no ResNet for would change the encoder's version id, not the encoder.
                if (parse.GetResult(width) is { Implicit: false } && settings.TrainsEncoder
                    && AsdOrleans.Encoder.Training.TrainingRecipe.Named(settings.Recipe).Branches == AsdOrleans.Encoder.Model.EncoderBranches.Spectrum)
                    throw new ArgumentException($"--width sets the ResNet's channels, and the {settings.Recipe} recipe has no ResNet: drop --width, or use --recipe {AsdOrleans.Encoder.Training.TrainingRecipe.ResNetIssue3.Name}");
            }
            catch (ArgumentException e)
            {
                throw new UsageException(SynthCommand.SpellOptions(e.Message));
            }
            string output = parse.GetValue(outDir)!;
            OutputPaths.CheckFolder("--out", output);
            if (settings.TrainsEncoder) TorchRuntime.EnsureAvailable();
            return await DemoRun.RunAsync(settings, output, parse.GetValue(keepRunning), parse.InvocationConfiguration.Output, cancellation);
        });
        return command;
    }
}
