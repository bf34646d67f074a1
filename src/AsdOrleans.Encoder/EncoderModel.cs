using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AsdOrleans.Audio.Features;
using AsdOrleans.Method.Io;
using AsdOrleans.Encoder.Frontend;
using AsdOrleans.Encoder.Inference;
using AsdOrleans.Encoder.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace AsdOrleans.Encoder;

/// <summary>
/// A trained encoder ready for inference on one device: waveforms in, embeddings out, in padded batches
/// whose masks make each clip's embedding independent of its batch. Also reads and writes model files:
/// magic, format version, JSON metadata (<see cref="EncoderModelInfo"/>), then the weights.
/// </summary>
public sealed class EncoderModel : IDisposable
{
    private static readonly byte[] Magic = "ASDENC"u8.ToArray();
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    private EncoderModel(AsdEncoder encoder, EncoderModelInfo info, Device device)
    {
        Encoder = encoder;
        Info = info;
        Device = device;
        Frontend = new TorchLogStft(info.FrontEnd, device);
        MaxForwardBatch = device.type == DeviceType.CUDA ? int.MaxValue : 1;
        Encoder.to(device);
        Encoder.eval();
        inference = Encoder;
    }

    private AsdEncoder inference;

    public AsdEncoder Encoder { get; }
    public EncoderModelInfo Info { get; }
    public Device Device { get; }
    public TorchLogStft Frontend { get; }
    public string VersionId => Info.VersionId;

    /// <summary>
    /// Clips per forward pass. Requests are still gathered into batches, but on a CPU each forward pass takes
    /// one clip: at the paper's size batch 8 ran at a third of batch 1's clips/s on this machine (activations of
    /// hundreds of MB fall out of cache and are page-faulted in), while a GPU wants the whole batch at once.
    /// </summary>
    public int MaxForwardBatch { get; set; }
    public int EmbeddingDimension => Info.Architecture.EmbeddingDimension;

    /// <summary>The number format embeddings are computed in; the saved weights are always the trained fp32 ones.</summary>
    public InferencePrecision Precision { get; private set; } = InferencePrecision.Fp32;

    /// <summary>
    /// Switches inference to <paramref name="precision"/>: anything but fp32 runs a folded copy of the trained
    /// encoder, so saving and the version id are unaffected.
    /// </summary>
    public void SetPrecision(InferencePrecision precision)
    {
        if (precision == Precision)
            return;
        var previous = inference;
        inference = precision == InferencePrecision.Fp32 ? Encoder : FoldedCopy(precision);
        Precision = precision;
        if (!ReferenceEquals(previous, Encoder))
            previous.Dispose();
    }

    private AsdEncoder FoldedCopy(InferencePrecision precision)
    {
        var copy = new AsdEncoder(Info.Architecture);
        using (var reader = new BinaryReader(new MemoryStream(WeightBytes(Encoder))))
            copy.load(reader, strict: true);
        copy.to(Device);
        copy.eval();
        copy.PrepareForInference(precision == InferencePrecision.Bf16 ? ScalarType.BFloat16 : ScalarType.Float32);
        return copy;
    }

    /// <summary>Wraps a freshly built or trained encoder; the version id is computed from its weights.</summary>
    public static EncoderModel FromEncoder(AsdEncoder encoder, EncoderModelInfo info, Device device)
    {
        var complete = info with { ParameterCount = encoder.ParameterCount, VersionId = "", TrainingChecksum = info.Training is null ? null : TrainingChecksumOf(info.Training) };
        complete = complete with { VersionId = ComputeVersionId(complete, WeightBytes(encoder)) };
        return new EncoderModel(encoder, complete, device);
    }

    /// <summary>A freshly initialised (untrained) encoder with seeded weights: for benchmarks and tests.</summary>
    public static EncoderModel Untrained(EncoderArchitecture architecture, ulong seed, Device device, LogStftSettings? frontEnd = null)
    {
        var encoder = TorchRuntime.CreateSeeded(seed, () => new AsdEncoder(architecture));
        return FromEncoder(encoder, new EncoderModelInfo { Architecture = architecture, FrontEnd = frontEnd ?? LogStftSettings.Paper }, device);
    }

