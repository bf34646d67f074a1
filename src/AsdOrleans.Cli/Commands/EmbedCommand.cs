using System.CommandLine;
using AsdOrleans.Cli.Experiments;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Inference;

namespace AsdOrleans.Cli.Commands;

/// <summary>`asd embed`: embeds every clip of a data set into the CSV that `asd experiment` reads.</summary>
public static class EmbedCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "model file from `asd train` (for --embedder model)" };
        var embedderName = new Option<string>("--embedder") { Description = Embedders.Description, DefaultValueFactory = _ => Embedders.Model };
        var raw = new Option<bool>("--raw") { Description = "baseline or spectral: write the log-mel statistics as computed, not standardised or whitened per machine on its training clips" };
        var data = new Option<string>("--data") { Description = "data set root (DCASE layout)", Required = true };
        var output = new Option<string>("--out") { Description = "embeddings CSV to write (an existing file needs --force)", Required = true };
        var force = new Option<bool>("--force") { Description = "replace an existing --out" };
        var groundTruth = new Option<string?>("--ground-truth") { Description = "official ground truth, for evaluation test clips" };
        var batch = new Option<int>("--batch-size") { Description = "clips per forward pass", DefaultValueFactory = _ => 8 };
        var device = new Option<string>("--device") { Description = "auto (CUDA if available), cpu, cuda, cuda:N", DefaultValueFactory = _ => "auto" };
        var precision = new Option<string>("--precision") { Description = "encoder number format: fp32 (the reference, bit-repeatable), fp32-folded, bf16, or auto (bf16 on a CPU with native bf16). " +
            "bf16 is not bit-repeatable: its multi-threaded kernels give values up to about 0.01 apart from run to run (OMP_NUM_THREADS=1 repeats them)", DefaultValueFactory = _ => "fp32" };
        var command = new Command("embed", "embed all clips (train and test) with a trained model or a training-free embedder: machine,split,domain,label,file,e0,… (spectral adds held_out_distance after file: each training clip's held-out distance)") { model, embedderName, raw, data, output, force, groundTruth, batch, device, precision };
        command.SetAction(parse =>
        {
            var writer = parse.InvocationConfiguration.Output;
            string outPath = parse.GetValue(output)!;
            OutputPaths.CheckFile("--out", outPath);
            int batchSize = parse.GetValue(batch);
            if (batchSize < 1) throw new UsageException($"--batch-size must be at least 1, got {batchSize}");
            InputChecks.Device("--device", parse.GetValue(device)!);
            InputChecks.ExistingFolder("--data", parse.GetValue(data)!);
            if (parse.GetValue(groundTruth) is { } gt) InputChecks.ExistingFolder("--ground-truth", gt);
            string kind = Embedders.Parse(parse.GetValue(embedderName));
            string? modelPath = parse.GetValue(model);
            if (kind == Embedders.Model && modelPath is null)
                throw new UsageException("--model is required with --embedder model (or use --embedder spectral or baseline, which need no model)");
            if (Embedders.IsTrainingFree(kind) && modelPath is not null)
                throw new UsageException($"--model goes with --embedder model; {kind} is training-free");
            if (kind == Embedders.Model) InputChecks.ModelVersion("--model", modelPath!);
            if (kind == Embedders.Model && parse.GetValue(raw))
                throw new UsageException("--raw goes with --embedder baseline or spectral");
            string precisionName = parse.GetValue(precision)!;
            try { InferencePrecisions.CheckSetting(precisionName); }
            catch (ArgumentException e) { throw new UsageException($"--precision: {e.Message}"); }
            OutputPaths.CheckReplace("--out", outPath, parse.GetValue(force));
            var clips = AudioData.Scan(parse.GetValue(data)!, parse.GetValue(groundTruth), _ => true);
            var unlabelled = clips.FirstOrDefault(c => c.IsAnomaly is null);
            if (unlabelled is not null)
                throw new UsageException($"{unlabelled.Path}: no label; evaluation test clips need --ground-truth");
            using IClipEmbedder encoder = kind == Embedders.Model
                ? new ModelClipEmbedder(Load(modelPath!, parse.GetValue(device)!, precisionName))
                : Embedders.TrainingFree(kind);
            var table = Terminal.WithProgress(writer, "embedding", progress => Embed(encoder, clips, batchSize, progress));
            string what = $"model {encoder.Version}";
            if (Embedders.IsTrainingFree(kind) && !parse.GetValue(raw))
            {
                var untrained = clips.GroupBy(AudioData.MachineName).FirstOrDefault(g => g.Count(c => !c.IsTest) < (kind == Embedders.Spectral ? 2 : 1));
                if (untrained is not null)
                    throw new UsageException($"--data: machine '{untrained.Key}' has too few training clips to {(kind == Embedders.Spectral ? "whiten" : "standardise")} its features on (--raw writes them as computed)");
                table = Embedders.PerMachine(kind, table);
                what += kind == Embedders.Spectral ? ", whitened per machine on its training clips" : ", standardised per machine on its training clips";
            }
            table.Save(outPath);
            writer.WriteLine($"wrote {table.Records.Count} embeddings (d = {table.Dimension}, {what}) to {outPath}");
            if (table.Machines.Count > 1 && table.Records.Any(r => r.IsTest) && table.Records.Any(r => !r.IsTest))
                writer.WriteLine($"held-out test clips whose 5 nearest training embeddings vote for their own machine: " +
                                 $"{EmbeddingDiagnostics.NearestNeighbourMachineAccuracy(table):P1} (chance ≈ {1.0 / table.Machines.Count:P0})");
            return 0;
        });
        return command;
    }

    public static EncoderModel Load(string path, string device, string precision = "fp32")
    {
        InputChecks.ExistingFile("--model", path);
        TorchRuntime.EnsureAvailable();
        var model = EncoderModel.Load(path, device);
        model.SetPrecision(InferencePrecisions.Resolve(precision, model.Device));
        return model;
    }

    /// <summary>Reads and embeds clips batch by batch, so memory holds one batch of audio at a time.</summary>
    public static EmbeddingTable Embed(IClipEmbedder encoder, IReadOnlyList<AsdOrleans.Datasets.Dcase.DcaseClip> clips, int batchSize, Action<int, int> progress)
    {
        var records = new EmbeddingRecord[clips.Count];
        for (int start = 0; start < clips.Count; start += batchSize)
        {
            var batch = clips.Skip(start).Take(batchSize).ToList();
            var samples = AudioData.Load(batch, (_, _) => { });
            var embeddings = encoder.Embed(samples);
            for (int k = 0; k < batch.Count; k++)
            {
                var c = batch[k];
                records[start + k] = new EmbeddingRecord(AudioData.MachineName(c), c.IsTest, c.IsTarget, c.IsAnomaly!.Value, c.FileName, embeddings[k]);
            }
            progress(Math.Min(start + batchSize, clips.Count), clips.Count);
        }
        return new EmbeddingTable(records, records[0].Embedding.Length, "(embedded)");
    }
}
