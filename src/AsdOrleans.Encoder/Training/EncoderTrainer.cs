using System.Text.Json;
using AsdOrleans.Audio.Features;
using AsdOrleans.Method.Io;
using AsdOrleans.Method.Randomness;
using AsdOrleans.Encoder.Frontend;
using AsdOrleans.Encoder.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AsdOrleans.Encoder.Training;

/// <summary>
/// Trains the encoder with sub-center ArcFace over machine type × section × attribute classes (docs/design.md §1):
/// each step takes a seeded batch of random crops, computes log-STFT frames on the device, and minimises
/// the cross-entropy of the margin logits. Seeded end to end; resumable from per-epoch checkpoints.
/// </summary>
public static class EncoderTrainer
{
    private static readonly byte[] CheckpointMagic = "ASDCKPT1"u8.ToArray();
    private static readonly Scalar OneScalar = 1.ToScalar(); // explicit alpha, alive for the process (docs/decisions.md, TorchSharp Scalars)

    private sealed record CheckpointHeader(int CompletedEpochs, long Step, string Fingerprint, double LastLoss, double LastAccuracy);

    public static EncoderModel Train(EncoderArchitecture architecture, LogStftSettings frontEnd, IReadOnlyList<string> classes,
        IReadOnlyList<TrainingClip> clips, TrainingOptions options, string dataDescription = "",
        Action<EpochReport>? onEpoch = null, Action<long, long, double>? onStep = null, CancellationToken cancellation = default,
        TrainingProvenance? provenance = null)
    {
        options.Validate();
        architecture.Validate();
        frontEnd.Validate();
        if (classes.Count < 2) throw new ArgumentException($"training needs at least 2 classes, got {classes.Count}");
        if (clips.Count < options.BatchSize) throw new ArgumentException($"training needs at least one full batch: {clips.Count} clips < batch size {options.BatchSize}");
        foreach (var clip in clips)
            if (clip.ClassIndex < 0 || clip.ClassIndex >= classes.Count)
                throw new ArgumentException($"class index {clip.ClassIndex} is outside the {classes.Count} classes");

        var device = TorchRuntime.SelectDevice(options.Device);
        int cropSamples = (int)Math.Min(Math.Round(options.CropSeconds * frontEnd.SampleRate), clips.Min(c => c.Samples.Length));
        if (cropSamples < frontEnd.MinimumSamples)
            throw new ArgumentException($"the shortest clip ({clips.Min(c => c.Samples.Length)} samples) is shorter than the front end's minimum {frontEnd.MinimumSamples}");

        var (encoder, head) = TorchRuntime.CreateSeeded(options.Seed, () =>
            (new AsdEncoder(architecture), new SubCenterArcFace(architecture.EmbeddingDimension, classes.Count, options.SubCenters, options.Scale)));
        encoder.to(device);
        head.to(device);
        var namedParameters = encoder.named_parameters().Concat(head.named_parameters().Select(p => ("head." + p.name, p.parameter))).ToList();
        var parameters = namedParameters.Select(p => p.Item2).ToList();
        var optimizer = optim.AdamW(parameters, lr: options.LearningRate, weight_decay: options.WeightDecay);
        using var frontend = new TorchLogStft(frontEnd, device);
        // A spectrum-only encoder trains from per-block statistics computed once (BlockStatistics): no STFT per step.
        // Its work comes in small pieces (one clip's STFT, tiny steps): with two OpenMP threads on the busy 2-core machine
        // an epoch took 26–41 s and the statistics 530 s, against 1.2–3 s and well under a minute with one thread
        // (docs/decisions.md, issue 11 — the encoder recipe). The limit is undone when training ends.
        bool spectrumOnly = architecture.Branches == EncoderBranches.Spectrum;
        using var fewerThreads = spectrumOnly ? new TorchThreadLimit(1) : null;
        var blockStatistics = spectrumOnly ? BlockStatistics.Compute(clips, frontend, device) : null;
        int cropBlocks = blockStatistics is null ? 0
            : Math.Clamp((int)Math.Round((double)cropSamples / frontEnd.Hop / BlockStatistics.BlockFrames), 1, Enumerable.Range(0, clips.Count).Min(blockStatistics.Blocks));

        int batchesPerEpoch = clips.Count / options.BatchSize; // the incomplete last batch is dropped (BN needs full batches)
        long totalSteps = (long)batchesPerEpoch * options.Epochs;
        string fingerprint = Fingerprint(architecture, frontEnd, classes, clips, options);
        int startEpoch = 0;
        long step = 0;
        double loss = double.NaN, accuracy = double.NaN;
        if (options.CheckpointPath is { } checkpoint && File.Exists(checkpoint))
        {
            var header = LoadCheckpoint(checkpoint, fingerprint, encoder, head, optimizer);
            (startEpoch, step, loss, accuracy) = (header.CompletedEpochs, header.Step, header.LastLoss, header.LastAccuracy);
            onEpoch?.Invoke(new EpochReport(startEpoch, options.Epochs, loss, accuracy, options.MarginAt(Math.Max(0, step - 1), totalSteps), TimeSpan.Zero, Resumed: true));
        }

        using var nativeKernels = OneDnnSwitch.ForTraining();
        for (int epoch = startEpoch; epoch < options.Epochs; epoch++)
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            encoder.train();
            head.train();
            var random = RandomState.FromSeed(RandomState.DeriveSeed(options.Seed, (ulong)epoch, 0x7A /* training order */));
            var order = Shuffle(clips.Count, ref random);
            double lossSum = 0;
            long correct = 0, seen = 0;
            for (int b = 0; b < batchesPerEpoch; b++)
            {
                cancellation.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var targets = new long[options.BatchSize];
                Tensor embeddings;
                bool mixed = options.MixupProbability > 0 && random.NextDouble() < options.MixupProbability;
                double lambda = mixed ? random.NextDouble() : 1;
                var partner = mixed ? Shuffle(options.BatchSize, ref random) : null;
                if (blockStatistics is not null)
                {
                    int bins = blockStatistics.Bins;
                    var means = new float[options.BatchSize * bins];
                    var stds = new float[options.BatchSize * bins];
                    for (int k = 0; k < options.BatchSize; k++)
                    {
                        int index = order[b * options.BatchSize + k];
                        int start = random.NextInt(blockStatistics.Blocks(index) - cropBlocks + 1);
                        blockStatistics.Crop(index, start, cropBlocks, architecture.PoolingVarianceEpsilon, means.AsSpan(k * bins, bins), stds.AsSpan(k * bins, bins));
                        targets[k] = clips[index].ClassIndex;
                    }
                    var mean = tensor(means, [options.BatchSize, bins]).to(device);
                    var std = tensor(stds, [options.BatchSize, bins]).to(device);
                    if (partner is not null)
                    {
                        var order2 = tensor(partner.Select(i => (long)i).ToArray(), device: device);
                        using var l = lambda.ToScalar();
                        using var rest = (1 - lambda).ToScalar();
                        mean = mean.mul(l).add(mean.index_select(0, order2).mul(rest), OneScalar);
                        std = std.mul(l).add(std.index_select(0, order2).mul(rest), OneScalar);
                    }
                    embeddings = encoder.ForwardStatistics(mean, std);
                }
                else
                {
                    var flat = new float[options.BatchSize * cropSamples];
                    for (int k = 0; k < options.BatchSize; k++)
                    {
                        var clip = clips[order[b * options.BatchSize + k]];
                        int offset = random.NextInt(clip.Samples.Length - cropSamples + 1);
                        clip.Samples.AsSpan(offset, cropSamples).CopyTo(flat.AsSpan(k * cropSamples));
                        targets[k] = clip.ClassIndex;
                    }
                    if (partner is not null)
                    {
                        var copy = (float[])flat.Clone();
                        for (int k = 0; k < options.BatchSize; k++)
                            for (int i = 0; i < cropSamples; i++)
                                flat[k * cropSamples + i] = (float)(lambda * copy[k * cropSamples + i] + (1 - lambda) * copy[partner[k] * cropSamples + i]);
                    }
                    var waveforms = tensor(flat, [options.BatchSize, cropSamples]).to(device);
                    var frames = frontend.Compute(waveforms);
                    using var frameCount = frames.shape[2].ToScalar();
                    var lengths = full([options.BatchSize], frameCount, dtype: int64, device: device);
                    embeddings = encoder.forward(frames, lengths);
                }
                var labels = tensor(targets, device: device);
                head.Margin = options.MarginAt(step, totalSteps);
                if (options.Schedule != "constant")
                    foreach (var group in optimizer.ParamGroups)
                        group.LearningRate = options.LearningRateAt(step, totalSteps);
                var logits = head.forward(embeddings, labels);
                var batchLoss = nn.functional.cross_entropy(logits, labels);
                if (partner is not null)
                {
                    var partnerLabels = tensor(partner.Select(i => targets[i]).ToArray(), device: device);
                    using var l = lambda.ToScalar();
                    using var rest = (1 - lambda).ToScalar();
                    batchLoss = batchLoss.mul(l).add(nn.functional.cross_entropy(head.forward(embeddings, partnerLabels), partnerLabels).mul(rest), OneScalar);
                }
                double value = batchLoss.item<float>();
                if (!double.IsFinite(value))
                    throw NonFiniteValueException.InTraining("loss", epoch, step, $" (loss {value})");
                optimizer.zero_grad();
                batchLoss.backward();
                if (NonFiniteGradients(namedParameters) is { Count: > 0 } bad)
                    throw NonFiniteValueException.InTraining("gradient", epoch, step, $" (in {bad.Count} of {namedParameters.Count} parameters: {string.Join(", ", bad.Count <= 6 ? bad : [.. bad.Take(3), "…", .. bad.TakeLast(3)])})");
                optimizer.step();
                lossSum += value;
                using (no_grad())
                    correct += head.Cosines(embeddings).argmax(1).eq(labels).sum().item<long>();
                seen += options.BatchSize;
                step++;
                onStep?.Invoke(step, totalSteps, value);
            }
            loss = lossSum / batchesPerEpoch;
            accuracy = (double)correct / seen;
            if (options.CheckpointPath is { } path)
                SaveCheckpoint(path, new CheckpointHeader(epoch + 1, step, fingerprint, loss, accuracy), encoder, head, optimizer);
            onEpoch?.Invoke(new EpochReport(epoch + 1, options.Epochs, loss, accuracy, head.Margin, watch.Elapsed, Resumed: false));
        }