    /// <summary>Embeds clips of any lengths (16 kHz mono samples) in one padded batch.</summary>
    public float[][] Embed(IReadOnlyList<float[]> waveforms)
    {
        if (waveforms.Count == 0)
            return [];
        if (MaxForwardBatch < 1)
            throw new InvalidOperationException($"MaxForwardBatch must be at least 1, is {MaxForwardBatch}");
        var result = new float[waveforms.Count][];
        int d = EmbeddingDimension;
        using var kernels = OneDnnSwitch.ForInference();
        for (int start = 0; start < waveforms.Count; start += MaxForwardBatch)
        {
            var chunk = waveforms.Skip(start).Take(MaxForwardBatch).ToList();
            using var scope = NewDisposeScope();
            using var inferenceOnly = inference_mode(); // no autograd bookkeeping at all, not just no gradients
            var (spectrogram, lengths) = Features(chunk);
            var flat = inference.forward(spectrogram, lengths).to(CPU).contiguous().data<float>().ToArray();
            for (int i = 0; i < chunk.Count; i++)
            {
                result[start + i] = flat.AsSpan(i * d, d).ToArray();
                foreach (float value in result[start + i])
                    if (!float.IsFinite(value))
                        throw NonFiniteValueException.InEmbedding(start + i, waveforms.Count);
            }
        }
        return result;
    }

    /// <summary>
    /// Log-STFT of each clip on its own samples (equal-length clips share one torch.stft call), padded with
    /// zeros to the longest clip: (B, bins, T) and (B) valid frame counts.
    /// </summary>
    public (Tensor Spectrogram, Tensor Lengths) Features(IReadOnlyList<float[]> waveforms)
    {
        var settings = Info.FrontEnd;
        foreach (var w in waveforms)
            if (w.Length < settings.MinimumSamples)
                throw new ArgumentException($"a clip of {w.Length} samples is too short: the front end needs at least {settings.MinimumSamples}");
        long maxFrames = waveforms.Max(w => settings.FrameCount(w.Length));
        var parts = new List<Tensor>();
        var order = new List<int>();
        foreach (var group in Enumerable.Range(0, waveforms.Count).GroupBy(i => waveforms[i].Length))
        {
            var indices = group.ToArray();
            int n = group.Key;
            var flat = new float[indices.Length * n];
            for (int k = 0; k < indices.Length; k++)
                waveforms[indices[k]].CopyTo(flat, k * n);
            var batch = tensor(flat, [indices.Length, n]).to(Device);
            var frames = Frontend.Compute(batch);
            long pad = maxFrames - frames.shape[2];
            parts.Add(pad == 0 ? frames : nn.functional.pad(frames, [0, pad]));
            order.AddRange(indices);
        }
        var stacked = parts.Count == 1 ? parts[0] : cat(parts, 0);
        var inverse = new long[order.Count];
        for (int position = 0; position < order.Count; position++)
            inverse[order[position]] = position;
        var spectrogram = stacked.index_select(0, tensor(inverse, device: Device));
        var lengths = tensor(waveforms.Select(w => (long)settings.FrameCount(w.Length)).ToArray(), device: Device);
        return (spectrogram, lengths);
    }

    /// <summary>Writes the model file atomically.</summary>
    public void Save(string path) => AtomicFile.Write(path, stream =>
    {
        using var writer = new BinaryWriter(stream);
        writer.Write(Magic);
        writer.Write((ushort)EncoderModelInfo.CurrentFormatVersion);
        var json = JsonSerializer.SerializeToUtf8Bytes(Info, Json);
        writer.Write(json.Length);
        writer.Write(json);
        writer.Write(WeightBytes(Encoder));
    });

    /// <summary>Reads only the metadata of a model file (no Torch needed); the weights are not checked (<see cref="Load"/> does).</summary>
    public static EncoderModelInfo ReadInfo(string path)
    {
        using var stream = OpenModel(path);
        using var reader = new BinaryReader(stream);
        return ReadHeader(reader, path);
    }

    /// <summary>
    /// Checks a whole model file without Torch: the header reads and the bytes after it hash to the version id, so a
    /// file that passes is one <see cref="Load"/> accepts. Damage after the header is named as a version id that does not
    /// match (where <see cref="Load"/> may say more precisely, e.g. trailing bytes). Returns its metadata.
    /// </summary>
    public static EncoderModelInfo Verify(string path)
    {
        using var stream = OpenModel(path);
        using var reader = new BinaryReader(stream);
        var info = ReadHeader(reader, path);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(VersionedMetadata(info with { VersionId = "" }));
        var buffer = new byte[1 << 16];
        for (int read; (read = stream.Read(buffer)) > 0;)
            sha.AppendData(buffer, 0, read);
        string recomputed = VersionIdOf(sha);
        if (recomputed != info.VersionId)
            throw new InvalidDataException($"{path}: version id {info.VersionId} does not match the weights ({recomputed}); the file is damaged");
        return info;
    }

