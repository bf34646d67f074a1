using System.CommandLine;
using System.Text.Json;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Model;

namespace AsdOrleans.Cli.Commands;

/// <summary>
/// `asd model-info`: what a model file says about itself, after checking the whole file as `embed` loads it (header,
/// format, weights, version id), so a file it describes is one `embed` accepts.
/// </summary>
public static class ModelInfoCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("MODEL") { Description = "model file" };
        var json = new Option<bool>("--json") { Description = "print the metadata as JSON" };
        var command = new Command("model-info", "check a model file as embed loads it (weights and version included), then print its architecture, front end, classes, version and exact parameter count") { model, json };
        command.SetAction(parse =>
        {
            var w = parse.InvocationConfiguration.Output;
            string path = parse.GetValue(model)!;
            InputChecks.ModelVersion("MODEL", path);
            // The header alone reads fine from a truncated or edited file; loading the weights (on the CPU) checks the rest.
            TorchRuntime.EnsureAvailable();
            EncoderModelInfo info;
            using (var loaded = EncoderModel.Load(path, "cpu"))
                info = loaded.Info;
            if (parse.GetValue(json))
            {
                w.WriteLine(JsonSerializer.Serialize(info, new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            var a = info.Architecture;
            var f = info.FrontEnd;
            w.WriteLine($"model        {path}");
            w.WriteLine($"version      {info.VersionId} (format {info.FormatVersion})");
            w.WriteLine($"parameters   {info.ParameterCount:N0}");
            string resnet = $"ResNet {string.Join("-", a.BlocksPerStage)} blocks, widths {string.Join("/", a.BlocksPerStage.Select((_, s) => a.StageChannels(s)))}, strides {string.Join(",", a.StageStrides)}, " +
                            $"{a.FrequencyBins} bins → {a.FinalFrequencyBins}, mean+std pooling ({a.PooledFeatures:N0} features) → {a.SpectrogramDimension}-d";
            string spectrum = $"spectrum branch: mean+std over time of {a.FrequencyBins} bins, 1-D convolutions → {a.SpectrumDimension}-d";
            w.WriteLine($"architecture {a.Branches switch { EncoderBranches.Spectrum => spectrum, EncoderBranches.Both => resnet + "; " + spectrum, _ => resnet }}");
            w.WriteLine($"front end    {f.SampleRate} Hz, log(|STFT| + {f.LogEpsilon:G}), window {f.WindowLength}, hop {f.Hop}, FFT {f.FftSize} ({f.Bins} bins)");
            w.WriteLine($"classes      {info.Classes.Count}: {string.Join(", ", info.Classes.Take(6))}{(info.Classes.Count > 6 ? ", …" : "")}");
            if (info.Training is { } t)
                w.WriteLine($"training     {t.Epochs} epochs × {t.TrainingClips} clips, batch {t.BatchSize}, crops {t.CropSeconds:0.##} s, lr {t.LearningRate:G}, seed {t.Seed}; " +
                            $"final loss {t.FinalLoss:F4}, accuracy {t.FinalAccuracy:P1}; data {t.Data}");
            w.WriteLine($"created      {info.CreatedUtc:u}");
            return 0;
        });
        return command;
    }
}
