using System.Diagnostics;
using AsdOrleans.Cli.Commands;
using AsdOrleans.Datasets.Dcase;
using AsdOrleans.Method.Io;
using AsdOrleans.Method.Randomness;
using AsdOrleans.Datasets.Synthesis;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Model;
using AsdOrleans.Encoder.Training;

namespace AsdOrleans.Cli.Demo;

/// <summary>One monitored machine of the demo plant: its id and its DCASE-layout clips.</summary>
public sealed record DemoMachine(string Id, int Instance, string MachineType, IReadOnlyList<DcaseClip> TrainingClips, IReadOnlyList<DcaseClip> TestClips)
{
    /// <summary>The same machine's twin that never asks for labels: the offline model the demo compares against.</summary>
    public string OfflineId => Id + ".offline";
}

/// <summary>
/// The demo's synthetic plant (one `asd synth` data set per machine instance, so each machine has its own factory)
/// and its encoder, both cached in the demo folder and reused while their settings stay the same.
/// </summary>
public static class DemoPlant
{
    private const string FingerprintFile = "demo-settings.txt";

    public static IReadOnlyList<DemoMachine> Prepare(DemoSettings settings, string folder, TextWriter writer, CancellationToken cancellation)
    {
        string plantFolder = Path.Combine(folder, "plant");
        if (ReadFingerprint(plantFolder) == settings.PlantFingerprint)
            writer.WriteLine($"plant: reusing {plantFolder}");
        else
        {
            var watch = Stopwatch.StartNew();
            if (Directory.Exists(plantFolder)) Directory.Delete(plantFolder, recursive: true);
            for (int instance = 1; instance <= settings.MachinesPerType; instance++)
            {
                var plan = SynthPlan.Create(settings.Plant(instance));
                Terminal.WithProgress(writer, $"synthesising machines #{instance}", progress =>
                    SynthDataset.Write(plan, InstanceFolder(plantFolder, instance), new SynthWriteOptions
                    {
                        Progress = progress,
                        Cancellation = cancellation,
                        CommandLine = SynthCommand.CommandLine(InstanceFolder(plantFolder, instance), plan.Settings),
                    }), linesWhenRedirected: true);
            }
            AtomicFile.WriteAllText(Path.Combine(plantFolder, FingerprintFile), settings.PlantFingerprint + "\n");
            writer.WriteLine($"plant: {settings.MachineTypes} machine types × {settings.MachinesPerType} machines, " +
                             $"{settings.SourceTrain}+{settings.TargetTrain} training and {settings.Test} test clips of {settings.Seconds:0.##} s each, " +
                             $"written in {watch.Elapsed.TotalSeconds:F1} s");
        }

        var machines = new List<DemoMachine>();
        for (int instance = 1; instance <= settings.MachinesPerType; instance++)
        {
            var clips = DcaseDataset.Scan(InstanceFolder(plantFolder, instance), null);
            foreach (var type in clips.Select(c => c.MachineType).Distinct().Order(StringComparer.Ordinal))
                machines.Add(new DemoMachine($"demo.{type}-{instance}", instance, type,
                    clips.Where(c => c.MachineType == type && !c.IsTest).ToList(),
                    clips.Where(c => c.MachineType == type && c.IsTest).ToList()));
        }
        return machines.OrderBy(m => m.Id, StringComparer.Ordinal).ToList();
    }

    /// <summary>Trains the encoder on every machine's training clips, or reuses the cached one.</summary>
    public static string EnsureModel(DemoSettings settings, string folder, IReadOnlyList<DemoMachine> machines, TextWriter writer, CancellationToken cancellation)
    {
        string modelPath = Path.Combine(folder, "model.asdm");
        string fingerprintPath = modelPath + ".settings.txt";
        if (File.Exists(modelPath) && File.Exists(fingerprintPath) && File.ReadAllText(fingerprintPath).Trim() == settings.ModelFingerprint)
        {
            writer.WriteLine($"encoder: reusing {modelPath} (version {EncoderModel.ReadInfo(modelPath).VersionId})");
            return modelPath;
        }
        var watch = Stopwatch.StartNew();
        var recipe = TrainingRecipe.Named(settings.Recipe);
        var architecture = new EncoderArchitecture { Width = settings.Width, Branches = recipe.Branches }.Validate();
        var options = new TrainingOptions
        {
            Epochs = settings.Epochs, BatchSize = settings.BatchSize, Seed = settings.Seed,
            // The spectrum branch sees whole clips (its recipe's 8 s crops, clamped to the demo's 2 s clips).
            CropSeconds = recipe.Branches == EncoderBranches.Spectrum ? recipe.CropSeconds : settings.CropSeconds,
            LearningRate = recipe.LearningRate, Schedule = recipe.Schedule, MixupProbability = recipe.Mixup,
            // Named by the settings: an interrupted demo resumes its own training, never another configuration's.
            CheckpointPath = Path.Combine(folder, $"model-{RandomState.StableHash(settings.ModelFingerprint):x16}.checkpoint"),
        }.Validate();
        foreach (var stale in Directory.EnumerateFiles(folder, "model-*.checkpoint").Where(f => Path.GetFullPath(f) != Path.GetFullPath(options.CheckpointPath!)))
            File.Delete(stale);
        writer.WriteLine(recipe.Branches == EncoderBranches.Spectrogram
            ? $"encoder: training a width-{settings.Width} ResNet18 with sub-center ArcFace for {settings.Epochs} epochs…"
            : $"encoder: training the {recipe.Name} encoder ({recipe.Branches.ToString().ToLowerInvariant()} branch) with sub-center ArcFace for {settings.Epochs} epochs…");
        // The plant's training clips in data-set order (instance by instance, types as scanned), as Prepare found them.
        var clips = machines.OrderBy(m => m.Instance).ThenBy(m => m.MachineType, StringComparer.Ordinal).SelectMany(m => m.TrainingClips).ToList();
        using var model = TrainCommand.TrainOn(clips, architecture, options, settings.ModelFingerprint, writer, cancellation);
        File.Delete(fingerprintPath);
        model.Save(modelPath);
        File.Delete(options.CheckpointPath!);
        AtomicFile.WriteAllText(fingerprintPath, settings.ModelFingerprint + "\n");
        writer.WriteLine($"encoder: version {model.VersionId}, {model.Info.ParameterCount:N0} parameters, trained in {watch.Elapsed.TotalSeconds:F0} s");
        return modelPath;
    }

    private static string InstanceFolder(string plantFolder, int instance) => Path.Combine(plantFolder, $"machines-{instance}");

    private static string? ReadFingerprint(string plantFolder)
    {
        string path = Path.Combine(plantFolder, FingerprintFile);
        return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
    }
}
