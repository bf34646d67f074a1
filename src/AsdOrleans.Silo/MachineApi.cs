using AsdOrleans.Abstractions;
using AsdOrleans.Method.Vocabulary;
using Microsoft.Extensions.Options;

namespace AsdOrleans.Silo;

/// <summary>The HTTP API of docs/design.md §2: machines (operator), clips (device), label requests and labels (labeller).</summary>
public static class MachineApi
{
    public sealed record LabelBody(string? Label);
    /// <summary>The answer to one clip: docs/design.md §2's {clipId, score, anomalous, labelRequested}.</summary>
    public sealed record ClipResponse(string ClipId, double Score, bool Anomalous, bool LabelRequested);

    public static void Map(WebApplication app)
    {
        var limits = app.Services.GetRequiredService<IOptions<SiloOptions>>().Value;
        var api = app.MapGroup("/api");
        api.MapPut("/machines/{id}", (string id, MachineSettings settings, IClusterClient client) => Guarded(id, async () =>
        {
            var status = await client.GetGrain<IMachineGrain>(id).Configure(settings);
            await client.GetGrain<IMachineRegistryGrain>(0).Register(id);
            return Results.Ok(status);
        })).RequireRole(ApiRole.Operator).LimitBody(RequestGate.DefaultBodyLimit).Produces<MachineStatus>()
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
        })).RequireRole(ApiRole.Operator).LimitBody(limits.MaxEnrollmentJsonBytes).Produces<MachineStatus>()
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(503);

        // Enrollment from training audio: multipart parts named "source" or "target", each a WAV; the silo's
        // encoder embeds them, so the machine's model version is the silo's.
        api.MapPost("/machines/{id}/enrollment/audio", (string id, HttpRequest request, IClusterClient client, CancellationToken cancellation) => Guarded(id, async () =>
        {
            if (!request.HasFormContentType)
                return Results.Problem("send the training clips as multipart/form-data parts named source or target", statusCode: StatusCodes.Status415UnsupportedMediaType);
            IFormCollection form;
            try
            {
                form = await request.ReadFormAsync(cancellation);
            }
            catch (Exception e) when (e is InvalidDataException || (e is IOException and not BadHttpRequestException))
            {
                return Results.Problem($"the multipart body is malformed: {e.Message}", statusCode: StatusCodes.Status400BadRequest);
            }
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
        })).RequireRole(ApiRole.Operator).LimitBody(limits.MaxEnrollmentAudioBytes).DisableAntiforgery().Produces<MachineStatus>().WithMetadata(RawRequestBody.TrainingWavs)
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
            // Bad audio is refused here, before anything is stored.
            var embedded = await client.GetGrain<IEncoderWorkerGrain>(0).Embed(wav, $"{id}/{clipId}");
            var machine = client.GetGrain<IMachineGrain>(id);
            // Audio folders exist for enrolled machines only: a device key cannot make folders for invented ids.
            if (!audio.HasFolderFor(id) && !(await machine.GetStatus()).Enrolled)
                throw new InvalidOperationException($"machine {id} is not enrolled yet: enroll it from training clips first");
            // Stored before the machine sees the clip, so a label request never points at missing audio; never over
            // the audio of an earlier clip with this id.
            bool stored = await audio.SaveIfAbsentAsync(id, clipId, wav, cancellation);
            ClipVerdict verdict;
            try
            {
                verdict = await machine.ProcessClip(new ClipSubmission(clipId, embedded.Embedding, embedded.ModelVersion, audio.PathOf(id, clipId)));
            }
            catch (Exception e) when (stored && e is ArgumentException or InvalidOperationException)
            {
                audio.TryDelete(id, clipId); // refused: the machine changed nothing, so nothing points at this file
                throw;
            }
            // Other failures leave the file: a timed-out write may have landed after all; if not, the machine's orphan sweep removes it.
            if (stored && (!verdict.LabelRequested || verdict.Repeated))
                audio.TryDelete(id, clipId); // not asked for, or a retry: the original clip's audio (if any) is the one kept
            return Results.Ok(new ClipResponse(verdict.ClipId, verdict.Score, verdict.Anomalous, verdict.LabelRequested));
        })).RequireRole(ApiRole.Device).LimitBody(limits.MaxClipBytes).Produces<ClipResponse>().WithMetadata(RawRequestBody.Wav)
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(415).ProducesProblem(503);

        api.MapGet("/label-requests", async (string? machine, int? limit, IClusterClient client) =>
        {
            int take = limit ?? 100;
            if (take is < 1 or > 10_000)
                return Results.Problem("limit must be in 1..10000", statusCode: StatusCodes.Status400BadRequest);
            IEnumerable<string> ids = machine is null ? await client.GetGrain<IMachineRegistryGrain>(0).List() : [machine];
            if (machine is not null && !Identifiers.IsValidMachineId(machine))
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

        api.MapPost("/machines/{id}/clips/{clipId}/label", (string id, string clipId, LabelBody body, IClusterClient client) => Guarded(id, async () =>
        {
            RequireSafeId(clipId, "clip id");
            var label = body.Label?.Trim().ToLowerInvariant() switch
            {
                "normal" => ClipLabelValue.Normal,
                "anomalous" or "anomaly" => ClipLabelValue.Anomalous,
                _ => throw new ArgumentException($"label must be \"normal\" or \"anomalous\", got \"{body.Label}\""),
            };
            // The machine removes the clip's audio once the label is stored (best effort: a failure is logged and swept later).
            return Results.Ok(await client.GetGrain<IMachineGrain>(id).SubmitLabel(clipId, label));
        })).RequireRole(ApiRole.Labeller).LimitBody(RequestGate.DefaultBodyLimit).Produces<LabelReceipt>()
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(410).ProducesProblem(503);
    }

    /// <summary>
    /// Bad input → 400, a label for an expired request → 410, a conflicting label or an unenrolled machine → 409, as
    /// problem details; the grain changed nothing. Faults of ours go on to <see cref="ApiExceptionHandler"/> (503/500).
    /// </summary>
    private static async Task<IResult> Guarded(string machineId, Func<Task<IResult>> action)
    {
        if (!Identifiers.IsValidMachineId(machineId))
            return Results.Problem($"'{machineId}' is not a valid machine id (letters, digits, '.', '_', '-'; at most 128 characters)", statusCode: StatusCodes.Status400BadRequest);
        try
        {
            return await action();
        }
        catch (LabelRequestExpiredException e)
        {
            return Results.Problem(e.Message, statusCode: StatusCodes.Status410Gone);
        }
        catch (LabelConflictException e)
        {
            return Results.Problem(e.Message, statusCode: StatusCodes.Status409Conflict);
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
        if (!AsdOrleans.Method.Vocabulary.Identifiers.IsValidClipId(id))
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
