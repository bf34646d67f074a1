using System.Security.Cryptography;
using AsdOrleans.Cli.Commands;
using AsdOrleans.Datasets.Dcase;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Encoder;

namespace AsdOrleans.Cli.Experiments;

/// <summary>What embedding a data set cost: clips taken from the cache and clips run through the encoder.</summary>
public sealed record EmbeddingCacheReport(int Clips, int FromCache, int Embedded, TimeSpan Elapsed);

/// <summary>
/// Embeddings of audio files, kept on disk by embedder (an encoder model's version id, or the training-free baseline's
/// settings id) and file content (SHA-256): <c>CACHE/&lt;model version&gt;/&lt;hash[0..2]&gt;/&lt;hash&gt;.f32</c>, a little-endian int32 dimension then the floats.
/// A changed file or a different model finds no entry and is embedded again; nothing else is.
/// </summary>
public sealed class EmbeddingCache(string folder)
{
    public string Folder { get; } = Path.GetFullPath(folder);

    public static string DefaultFolder()
    {
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string root = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "asd", "embeddings");
    }

    /// <summary>
    /// Embeddings of every clip in <paramref name="clips"/> order; the model is loaded only when something is missing.
    /// Clips must be labelled (training clips, development test clips, or evaluation clips with ground truth).
    /// </summary>
    public (EmbeddingTable Table, EmbeddingCacheReport Report) Embed(IReadOnlyList<DcaseClip> clips, string modelPath, string device, int batchSize,
        Action<int, int> progress)
    {
        string version = EncoderModel.ReadInfo(modelPath).VersionId;
        return Embed(clips, version, () =>
        {
            var encoder = new ModelClipEmbedder(EmbedCommand.Load(modelPath, device));
            if (encoder.Version != version)
            {
                encoder.Dispose();
                throw new InvalidDataException($"{modelPath}: the model changed while it was read");
            }
            return encoder;
        }, batchSize, progress);
    }

    /// <summary>
    /// Embeddings of every clip in <paramref name="clips"/> order under the embedding function named
    /// <paramref name="version"/>; <paramref name="open"/> is called only when something is missing.
    /// </summary>
    public (EmbeddingTable Table, EmbeddingCacheReport Report) Embed(IReadOnlyList<DcaseClip> clips, string version, Func<IClipEmbedder> open, int batchSize,
        Action<int, int> progress)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var hashes = new string[clips.Count];
        Parallel.For(0, clips.Count, i => hashes[i] = ContentHash(clips[i].Path));
        var embeddings = new float[clips.Count][];
        var missing = new List<int>();
        for (int i = 0; i < clips.Count; i++)
        {
            embeddings[i] = TryRead(EntryPath(version, hashes[i]))!;
            if (embeddings[i] is null) missing.Add(i);
        }
        if (missing.Count > 0)
        {
            using var encoder = open();
            for (int start = 0; start < missing.Count; start += batchSize)
            {
                var batch = missing.Skip(start).Take(batchSize).ToList();
                var samples = AudioData.Load(batch.Select(i => clips[i]).ToList(), (_, _) => { });
                var vectors = encoder.Embed(samples);
                for (int k = 0; k < batch.Count; k++)
                {
                    embeddings[batch[k]] = vectors[k];
                    Write(EntryPath(version, hashes[batch[k]]), vectors[k]);
                }
                progress(Math.Min(start + batchSize, missing.Count), missing.Count);
            }
        }
        int dimension = embeddings[0].Length;
        if (embeddings.Any(e => e.Length != dimension))
            throw new InvalidDataException($"{Path.Combine(Folder, version)}: cached embeddings of different dimensions; delete the folder");
        var records = clips.Select((c, i) => new EmbeddingRecord(AudioData.MachineName(c), c.IsTest, c.IsTarget, c.IsAnomaly!.Value, c.FileName, embeddings[i])).ToList();
        var table = new EmbeddingTable(records, dimension, $"{clips.Count} clips embedded by {version}");
        return (table, new EmbeddingCacheReport(clips.Count, clips.Count - missing.Count, missing.Count, started.Elapsed));
    }

    public string EntryPath(string modelVersion, string contentHash) => Path.Combine(Folder, modelVersion, contentHash[..2], contentHash + ".f32");

    public static string ContentHash(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private static float[]? TryRead(string path)
    {
        if (!File.Exists(path)) return null;
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 4) return null;
        int dimension = BitConverter.ToInt32(bytes, 0);
        if (dimension < 1 || bytes.Length != 4 + 4 * dimension) return null; // damaged entry: embed again
        var vector = new float[dimension];
        Buffer.BlockCopy(bytes, 4, vector, 0, 4 * dimension);
        return vector.All(float.IsFinite) ? vector : null;
    }

    private static void Write(string path, float[] vector)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var bytes = new byte[4 + 4 * vector.Length];
        BitConverter.TryWriteBytes(bytes, vector.Length);
        Buffer.BlockCopy(vector, 0, bytes, 4, 4 * vector.Length);
        string temp = $"{path}.tmp-{Environment.ProcessId}-{Environment.CurrentManagedThreadId}";
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
    }
}
