using AsdOrleans.Abstractions;
using AsdOrleans.Core.Experiments;
using Microsoft.Extensions.Options;

namespace AsdOrleans.Silo;

/// <summary>The HTTP API of DESIGN §2: machines (operator), clips (device), label requests and labels (labeller).</summary>
public static class MachineApi
{
    public sealed record LabelBody(string? Label);
    /// <summary>The answer to one clip: DESIGN §2's {clipId, score, anomalous, labelRequested}.</summary>
    public sealed record ClipResponse(string ClipId, double Score, bool Anomalous, bool LabelRequested);

    public static void Map(WebApplication app)
    {
        app.MapGet("/healthz", () => Results.Ok(new { status = "ok" }));
        app.MapGet("/readyz", async (IClusterClient client) =>
        {
            await client.GetGrain<IMachineRegistryGrain>(0).List();
            return Results.Ok(new { status = "ready" });
        });

        var api = app.MapGroup("/api");
        api.MapPut("/machines/{id}", (string id, MachineSettings settings, IClusterClient client) => Guarded(id, async () =>
        {
            var status = await client.GetGrain<IMachineGrain>(id).Configure(settings);
            await client.GetGrain<IMachineRegistryGrain>(0).Register(id);
            return Results.Ok(status);
        })).RequireRole(ApiRole.Operator).Produces<MachineStatus>()
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(503);

        api.MapGet("/machines", async (IClusterClient client) =>
        {
            var ids = await client.GetGrain<IMachineRegistryGrain>(0).List();
            var statuses = await Task.WhenAll(ids.Select(id => client.GetGrain<IMachineGrain>(id).GetStatus()));
            return Results.Ok(statuses);
        }).RequireRole(ApiRole.Labeller).Produces<MachineStatus[]>().ProducesProblem(503);

        api.MapGet("/machines/{id}", (string id, IClusterClient client) => Guarded(id, async () =>
            Results.Ok(await client.GetGrain<IMachineGrain>(id).GetStatus()))).RequireRole(ApiRole.Labeller).Produces<MachineStatus>()
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(503);

        api.MapPost("/machines/{id}/enrollment", (string id, EnrollmentRequest request, IClusterClient client) => Guarded(id, async () =>
        {
            var status = await client.GetGrain<IMachineGrain>(id).Enroll(request);
            await client.GetGrain<IMachineRegistryGrain>(0).Register(id);
            return Results.Ok(status);
        })).RequireRole(ApiRole.Operator).Produces<MachineStatus>()
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(503);

        // Enrollment from training audio: multipart parts named "source" or "target", each a WAV; the silo's
        // encoder embeds them, so the machine's model version is the silo's.
        api.MapPost("/machines/{id}/enrollment/audio", (string id, HttpRequest request, IClusterClient client) => Guarded(id, async () =>
        {
            if (!request.HasFormContentType)
                return Results.Problem("send the training clips as multipart/form-data parts named source or target", statusCode: StatusCodes.Status415UnsupportedMediaType);
            var form = await request.ReadFormAsync();
            if (form.Files.Count == 0)
                throw new ArgumentException("no training clips in the request");
            var worker = client.GetGrain<IEncoderWorkerGrain>(0);
            var clips = await Task.WhenAll(form.Files.Select(async file =>
            {
                bool target = file.Name switch
                {
                    "target" => true,
                    "source" => false,
                    _ => throw new ArgumentException($"part '{file.Name}' ({file.FileName}) must be named source or target"),
                };
                using var buffer = new MemoryStream();
                await file.CopyToAsync(buffer);
                var embedded = await worker.Embed(buffer.ToArray(), file.FileName);
                return (embedded, target);
            }));
            var enrollment = new EnrollmentRequest(clips.Select(c => new EnrollmentClip(c.embedded.Embedding, c.target)).ToList(), clips[0].embedded.ModelVersion);
            var status = await client.GetGrain<IMachineGrain>(id).Enroll(enrollment);
            await client.GetGrain<IMachineRegistryGrain>(0).Register(id);
            return Results.Ok(status);
        })).RequireRole(ApiRole.Operator).DisableAntiforgery().Produces<MachineStatus>().WithMetadata(RawRequestBody.TrainingWavs)
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(415).ProducesProblem(503);

        api.MapPost("/machines/{id}/clips", (string id, string? clipId, HttpRequest request, IClusterClient client, ClipAudioStore audio,
            IOptions<SiloOptions> options, CancellationToken cancellation) => Guarded(id, async () =>
        {
            clipId ??= Guid.NewGuid().ToString("N");
            RequireSafeId(clipId, "clip id");
            if (request.ContentType is not { } type || !type.StartsWith("audio/", StringComparison.OrdinalIgnoreCase))
                return Results.Problem("the body must be a WAV file (Content-Type: audio/wav)", statusCode: StatusCodes.Status415UnsupportedMediaType);
            var wav = await ReadLimited(request, options.Value.MaxClipBytes, cancellation);
            if (wav is null)
                return Results.Problem($"the clip is larger than {options.Value.MaxClipBytes} bytes", statusCode: StatusCodes.Status413PayloadTooLarge);
            // The audio is stored first, so a label request never points at missing audio; it is dropped when not needed.
            string path = await audio.SaveAsync(id, clipId, wav, cancellation);
            try
            {
                var verdict = await client.GetGrain<IEncoderWorkerGrain>(0).Ingest(id, clipId, wav, path);
                if (!verdict.LabelRequested) audio.Delete(id, clipId);
                return Results.Ok(new ClipResponse(verdict.ClipId, verdict.Score, verdict.Anomalous, verdict.LabelRequested));
            }
            catch
            {
                audio.Delete(id, clipId);
                throw;
            }
        })).RequireRole(ApiRole.Device).Produces<ClipResponse>().WithMetadata(RawRequestBody.Wav)
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(413).ProducesProblem(415).ProducesProblem(503);

        api.MapGet("/label-requests", async (string? machine, int? limit, IClusterClient client) =>
        {
            int take = limit ?? 100;
            if (take is < 1 or > 10_000)
                return Results.Problem("limit must be in 1..10000", statusCode: StatusCodes.Status400BadRequest);
            IEnumerable<string> ids = machine is null ? await client.GetGrain<IMachineRegistryGrain>(0).List() : [machine];
            if (machine is not null && !EmbeddingTable.IsValidMachineName(machine))
                return Results.Problem($"'{machine}' is not a valid machine id", statusCode: StatusCodes.Status400BadRequest);
            var lists = await Task.WhenAll(ids.Select(id => client.GetGrain<IMachineGrain>(id).GetPendingLabelRequests(take)));
            return Results.Ok(lists.SelectMany(l => l).OrderBy(r => r.RequestedAt).Take(take).ToList());
        }).RequireRole(ApiRole.Labeller).Produces<LabelRequest[]>().ProducesProblem(400).ProducesProblem(503);

        api.MapGet("/machines/{id}/clips/{clipId}/audio", (string id, string clipId, ClipAudioStore audio) => Guarded(id, () =>
        {
            RequireSafeId(clipId, "clip id");
            string path = audio.PathOf(id, clipId);
            return Task.FromResult(File.Exists(path)
                ? Results.File(path, "audio/wav")
                : Results.Problem($"no stored audio for clip '{clipId}' of machine {id}", statusCode: StatusCodes.Status404NotFound));
        })).RequireRole(ApiRole.Labeller).Produces(200, contentType: "audio/wav")
            .ProducesProblem(400).ProducesProblem(404);

        api.MapPost("/machines/{id}/clips/{clipId}/label", (string id, string clipId, LabelBody body, IClusterClient client, ClipAudioStore audio) => Guarded(id, async () =>
        {
            RequireSafeId(clipId, "clip id");
            var label = body.Label?.Trim().ToLowerInvariant() switch
            {
                "normal" => ClipLabelValue.Normal,
                "anomalous" or "anomaly" => ClipLabelValue.Anomalous,
                _ => throw new ArgumentException($"label must be \"normal\" or \"anomalous\", got \"{body.Label}\""),
            };
            var receipt = await client.GetGrain<IMachineGrain>(id).SubmitLabel(clipId, label);
            audio.Delete(id, clipId); // labelled: the audio has served its purpose
            return Results.Ok(receipt);
        })).RequireRole(ApiRole.Labeller).Produces<LabelReceipt>()
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(503);
    }

