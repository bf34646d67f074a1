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
        var output = new Option<string>("--out") { Description = "model file to write (an existing file needs --force); an interrupted training resumes from MODEL.checkpoint", Required = true };
        var force = new Option<bool>("--force") { Description = "replace an existing --out; a training interrupted while replacing one resumes when rerun with --force" };
        var recipe = new Option<string>("--recipe") { Description = $"named recipe whose settings are the defaults of the options below: {string.Join(", ", TrainingRecipe.All.Select(r => r.Name))} (docs/decisions.md, issue 11)", DefaultValueFactory = _ => TrainingRecipe.Default.Name };
        var branches = new Option<string?>("--branches") { Description = "spectrogram (ResNet over log-STFT frames), spectrum (the clip's mean/std log spectrum, 1-D convs) or both (half each); default: the recipe's" };
        var epochs = new Option<int?>("--epochs") { Description = "passes over the training clips (default: the recipe's)" };
        var batch = new Option<int?>("--batch-size") { Description = "clips per step (default: the recipe's)" };
        var width = new Option<int?>("--width") { Description = "channels of the ResNet's first stage (the paper: 32; default: the recipe's)" };
        var dim = new Option<int>("--embedding-dim") { Description = "embedding size, at least 2 (the paper: 128)", DefaultValueFactory = _ => 128 };
        var seconds = new Option<double?>("--seconds") { Description = "length of the random training crops (default: the recipe's)" };
        var lr = new Option<double?>("--lr") { Description = "AdamW (peak) learning rate (default: the recipe's)" };
        var mixup = new Option<double?>("--mixup") { Description = "share of steps trained on mixed clips, λ uniform (default: the recipe's)" };
        var targets = new Option<string>("--targets") { Description = "classes: attributes (machine type × section × attributes), machines (type × section), or clips (every training clip its own class)", DefaultValueFactory = _ => "attributes" };
        var schedule = new Option<string?>("--schedule") { Description = "learning-rate schedule: constant or cosine (default: the recipe's)" };
        var seed = new Option<ulong>("--seed") { Description = "seed of weights, order and crops", DefaultValueFactory = _ => 0UL };
        var device = new Option<string>("--device") { Description = "auto (CUDA if available), cpu, cuda, cuda:N", DefaultValueFactory = _ => "auto" };
        var command = new Command("train", "train the encoder with sub-center ArcFace over machine type × section × attribute classes; resumes from MODEL.checkpoint")
        {
            data, output, force, recipe, branches, epochs, batch, width, dim, seconds, lr, schedule, mixup, targets, seed, device,
        };
        command.SetAction((parse, cancellation) =>
        {
            var writer = parse.InvocationConfiguration.Output;
            string modelPath = parse.GetValue(output)!;
            InputChecks.ExistingFolder("--data", parse.GetValue(data)!);
            OutputPaths.CheckFile("--out", modelPath);
            InputChecks.Device("--device", parse.GetValue(device)!);
            if (parse.GetValue(dim) is var d and < 2)
                throw new UsageException($"--embedding-dim must be at least 2, got {d}: in one dimension every cosine is ±1 and the ArcFace margin has no finite gradient, so training could not take a step");
            // The checkpoint is not --out: a training interrupted before it wrote the model resumes without --force.
            string checkpointPath = modelPath + ".checkpoint";
            OutputPaths.CheckReplace("--out", modelPath, parse.GetValue(force),
                File.Exists(checkpointPath) ? $" ({checkpointPath} is there too: with --force, the training that wrote it resumes from it when the data and settings are the same; other settings are refused until it is deleted)" : null);
            EncoderArchitecture architecture;
            TrainingOptions options;
            string recipeName;
            try
            {
                var r = TrainingRecipe.Named(parse.GetValue(recipe)!);
                var branchName = parse.GetValue(branches);
                var chosenBranches = branchName is null ? r.Branches
                    : Enum.TryParse<EncoderBranches>(branchName, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed) && !int.TryParse(branchName, out _) ? parsed
                    : throw new ArgumentException($"--branches must be spectrogram, spectrum or both, got '{branchName}'");
                // The spectrum branch has no ResNet: a width would change the version id and nothing else.
                if (parse.GetValue(width) is { } givenWidth && chosenBranches == EncoderBranches.Spectrum)
                    throw new ArgumentException($"--width {givenWidth} sets the ResNet's channels, and the spectrum branch (recipe '{r.Name}'{(branchName is null ? "" : ", --branches spectrum")}) has no ResNet; " +
                                                $"drop --width, or add --branches spectrogram or both, or --recipe {TrainingRecipe.ResNetIssue3.Name}");
                architecture = new EncoderArchitecture { Width = parse.GetValue(width) ?? r.Width, EmbeddingDimension = parse.GetValue(dim), Branches = chosenBranches }.Validate();
                options = new TrainingOptions
                {
                    Epochs = parse.GetValue(epochs) ?? r.Epochs, BatchSize = parse.GetValue(batch) ?? r.BatchSize, CropSeconds = parse.GetValue(seconds) ?? r.CropSeconds,
                    LearningRate = parse.GetValue(lr) ?? r.LearningRate, Schedule = parse.GetValue(schedule) ?? r.Schedule, MixupProbability = parse.GetValue(mixup) ?? r.Mixup,
                    Seed = parse.GetValue(seed), Device = parse.GetValue(device)!,
                    CheckpointPath = checkpointPath,
                }.Validate();
                recipeName = r.Name;
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }
            TorchRuntime.EnsureAvailable();
            var watch = Stopwatch.StartNew();
            string root = parse.GetValue(data)!;
            var clips = AudioData.Scan(root, null, c => !c.IsTest);
            string header(TrainingOptions o) => $"recipe {recipeName}: {architecture.Branches.ToString().ToLowerInvariant()} branch(es), width {architecture.Width}, {Count(o.Epochs, "epoch")}, batch {o.BatchSize}, {o.CropSeconds:0.##} s crops, lr {o.LearningRate:0.####} {o.Schedule}, mixup {o.MixupProbability:0.##}";
            var provenance = new TrainingProvenance(recipeName, parse.GetValue(targets)!, CommandLineOf(parse), SoftwareVersion, null);
            EncoderModel model;
            using var interrupted = new Interruption(cancellation); // a signal stops between steps, and says how to resume
            try
            {
                model = TrainOn(clips, architecture, options, Path.GetFullPath(root), writer, interrupted.Token, parse.GetValue(targets)!, header, provenance, ShortestClipSeconds);
            }
            catch (OperationCanceledException)
            {
                parse.InvocationConfiguration.Error.WriteLine($"interrupted; rerun the same command to resume from {checkpointPath}");
                throw;
            }
            using var trained = model;
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
        string dataIdentity, TextWriter writer, CancellationToken cancellation, string targets = "attributes",
        Func<TrainingOptions, string>? header = null, TrainingProvenance? provenance = null, double shortestClipSeconds = 0)
    {
        Func<AsdOrleans.Datasets.Dcase.DcaseClip, string> classOf = targets switch
        {
            "attributes" => c => c.ClassKey,
            "machines" => c => $"{c.MachineType}/section_{c.Section}",
            "clips" => c => $"{c.ClassKey}/{Path.GetFileName(c.Path)}",
            _ => throw new UsageException($"--targets must be attributes, machines or clips, got '{targets}'"),
        };
        var classes = clips.Select(classOf).Distinct().Order(StringComparer.Ordinal).ToList();
        if (!OneDnnSwitch.TrainingAvoidsOneDnn)
            writer.WriteLine($"warning: {OneDnnSwitch.KeepVariable}=1: training with oneDNN, which gave NaN gradients on AVX-512 CPUs (docs/decisions.md)");
        int machineTypes = clips.Select(c => c.MachineType).Distinct().Count();
        writer.WriteLine($"{Count(clips.Count, "training clip")} of {Count(machineTypes, "machine type")}, {Count(classes.Count, "class", "classes")}");
        if (clips.Count < options.BatchSize)
            throw new UsageException($"training needs at least one full batch: {Count(clips.Count, "training clip")} < batch size {options.BatchSize}; give a smaller --batch-size (at least 2)");
        var samples = Terminal.WithProgress(writer, "reading audio", p => AudioData.Load(clips, p));
        options = FitCropToClips(clips, samples, options, shortestClipSeconds, writer, out double? requestedCrop);
        if (header is not null)
            writer.WriteLine(header(options));
        var classIndex = classes.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => x.i);
        var training = clips.Select((c, i) => new TrainingClip(samples[i], classIndex[classOf(c)])).ToList();
        provenance = (provenance ?? new TrainingProvenance(null, targets, null, SoftwareVersion, null)) with
        {
            Targets = targets, RequestedCropSeconds = requestedCrop, DataSha256 = DataHash(clips, samples, classOf, dataIdentity),
        };
        return Terminal.WithProgress(writer, "training", progress =>
            EncoderTrainer.Train(architecture, LogStftSettings.Paper, classes, training, options, dataIdentity, provenance: provenance,
                onEpoch: r => writer.WriteLine(r.Resumed
                    ? $"resumed after epoch {r.Epoch}/{r.Epochs} from {options.CheckpointPath}"
                    : $"epoch {r.Epoch}/{r.Epochs}: loss {r.Loss:F4}, accuracy {r.Accuracy:P1}, margin {r.Margin:F3}, {r.Elapsed.TotalSeconds:F1} s"),
                onStep: (step, total, _) => progress((int)step, (int)total), cancellation: cancellation), linesWhenRedirected: true);
    }

    /// <summary>
    /// Clips shorter than this are refused: under two of the spectrum branch's 0.512 s statistics blocks a crop no longer
    /// describes a machine's steady sound, and DCASE's shortest clips are 6 s, so such a clip is a cut or wrong file.
    /// </summary>
    public const double ShortestClipSeconds = 1.0;

    /// <summary>
    /// One crop length for every clip (batches stay one tensor): the asked crop, or the shortest clip's length when that
    /// is shorter, said on the output with the clip that shortened it. Clips under <paramref name="shortestClipSeconds"/>
    /// (`asd train`: <see cref="ShortestClipSeconds"/>; the demo's synthetic clips are as short as asked) or without STFT frames are refused.
    /// </summary>
    private static TrainingOptions FitCropToClips(IReadOnlyList<AsdOrleans.Datasets.Dcase.DcaseClip> clips, float[][] samples, TrainingOptions options,
        double shortestClipSeconds, TextWriter writer, out double? requestedCrop)
    {
        requestedCrop = null;
        int sampleRate = LogStftSettings.Paper.SampleRate;
        int shortest = Enumerable.Range(0, clips.Count).MinBy(i => samples[i].Length);
        double seconds = (double)samples[shortest].Length / sampleRate;
        if (seconds < shortestClipSeconds)
            throw new UsageException($"{clips[shortest].Path}: a training clip of {seconds:0.###} s is shorter than the {shortestClipSeconds:0.#} s training needs; remove it or replace it with the whole recording");
        if (samples[shortest].Length < LogStftSettings.Paper.MinimumSamples)
            throw new UsageException($"{clips[shortest].Path}: a training clip of {samples[shortest].Length} samples gives no STFT frames (the front end needs {LogStftSettings.Paper.MinimumSamples})");
        if (seconds >= options.CropSeconds)
            return options;
        requestedCrop = options.CropSeconds;
        writer.WriteLine($"note: the crop was shortened from {options.CropSeconds:0.##} s to {seconds:0.###} s by the shortest clip, {clips[shortest].Path} ({seconds:0.###} s); every crop has one length");
        return options with { CropSeconds = seconds };
    }

    /// <summary>SHA-256 over the training clips' paths (relative to the data root), classes and decoded samples, in order.</summary>
    private static string DataHash(IReadOnlyList<AsdOrleans.Datasets.Dcase.DcaseClip> clips, float[][] samples,
        Func<AsdOrleans.Datasets.Dcase.DcaseClip, string> classOf, string dataIdentity)
    {
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        bool rooted = Directory.Exists(dataIdentity);
        for (int i = 0; i < clips.Count; i++)
        {
            string name = rooted ? Path.GetRelativePath(dataIdentity, clips[i].Path).Replace('\\', '/') : Path.GetFileName(clips[i].Path);
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes($"{name}\n{classOf(clips[i])}\n{samples[i].Length}\n"));
            sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(samples[i].AsSpan()));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    private static string Count(int n, string singular, string? plural = null) => $"{n} {(n == 1 ? singular : plural ?? singular + "s")}";

    /// <summary>This build's informational version (the git commit after '+', when the build knew it).</summary>
    public static string SoftwareVersion =>
        typeof(TrainCommand).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion ?? "unknown";

    private static string CommandLineOf(ParseResult parse) =>
        "asd " + string.Join(" ", parse.Tokens.Select(t => t.Value.Length == 0 || t.Value.Any(char.IsWhiteSpace) || t.Value.Contains('"') ? "\"" + t.Value.Replace("\"", "\\\"") + "\"" : t.Value));
}
