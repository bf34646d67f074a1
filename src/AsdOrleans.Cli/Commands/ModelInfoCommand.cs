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
            bool? intact = EncoderModel.TrainingBlockIntact(info);
            string blockState = intact switch { true => "intact", false => "edited", null => "unchecked" };
            if (parse.GetValue(json))
            {
                var node = JsonSerializer.SerializeToNode(info)!.AsObject();
                node["TrainingBlock"] = blockState; // intact, edited (metadata edited after training) or unchecked (no checksum: older files)
                w.WriteLine(node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
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
            {
                string shortened = t.RequestedCropSeconds is { } asked ? $" (asked {asked:0.##} s; the shortest clip shortened it)" : "";
                w.WriteLine($"training     {t.Epochs} epoch{(t.Epochs == 1 ? "" : "s")} × {t.TrainingClips} clips, batch {t.BatchSize}, crops {t.CropSeconds:0.###} s{shortened}, lr {t.LearningRate:G}, seed {t.Seed}; " +
                            $"final loss {t.FinalLoss:F4}, accuracy {t.FinalAccuracy:P1}; data {t.Data}");
                if (t.Recipe is not null || t.Schedule is not null)
                    w.WriteLine($"recipe       {t.Recipe ?? "(not recorded)"}, schedule {t.Schedule}, mixup {t.Mixup:0.##}, weight decay {t.WeightDecay:G}, targets {t.Targets ?? "(not recorded)"}");
                if (t.DataSha256 is not null)
                    w.WriteLine($"data sha256  {t.DataSha256} (training clips' relative paths, classes and samples)");
                if (t.CommandLine is not null)
                    w.WriteLine($"command      {t.CommandLine}");
                if (t.Software is not null)
                    w.WriteLine($"software     asd {t.Software}");
                w.WriteLine(intact switch
                {
                    true => $"metadata     training block intact ({info.TrainingChecksum})",
                    false => "metadata     edited: the training block does not match its checksum, so it may not say how these weights were trained (the weights and version id are intact)",
                    null => "metadata     training block unchecked (written before training checksums)",
                });
            }
            w.WriteLine($"created      {info.CreatedUtc:u}");
            return 0;
        });
        return command;
    }
}
