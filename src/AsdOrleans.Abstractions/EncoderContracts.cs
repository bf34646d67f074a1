namespace AsdOrleans.Abstractions;

/// <summary>A clip's embedding and the encoder model version that made it.</summary>
/// <param name="Standardize">The embedding is raw features (the training-free baseline's) that a machine standardises
/// per dimension on its own enrollment clips; see <see cref="EnrollmentRequest.Standardize"/>.</param>
/// <param name="Whiten">The embedding is raw features (the <c>spectral</c> embedder's) that a machine whitens; see
/// <see cref="EnrollmentRequest.Whiten"/>.</param>
[GenerateSerializer, Immutable]
public sealed record ClipEmbedding([property: Id(0)] float[] Embedding, [property: Id(1)] string ModelVersion, [property: Id(2)] double Seconds,
    [property: Id(3)] bool Standardize = false, [property: Id(4)] bool Whiten = false);

/// <summary>What an embedder makes: the version id its embeddings carry and their dimension.</summary>
[GenerateSerializer, Immutable]
public sealed record EmbedderOutput([property: Id(0)] string ModelVersion, [property: Id(1)] int Dimension);

/// <summary>
/// Stateless encoder worker: turns audio into embeddings through the silo's one batching engine, so clips from
/// all streams that arrive together share forward passes. Bad audio is refused with an ArgumentException.
/// </summary>
public interface IEncoderWorkerGrain : IGrainWithIntegerKey
{
    /// <summary>Embeds with the silo's embedder (<c>asd silo --embedder</c>).</summary>
    Task<ClipEmbedding> Embed(byte[] wav, string sourceName);

    /// <summary>Embeds with the named embedder (model, baseline or spectral); null: the silo's.</summary>
    Task<ClipEmbedding> EmbedWith(byte[] wav, string sourceName, string? embedder);

    /// <summary>What the embedder whose features an enrollment's flags describe (<see cref="EnrollmentRequest.Standardize"/>:
    /// baseline; <see cref="EnrollmentRequest.Whiten"/>: spectral; neither: the model) makes, known without embedding
    /// anything; null where the silo has no model file for the model embedder.</summary>
    Task<EmbedderOutput?> OutputForEnrollment(bool standardize, bool whiten);

    /// <summary>Embeds with the embedder machine <paramref name="machineId"/> is enrolled with (the silo's before enrollment).
    /// Workers remember each enrolled machine's embedder, so this costs no call to the machine after the first.</summary>
    Task<ClipEmbedding> EmbedFor(string machineId, byte[] wav, string sourceName);

    /// <summary>After the machine refused a clip embedded as <paramref name="usedModelVersion"/>: asks the machine for its
    /// embedder again and, if that embeds differently (it was enrolled again with another), embeds the clip anew; null if
    /// not, so a refusal for any other reason costs no second embedding.</summary>
    Task<ClipEmbedding?> EmbedAgainIfMachineChanged(string machineId, byte[] wav, string sourceName, string usedModelVersion);

    /// <summary>Embeds a clip with its machine's embedder and hands it to the machine: the ingest path of docs/design.md §2
    /// (clip → encoder → machine). A write: refused before anything is embedded while the cluster's store is lost.</summary>
    [StoreWrite]
    Task<ClipVerdict> Ingest(string machineId, string clipId, byte[] wav, string? audioReference);
}

/// <summary>The one way an embedded clip is handed to its machine, for the worker's ingest and the HTTP path alike.</summary>
public static class EmbeddedClipSubmission
{
    /// <summary>Submits the clip. If the machine refuses it, asks <paramref name="embedAgainIfMachineChanged"/> (given the
    /// model version used) for a new embedding and submits that once: a machine enrolled again with another embedder since
    /// the worker last asked. Any other refusal is rethrown unchanged.</summary>
    public static async Task<ClipVerdict> SubmitEmbedded(this IMachineGrain machine, string clipId, ClipEmbedding embedded,
        string? audioReference, uint audioFingerprint, Func<string, Task<ClipEmbedding?>> embedAgainIfMachineChanged)
    {
        try
        {
            return await machine.ProcessClip(new ClipSubmission(clipId, embedded.Embedding, embedded.ModelVersion, audioReference, audioFingerprint));
        }
        catch (ArgumentException e) when (e is not ClipIdReusedException) // no other embedding changes a reused id
        {
            var fresh = await embedAgainIfMachineChanged(embedded.ModelVersion);
            if (fresh is null) throw;
            return await machine.ProcessClip(new ClipSubmission(clipId, fresh.Embedding, fresh.ModelVersion, audioReference, audioFingerprint));
        }
    }
}

/// <summary>
/// The silo's encoder model could not be loaded (a file damaged or replaced after the silo checked it at start, a device
/// that fails): no retry gets past it until an operator replaces the model or restarts the silo (HTTP 503).
/// </summary>
[GenerateSerializer]
public sealed class EncoderModelUnavailableException : Exception
{
    public EncoderModelUnavailableException() { }

    public EncoderModelUnavailableException(string message) : base(message) { }

    public EncoderModelUnavailableException(string message, Exception innerException) : base(message, innerException) { }
}