        head.Dispose();
        var info = new EncoderModelInfo
        {
            Architecture = architecture,
            FrontEnd = frontEnd,
            Classes = classes.ToList(),
            Training = new TrainingSummary(options.Epochs, options.BatchSize, (double)cropSamples / frontEnd.SampleRate, options.LearningRate,
                options.Seed, clips.Count, loss, accuracy, dataDescription)
            {
                Recipe = provenance?.Recipe, Schedule = options.Schedule, Mixup = options.MixupProbability, WeightDecay = options.WeightDecay,
                Targets = provenance?.Targets, RequestedCropSeconds = provenance?.RequestedCropSeconds,
                CommandLine = provenance?.CommandLine, Software = provenance?.Software, DataSha256 = provenance?.DataSha256,
            },
            CreatedUtc = DateTimeOffset.UtcNow,
        };
        return EncoderModel.FromEncoder(encoder, info, device);
    }

    /// <summary>Names of parameters whose gradient holds a NaN or infinity; one reduction when all are finite.</summary>
    private static List<string> NonFiniteGradients(IReadOnlyList<(string Name, Parameter Parameter)> parameters)
    {
        var gradients = parameters.Where(p => p.Parameter.grad is not null).ToList();
        using (no_grad())
        {
            using var sums = stack(gradients.Select(p => p.Parameter.grad!.sum()).ToArray());
            if (double.IsFinite(sums.sum().item<float>()))
                return [];
            return gradients.Where(p => !p.Parameter.grad!.isfinite().all().item<bool>()).Select(p => p.Name).ToList();
        }
    }

    private static int[] Shuffle(int count, ref RandomState random)
    {
        var order = Enumerable.Range(0, count).ToArray();
        for (int i = count - 1; i > 0; i--)
        {
            int j = random.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    /// <summary>A checkpoint may only resume the same training: same settings, classes and data.</summary>
    private static string Fingerprint(EncoderArchitecture architecture, LogStftSettings frontEnd, IReadOnlyList<string> classes,
        IReadOnlyList<TrainingClip> clips, TrainingOptions options)
    {
        ulong dataHash = 14695981039346656037UL;
        foreach (var clip in clips)
        {
            dataHash = (dataHash ^ (ulong)clip.ClassIndex) * 1099511628211UL;
            dataHash = (dataHash ^ (ulong)clip.Samples.Length) * 1099511628211UL;
            for (int i = 0; i < clip.Samples.Length; i += 997)
                dataHash = (dataHash ^ BitConverter.SingleToUInt32Bits(clip.Samples[i])) * 1099511628211UL;
        }
        var relevant = new { architecture, frontEnd, classes, options = options with { CheckpointPath = null, Device = "" }, dataHash };
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(relevant)))[..16];
    }

    private static void SaveCheckpoint(string path, CheckpointHeader header, AsdEncoder encoder, SubCenterArcFace head, OptimizerHelper optimizer) =>
        AtomicFile.Write(path, stream =>
        {
            using var writer = new BinaryWriter(stream);
            writer.Write(CheckpointMagic);
            var json = JsonSerializer.SerializeToUtf8Bytes(header);
            writer.Write(json.Length);
            writer.Write(json);
            encoder.save(writer);
            head.save(writer);
            optimizer.save_state_dict(writer);
        });

    private static CheckpointHeader LoadCheckpoint(string path, string fingerprint, AsdEncoder encoder, SubCenterArcFace head, OptimizerHelper optimizer)
    {
        using var stream = File.OpenRead(path);
        using var reader = new BinaryReader(stream);
        if (!reader.ReadBytes(CheckpointMagic.Length).AsSpan().SequenceEqual(CheckpointMagic))
            throw new InvalidDataException($"{path}: not a training checkpoint; delete it to start training from scratch, or choose another --out");
        try
        {
            var header = JsonSerializer.Deserialize<CheckpointHeader>(reader.ReadBytes(reader.ReadInt32()))
                ?? throw new InvalidDataException("empty checkpoint header");
            if (header.Fingerprint != fingerprint)
                throw new InvalidDataException($"{path}: the checkpoint belongs to a different training run (settings, classes or data differ); delete it or choose another output");
            encoder.load(reader, strict: true);
            head.load(reader, strict: true);
            optimizer.load_state_dict(reader);
            if (stream.Position != stream.Length)
                throw new InvalidDataException($"{stream.Length - stream.Position} bytes follow the optimizer state");
            return header;
        }
        catch (Exception e) when (e is not (OutOfMemoryException or OperationCanceledException or UnauthorizedAccessException)
                                  && !(e is InvalidDataException && e.Message.StartsWith(path, StringComparison.Ordinal)))
        {
            // A cut or corrupted file (a crash mid-copy, a full disk) fails deep in the reader with a message such as
            // "Attempted to read past the end of the stream" that names no file: say which file and how to go on.
            throw new InvalidDataException(
                $"{path}: the training checkpoint is damaged ({e.Message.TrimEnd('.')}); delete it to restart training from scratch", e);
        }
    }
}