    public static EncoderModel Load(string path, string? device = "auto")
    {
        var selected = TorchRuntime.SelectDevice(device);
        using var stream = OpenModel(path);
        using var reader = new BinaryReader(stream);
        var info = ReadHeader(reader, path);
        var encoder = new AsdEncoder(info.Architecture);
        try
        {
            encoder.load(reader, strict: true);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            encoder.Dispose();
            throw new InvalidDataException($"{path}: the weights do not match the model's architecture or are damaged ({e.Message})", e);
        }
        if (stream.Position != stream.Length)
        {
            encoder.Dispose();
            throw new InvalidDataException($"{path}: trailing bytes after the weights");
        }
        string recomputed = ComputeVersionId(info with { VersionId = "" }, WeightBytes(encoder));
        if (recomputed != info.VersionId)
        {
            encoder.Dispose();
            throw new InvalidDataException($"{path}: version id {info.VersionId} does not match the weights ({recomputed}); the file is damaged");
        }
        return new EncoderModel(encoder, info, selected);
    }

    private static FileStream OpenModel(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: no such model file", path);
        return File.OpenRead(path);
    }

    private static EncoderModelInfo ReadHeader(BinaryReader reader, string path)
    {
        try
        {
            var magic = reader.ReadBytes(Magic.Length);
            if (!magic.AsSpan().SequenceEqual(Magic))
                throw new InvalidDataException($"{path}: not an AsdOrleans encoder model file");
            ushort version = reader.ReadUInt16();
            if (version != EncoderModelInfo.CurrentFormatVersion)
                throw new InvalidDataException($"{path}: model format {version} is not supported (this build reads {EncoderModelInfo.CurrentFormatVersion})");
            int length = reader.ReadInt32();
            if (length <= 0 || length > 16 << 20)
                throw new InvalidDataException($"{path}: model metadata has an impossible length {length}");
            var json = reader.ReadBytes(length);
            if (json.Length != length)
                throw new InvalidDataException($"{path}: the model file is truncated");
            var info = JsonSerializer.Deserialize<EncoderModelInfo>(json, Json)
                ?? throw new InvalidDataException($"{path}: empty model metadata");
            // The metadata repeats the format; a file whose two disagree was edited or damaged.
            if (info.FormatVersion != version)
                throw new InvalidDataException($"{path}: the metadata says model format {info.FormatVersion} but the file is format {version}; the file is damaged or was edited");
            info.Architecture.Validate();
            info.FrontEnd.Validate();
            return info;
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"{path}: the model file is truncated");
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new InvalidDataException($"{path}: model metadata is malformed ({e.Message})", e);
        }
    }

    private static byte[] WeightBytes(AsdEncoder encoder)
    {
        using var memory = new MemoryStream();
        using (var writer = new BinaryWriter(memory, Encoding.UTF8, leaveOpen: true))
            encoder.save(writer);
        return memory.ToArray();
    }

    private static string ComputeVersionId(EncoderModelInfo infoWithoutId, byte[] weights)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(VersionedMetadata(infoWithoutId));
        sha.AppendData(weights);
        return VersionIdOf(sha);
    }

    /// <summary>The metadata a version id covers: not the creation time nor the descriptive training block (and its checksum).</summary>
    private static byte[] VersionedMetadata(EncoderModelInfo infoWithoutId)
        => JsonSerializer.SerializeToUtf8Bytes(infoWithoutId with { CreatedUtc = default, Training = null, TrainingChecksum = null }, Json);

    private static string VersionIdOf(IncrementalHash sha) => "enc-" + Convert.ToHexStringLower(sha.GetHashAndReset())[..12];

    /// <summary>A checksum of the training block, so an edit of it (a seed, the data) is told apart from what training wrote.</summary>
    public static string TrainingChecksumOf(TrainingSummary training)
        => "sha256-" + Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(training, Json)))[..16];

    /// <summary>Whether a model's training block is as training wrote it: true, false (edited since), or null (no checksum: older files).</summary>
    public static bool? TrainingBlockIntact(EncoderModelInfo info)
        => info.TrainingChecksum is null || info.Training is null ? null : TrainingChecksumOf(info.Training) == info.TrainingChecksum;

    public void Dispose()
    {
        if (!ReferenceEquals(inference, Encoder))
            inference.Dispose();
        Frontend.Dispose();
        Encoder.Dispose();
    }
}
