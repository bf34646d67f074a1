using AsdOrleans.Abstractions;
using AsdOrleans.Audio;
using AsdOrleans.Grains.Placement;
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
    public async Task<ClipEmbedding> Embed(byte[] wav, string sourceName)
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
        var embedding = await encoder.EmbedAsync(clip.Samples);
        return new ClipEmbedding(embedding, encoder.ModelVersion, clip.Duration.TotalSeconds, encoder.Standardize, encoder.Whiten);
    }

    public async Task<ClipVerdict> Ingest(string machineId, string clipId, byte[] wav, string? audioReference)
    {
        var embedded = await Embed(wav, $"{machineId}/{clipId}");
        return await GrainFactory.GetGrain<IMachineGrain>(machineId).ProcessClip(new ClipSubmission(clipId, embedded.Embedding, embedded.ModelVersion, audioReference));
    }
}
