using AsdOrleans.Abstractions;
using AsdOrleans.Audio;
using AsdOrleans.Grains.Placement;
using AsdOrleans.Method.Machines;
using Orleans.Concurrency;

namespace AsdOrleans.EncoderGrains;

/// <summary>
/// Decodes audio (NAudio providers: downmix, resample to 16 kHz, refuse bad files) and embeds it through the
/// silo's shared batcher. Stateless and reentrant: many activations and calls feed one batching engine. Only on silos
/// with the encoder role: a call from a silo without it goes to an encoder silo, so that silo never loads a model.
/// </summary>
[StatelessWorker, Reentrant, RequiresSiloRole(SiloRoles.Encoder)]
public sealed class EncoderWorkerGrain(EncoderService encoder) : Grain, IEncoderWorkerGrain
{
    public Task<ClipEmbedding> Embed(byte[] wav, string sourceName) => EmbedWith(wav, sourceName, null);

    public Task<EmbedderOutput?> OutputForEnrollment(bool standardize, bool whiten)
        => Task.FromResult(encoder.OutputOf(EmbedderNames.FromFeatureTransform(standardize, whiten)));

    public Task<ClipEmbedding> EmbedWith(byte[] wav, string sourceName, string? embedder) => EmbedAs(wav, sourceName, encoder.Resolve(embedder));

    private async Task<ClipEmbedding> EmbedAs(byte[] wav, string sourceName, EmbedderKind embedder)
    {
        AudioClip clip;
        try
        {
            ArgumentNullException.ThrowIfNull(wav);
            using var stream = new MemoryStream(wav, writable: false);
            clip = WavDecoder.Read(stream, sourceName, encoder.Options.Audio);
        }
        catch (AudioFormatException e)
        {
            // Callers across the cluster get a plain, serialisable bad-input error with the decoder's message
            // (no inner exception: Orleans has no codec for Core's exception types).
            throw new ArgumentException(e.Message);
        }
        var embedding = await encoder.EmbedAsync(clip.Samples, embedder);
        return new ClipEmbedding(embedding, encoder.ModelVersionOf(embedder), clip.Duration.TotalSeconds,
            Standardize: embedder == EmbedderKind.Baseline, Whiten: embedder == EmbedderKind.Spectral);
    }

    public async Task<ClipEmbedding> EmbedFor(string machineId, byte[] wav, string sourceName)
        => await EmbedAs(wav, sourceName, await EnrolledEmbedder(machineId, refresh: false));

    public async Task<ClipEmbedding?> EmbedAgainIfMachineChanged(string machineId, byte[] wav, string sourceName, string usedModelVersion)
    {
        var embedder = await EnrolledEmbedder(machineId, refresh: true);
        return encoder.ModelVersionOf(embedder) == usedModelVersion ? null : await EmbedAs(wav, sourceName, embedder);
    }

    public async Task<ClipVerdict> Ingest(string machineId, string clipId, byte[] wav, string? audioReference)
    {
        var machine = GrainFactory.GetGrain<IMachineGrain>(machineId);
        string source = $"{machineId}/{clipId}";
        var embedded = await EmbedFor(machineId, wav, source);
        return await machine.SubmitEmbedded(clipId, embedded, audioReference, ClipAudioFingerprint.Of(wav),
            usedModelVersion => EmbedAgainIfMachineChanged(machineId, wav, source, usedModelVersion));
    }

    /// <summary>The machine's enrolled embedder, remembered per silo once the machine is enrolled; the silo's before.</summary>
    private async Task<EmbedderKind> EnrolledEmbedder(string machineId, bool refresh)
    {
        if (!refresh && encoder.TryGetEnrolledEmbedder(machineId, out var known))
            return known;
        string? enrolled = await GrainFactory.GetGrain<IMachineGrain>(machineId).GetEnrolledEmbedder();
        var embedder = encoder.Resolve(enrolled);
        if (enrolled is null) encoder.ForgetEnrolledEmbedder(machineId);
        else encoder.RememberEnrolledEmbedder(machineId, embedder);
        return embedder;
    }
}