    /// <summary>Bad input → 400, a label for an expired request → 410 and an unenrolled machine → 409, as problem details; the grain changed nothing.</summary>
    private static async Task<IResult> Guarded(string machineId, Func<Task<IResult>> action)
    {
        if (!EmbeddingTable.IsValidMachineName(machineId))
            return Results.Problem($"'{machineId}' is not a valid machine id (letters, digits, '.', '_', '-'; at most 128 characters)", statusCode: StatusCodes.Status400BadRequest);
        try
        {
            return await action();
        }
        catch (LabelRequestExpiredException e)
        {
            return Results.Problem(e.Message, statusCode: StatusCodes.Status410Gone);
        }
        catch (ArgumentException e)
        {
            return Results.Problem(e.Message, statusCode: StatusCodes.Status400BadRequest);
        }
        catch (InvalidOperationException e)
        {
            return Results.Problem(e.Message, statusCode: StatusCodes.Status409Conflict);
        }
    }

    private static void RequireSafeId(string id, string what)
    {
        if (!AsdOrleans.Core.Vocabulary.Identifiers.IsValidClipId(id))
            throw new ArgumentException($"{what} '{id}' must be 1–128 letters, digits, '.', '_' or '-' (not '.' or '..')");
    }

    private static async Task<byte[]?> ReadLimited(HttpRequest request, long limit, CancellationToken cancellation)
    {
        if (request.ContentLength > limit) return null;
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellation)) > 0)
        {
            if (buffer.Length + read > limit) return null;
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }
}
