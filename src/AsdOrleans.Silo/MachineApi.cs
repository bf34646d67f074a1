using AsdOrleans.Abstractions;
using AsdOrleans.Application;
using AsdOrleans.Method.Vocabulary;
using Microsoft.Extensions.Options;

namespace AsdOrleans.Silo;

/// <summary>The HTTP API of docs/design.md §2: machines (operator), clips (device), label requests and labels (labeller).</summary>
public static class MachineApi
{
    /// <summary>The most parts (training clips) a multipart enrollment may have.</summary>
    public const int MaxTrainingParts = 100_000;

    /// <summary>The label as a word or a number: <c>"normal"</c>, <c>"anomalous"</c> (or <c>"anomaly"</c>), <c>0</c> or <c>1</c>.</summary>
    [System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
    public sealed record LabelBody([property: System.Text.Json.Serialization.JsonConverter(typeof(LabelWordConverter))] string? Label);

    /// <summary>Reads a label given as a JSON string or number into its word, so <c>{"label": 1}</c> means what <c>"1"</c> does.</summary>
    public sealed class LabelWordConverter : System.Text.Json.Serialization.JsonConverter<string?>
    {
        public override string? Read(ref System.Text.Json.Utf8JsonReader reader, Type type, System.Text.Json.JsonSerializerOptions options) => reader.TokenType switch
        {
            System.Text.Json.JsonTokenType.String => reader.GetString(),
            System.Text.Json.JsonTokenType.Number => System.Text.Encoding.UTF8.GetString(reader.ValueSpan),
            System.Text.Json.JsonTokenType.Null => null,
            _ => throw new System.Text.Json.JsonException("a label is a string or a number"),
        };

        public override void Write(System.Text.Json.Utf8JsonWriter writer, string? value, System.Text.Json.JsonSerializerOptions options) => writer.WriteStringValue(value);
    }
    /// <summary>The answer to one clip: docs/design.md §2's {clipId, score, anomalous, labelRequested}, why the label was
    /// asked for (<see cref="ClipVerdict.QueryReason"/>; null when it was not), and whether the machine had this clip id
    /// already (<see cref="Repeated"/>: a retry gets the first verdict; the audio sent now was not scored).</summary>
    public sealed record ClipResponse(string ClipId, double Score, bool Anomalous, bool LabelRequested, string? QueryReason, bool Repeated);

    /// <summary>A pending label request as a labeller over HTTP sees it. <see cref="AudioUrl"/> is where this API serves
    /// the clip's audio when the silo stored it (clips pushed over HTTP); <see cref="AudioReference"/> is the reference a
    /// gateway gave with its clip (say an s3:// URI), null for audio the silo stored, whose path on the silo's volume is
    /// no business of a labeller's.
    /// <see cref="ClaimedBy"/> and <see cref="ClaimedUntil"/>: the labeller listening to it now, if any (<see cref="LabelRequestClaim"/>).</summary>
    public sealed record LabelRequestResponse(string MachineId, string ClipId, double Score, DateTimeOffset RequestedAt,
        string? QueryReason, string? AudioUrl, string? AudioReference, string? ClaimedBy = null, DateTimeOffset? ClaimedUntil = null,
        double? DecisionThreshold = null)
    {
        public static LabelRequestResponse Of(LabelRequest request, ClipAudioStore audio)
        {
            bool stored = audio.IsStoredHere(request.MachineId, request.ClipId, request.AudioReference);
            return new(request.MachineId, request.ClipId, request.Score, request.RequestedAt, request.QueryReason,
                stored ? AudioUrlOf(request.MachineId, request.ClipId) : null, audio.GatewayReferenceOf(request.MachineId, request.ClipId, request.AudioReference),
                request.ClaimedBy, request.ClaimedUntil, request.DecisionThreshold);
        }
    }

    /// <summary>What a key is: <see cref="Role"/> labeller or operator, and <see cref="Labeller"/>, the person a
    /// labeller key belongs to (null for a role's shared key, whose holders name themselves).</summary>
    public sealed record KeyIdentity(string Role, string? Labeller);

    /// <summary>A claim as the API answers it: who listens to the clip until when (both null: nobody).</summary>
    public sealed record ClaimResponse(string MachineId, string ClipId, string? ClaimedBy, DateTimeOffset? ClaimedUntil)
    {
        public static ClaimResponse Of(LabelRequestClaim claim) => new(claim.MachineId, claim.ClipId, claim.ClaimedBy, claim.ClaimedUntil);
    }

    /// <summary>The route of <see cref="GetClipAudio"/> for one clip.</summary>
    public static string AudioUrlOf(string machineId, string clipId)
        => $"/api/machines/{Uri.EscapeDataString(machineId)}/clips/{Uri.EscapeDataString(clipId)}/audio";

    public static void Map(WebApplication app)
    {
        var limits = app.Services.GetRequiredService<IOptions<SiloOptions>>().Value;
        var api = app.MapGroup("/api");
        api.MapPut("/machines/{id}", Configure).RequireRole(ApiRole.Operator).LimitBody(RequestGate.DefaultBodyLimit).Produces<MachineStatus>()
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(415).ProducesProblem(503);
        api.MapDelete("/machines/{id}", Retire).RequireRole(ApiRole.Operator).Produces<MachineRetirement>()
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(503);

        // What the caller's key is: its role, and the person it belongs to when it is one person's (the console signs in with it).
        api.MapGet("/whoami", (HttpRequest request, ApiKeys keys) => TypedResults.Ok(new KeyIdentity(
                keys.RoleOf(request.Headers[ApiKeys.Header])!.Value.ToString().ToLowerInvariant(), keys.LabellerNameOf(request.Headers[ApiKeys.Header]))))
            .RequireRole(ApiRole.Labeller).Produces<KeyIdentity>();

        api.MapGet("/machines", ListMachines).RequireRole(ApiRole.Labeller).Produces<MachineStatus[]>().ProducesProblem(400).ProducesProblem(503);

        api.MapGet("/machines/{id}", GetMachine).RequireRole(ApiRole.Labeller).Produces<MachineStatus>()
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(500).ProducesProblem(503);

        // Under the clip-work limit: keepLabels embeds the machine's kept labelled audio.
        api.MapPost("/machines/{id}/enrollment", Enroll).RequireRole(ApiRole.Operator).LimitBody(limits.MaxEnrollmentJsonBytes).LimitClipWork("enrollment").Produces<MachineStatus>()
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(415).ProducesProblem(503);

        api.MapPost("/machines/{id}/enrollment/audio", EnrollFromAudio).RequireRole(ApiRole.Operator).LimitBody(limits.MaxEnrollmentAudioBytes).LimitClipWork("enrollment_audio")
            .DisableAntiforgery().Produces<MachineStatus>().WithMetadata(RawRequestBody.TrainingWavs)
            // The parts are counted against MaxTrainingParts as they are read (TrainingUpload): ASP.NET's default of 1,024
            // would cap a training set (DCASE's has 1,000 clips). Here for a urlencoded body, which the framework reads.
            .WithFormOptions(valueCountLimit: MaxTrainingParts)
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(415).ProducesProblem(503);

        api.MapPost("/machines/{id}/clips", IngestClip).RequireRole(ApiRole.Device).CountByGateway().LimitBody(limits.MaxClipBytes).LimitClipWork("clip").Produces<ClipResponse>().WithMetadata(RawRequestBody.Wav)
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(415).ProducesProblem(503);

        api.MapGet("/label-requests", ListLabelRequests).RequireRole(ApiRole.Labeller).Produces<LabelRequestResponse[]>().ProducesProblem(400).ProducesProblem(404).ProducesProblem(503);

        api.MapGet("/machines/{id}/clips/{clipId}/audio", GetClipAudio).RequireRole(ApiRole.Labeller).Produces(200, contentType: "audio/wav")
            .ProducesProblem(400).ProducesProblem(404);

        api.MapPost("/machines/{id}/clips/{clipId}/label", SubmitLabel).RequireRole(ApiRole.Labeller).LimitBody(RequestGate.DefaultBodyLimit).Produces<LabelReceipt>()
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(410).ProducesProblem(415).ProducesProblem(503);
        // A labeller who cannot tell closes the request rather than guess; no body.
        api.MapPost("/machines/{id}/clips/{clipId}/decline", DeclineLabelRequest).RequireRole(ApiRole.Labeller).LimitBody(RequestGate.DefaultBodyLimit).Produces<DeclineReceipt>()
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(503);
        // Who is listening to a pending clip (X-Labeller required): advice to the other labellers, not a lock.
        api.MapPost("/machines/{id}/clips/{clipId}/claim", ClaimLabelRequest).RequireRole(ApiRole.Labeller).LimitBody(RequestGate.DefaultBodyLimit).Produces<ClaimResponse>()
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(410).ProducesProblem(503);
        api.MapDelete("/machines/{id}/clips/{clipId}/claim", ReleaseLabelRequest).RequireRole(ApiRole.Labeller).Produces<ClaimResponse>()
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(503);
    }

    // The handlers parse HTTP and map outcomes to status codes; what happens to the machine is MachineUseCases'.

    private static Task<IResult> Configure(string id, MachineSettings settings, MachineUseCases machines)
        => Guarded(id, async () => TypedResults.Ok(await machines.Configure(id, settings)));

    private static Task<IResult> Retire(string id, MachineUseCases machines)
        => Guarded(id, async () => TypedResults.Ok(await machines.Retire(id)));

    /// <summary>A page of machines in id order (<c>?after=&amp;limit=</c>); a full page carries a <c>Link: rel="next"</c> header.</summary>
    private static async Task<IResult> ListMachines(string? after, int? limit, HttpResponse response, MachineUseCases machines)
    {
        int take = limit ?? MachineUseCases.DefaultMachinesPerPage;
        if (take is < 1 or > MachineUseCases.MaxMachinesPerPage)
            return TypedResults.Problem($"limit must be in 1..{MachineUseCases.MaxMachinesPerPage}", statusCode: StatusCodes.Status400BadRequest);
        if (after is not null && !Identifiers.IsValidMachineId(after))
            return TypedResults.Problem($"after: '{after}' is not a valid machine id", statusCode: StatusCodes.Status400BadRequest);
        var page = await machines.ListMachines(after, take);
        if (page.Length == take)
            response.Headers.Link = $"</api/machines?after={Uri.EscapeDataString(page[^1].MachineId)}&limit={take}>; rel=\"next\"";
        return TypedResults.Ok(page);
    }

    private static Task<IResult> GetMachine(string id, MachineUseCases machines)
        => Guarded(id, async () => TypedResults.Ok(await machines.GetStatus(id)));

    private static Task<IResult> Enroll(string id, EnrollmentRequest request, MachineUseCases machines, ClipAudioStore audio)
        => Guarded(id, async () => TypedResults.Ok(await machines.Enroll(id, request, audio)));

    /// <summary>Enrollment from training audio: multipart parts named "source" or "target", each a WAV; the silo's
    /// encoder embeds them, so the machine's model version is the silo's. <paramref name="keepLabels"/>: the machine's
    /// kept labelled clips are embedded the same way and keep their labels.</summary>
    private static Task<IResult> EnrollFromAudio(string id, bool? keepLabels, HttpRequest request, MachineUseCases machines, ClipAudioStore audio,
        IOptions<SiloOptions> options, CancellationToken cancellation) => Guarded(id, async () =>
    {
        if (!request.HasFormContentType)
            return TypedResults.Problem("send the training clips as multipart/form-data parts named source or target", statusCode: StatusCodes.Status415UnsupportedMediaType);
        TrainingUpload upload;
        try
        {
            // Spooled to the data directory, not held: a training set is hundreds of megabytes.
            upload = await TrainingUpload.ReadAsync(request, options.Value.DataDirectory, MaxTrainingParts, cancellation);
        }
        catch (TrainingUpload.MalformedException e)
        {
            return TypedResults.Problem($"the multipart body is malformed: {e.Message}", statusCode: StatusCodes.Status400BadRequest);
        }
        using (upload)
        {
            // A part without a file name arrives as a form field, not a file: it would be dropped without a word.
            if (upload.FirstField is { } field)
                throw new ArgumentException($"part '{field}' is a form field, not a file: send each clip as a file part (curl -F {field}=@clip.wav)");
            if (upload.Files.Count == 0)
                throw new ArgumentException("no training clips in the request");
            var clips = new List<TrainingClipSource>(upload.Files.Count);
            foreach (var file in upload.Files)
            {
                bool target = file.Name switch
                {
                    "target" => true,
                    "source" => false,
                    _ => throw new ArgumentException($"part '{file.Name}' ({file.FileName}) must be named source or target"),
                };
                clips.Add(new TrainingClipSource(() => upload.ReadAsync(file, cancellation), target, file.FileName));
            }
            return TypedResults.Ok(await machines.EnrollFromAudio(id, clips, keepLabels ?? false, audio));
        }
    });

    private static Task<IResult> IngestClip(string id, string? clipId, HttpRequest request, MachineUseCases machines, ClipAudioStore audio,
        IOptions<SiloOptions> options, CancellationToken cancellation) => Guarded(id, async () =>
    {
        clipId ??= Guid.NewGuid().ToString("N");
        RequireSafeId(clipId, "clip id");
        if (request.ContentType is not { } type || !type.StartsWith("audio/", StringComparison.OrdinalIgnoreCase))
            return TypedResults.Problem("the body must be a WAV file (Content-Type: audio/wav)", statusCode: StatusCodes.Status415UnsupportedMediaType);
        var wav = await ReadLimited(request, options.Value.MaxClipBytes, cancellation);
        if (wav is null)
            return TypedResults.Problem($"the clip is larger than {options.Value.MaxClipBytes} bytes", statusCode: StatusCodes.Status413PayloadTooLarge);
        var verdict = await machines.IngestClip(id, clipId, wav, audio, cancellation: cancellation);
        return TypedResults.Ok(new ClipResponse(verdict.ClipId, verdict.Score, verdict.Anomalous, verdict.LabelRequested, verdict.QueryReason, verdict.Repeated));
    });

    private static async Task<IResult> ListLabelRequests(string? machine, int? limit, MachineUseCases machines, ClipAudioStore audio)
    {
        int take = limit ?? 100;
        if (take is < 1 or > MachineUseCases.MaxLabelRequests)
            return TypedResults.Problem($"limit must be in 1..{MachineUseCases.MaxLabelRequests}", statusCode: StatusCodes.Status400BadRequest);
        if (machine is not null && !Identifiers.IsValidMachineId(machine))
            return TypedResults.Problem($"'{machine}' is not a valid machine id", statusCode: StatusCodes.Status400BadRequest);
        try
        {
            return TypedResults.Ok((await machines.PendingLabelRequests(machine, take)).Select(r => LabelRequestResponse.Of(r, audio)).ToArray());
        }
        catch (MachineNotFoundException)
        {
            return UnknownMachine(machine!);
        }
    }

    private static Task<IResult> GetClipAudio(string id, string clipId, ClipAudioStore audio, MachineUseCases machines) => Guarded(id, async () =>
    {
        RequireSafeId(clipId, "clip id");
        if (audio.StoredAudioOf(id, clipId) is { } path)
            return TypedResults.PhysicalFile(path, "audio/wav");
        // Only when there is no file: a mistyped machine is said to be unknown, not a clip without audio.
        return await RejectUnlistedMachine(id, machines)
            ?? TypedResults.Problem(ClipAudioStore.NoStoredAudio(id, clipId), statusCode: StatusCodes.Status404NotFound);
    });

    /// <summary>Who answers, as the labeller names themselves (optional; recorded with the answer, not authenticated: the
    /// API key is the role's). The machine checks the name (a bad one is 400 through <see cref="Guarded"/>).</summary>
    public const string LabellerHeader = "X-Labeller";

    /// <summary>The <c>labeller</c> tag of an answer's metric: a named key's owner, else shared.</summary>
    private static string AnswerTag(ApiKeys keys, string? key) => keys.LabellerNameOf(key) ?? AsdOrleans.Grains.Telemetry.AsdMetrics.SharedKey;

    private static Task<IResult> SubmitLabel(string id, string clipId, LabelBody body, MachineUseCases machines, ApiKeys keys, HttpRequest request,
        [Microsoft.AspNetCore.Mvc.FromHeader(Name = LabellerHeader)] string? labeller) => Guarded(id, async () =>
    {
        string? key = request.Headers[ApiKeys.Header]; // read here, not bound: a bound header is a parameter in the OpenAPI document
        RequireSafeId(clipId, "clip id");
        var label = AsdOrleans.Method.Vocabulary.ClipWords.TryParseLabel(body.Label) switch
        {
            false => ClipLabelValue.Normal,
            true => ClipLabelValue.Anomalous,
            null => throw new ArgumentException(body.Label is null
                ? $"the body needs a label: {{\"label\": \"normal\"}} or {{\"label\": \"anomalous\"}} ({AsdOrleans.Method.Vocabulary.ClipWords.LabelChoices})"
                : AsdOrleans.Method.Vocabulary.ClipWords.NotALabel("label", body.Label)),
        };
        // The machine removes the clip's audio once the label is stored (best effort: a failure is logged and swept later).
        var receipt = await machines.SubmitLabel(id, clipId, label, labeller);
        if (!receipt.AlreadyApplied)
            AsdOrleans.Grains.Telemetry.AsdMetrics.OnAnswer(AnswerTag(keys, key), label == ClipLabelValue.Anomalous ? "anomalous" : "normal");
        return TypedResults.Ok(receipt);
    });

    private static Task<IResult> DeclineLabelRequest(string id, string clipId, MachineUseCases machines, ApiKeys keys, HttpRequest request,
        [Microsoft.AspNetCore.Mvc.FromHeader(Name = LabellerHeader)] string? labeller) => Guarded(id, async () =>
    {
        string? key = request.Headers[ApiKeys.Header]; // read here, not bound: a bound header is a parameter in the OpenAPI document
        RequireSafeId(clipId, "clip id");
        var receipt = await machines.DeclineLabelRequest(id, clipId, labeller);
        if (!receipt.AlreadyClosed) AsdOrleans.Grains.Telemetry.AsdMetrics.OnAnswer(AnswerTag(keys, key), "declined");
        return TypedResults.Ok(receipt);
    });

    /// <summary>Claims a clip for <c>?seconds=</c> (default 120, 5–600); renewing is claiming again. 409 when another
    /// labeller's claim is live, with <c>claimedBy</c> and <c>claimedUntil</c> in the problem details.</summary>
    private static Task<IResult> ClaimLabelRequest(string id, string clipId, double? seconds, MachineUseCases machines,
        [Microsoft.AspNetCore.Mvc.FromHeader(Name = LabellerHeader)] string? labeller) => Guarded(id, async () =>
    {
        RequireSafeId(clipId, "clip id");
        if (seconds is { } s && !(s >= LabelRequestClaim.MinLease.TotalSeconds && s <= LabelRequestClaim.MaxLease.TotalSeconds))
            throw new ArgumentException($"seconds (how long the claim lasts) must be in {LabelRequestClaim.MinLease.TotalSeconds:0}..{LabelRequestClaim.MaxLease.TotalSeconds:0}, got {s}");
        var claim = await machines.ClaimLabelRequest(id, clipId, labeller ?? "", seconds is { } length ? TimeSpan.FromSeconds(length) : null);
        return claim.IsHeldBy(labeller ?? "") ? TypedResults.Ok(ClaimResponse.Of(claim)) : HeldByAnother(claim, clipId);
    });

    /// <summary>409 for a clip another labeller's live claim holds, naming them and until when (claiming it, or letting it go).</summary>
    private static IResult HeldByAnother(LabelRequestClaim claim, string clipId, string? more = null)
        => TypedResults.Problem($"{claim.ClaimedBy} is listening to clip '{clipId}' until {claim.ClaimedUntil:yyyy-MM-dd HH:mm:ss} UTC{more}",
            statusCode: StatusCodes.Status409Conflict,
            extensions: new Dictionary<string, object?> { ["claimedBy"] = claim.ClaimedBy, ["claimedUntil"] = claim.ClaimedUntil });

    private static Task<IResult> ReleaseLabelRequest(string id, string clipId, MachineUseCases machines,
        [Microsoft.AspNetCore.Mvc.FromHeader(Name = LabellerHeader)] string? labeller) => Guarded(id, async () =>
    {
        RequireSafeId(clipId, "clip id");
        var claim = await machines.ReleaseLabelRequest(id, clipId, labeller ?? "");
        // Another labeller's live claim is not this caller's to let go: said, as a claim on it is (a 200 read as released).
        return claim.ClaimedBy is not null && !claim.IsHeldBy(labeller ?? "") ? HeldByAnother(claim, clipId, "; only they can let it go")
            : TypedResults.Ok(ClaimResponse.Of(claim));
    });

    /// <summary>404 for a machine nobody configured or enrolled, with what makes one.</summary>
    internal static IResult UnknownMachine(string machineId) => TypedResults.Problem(
        $"no machine '{machineId}' is configured or enrolled: PUT /api/machines/{machineId} configures it, POST /api/machines/{machineId}/enrollment enrolls it",
        statusCode: StatusCodes.Status404NotFound);

    /// <summary>400 for an invalid machine id, 404 for one the registry does not list (the machine is not woken); null
    /// for a listed machine (the per-machine reads that do not go through <see cref="MachineUseCases.GetStatus"/>).</summary>
    internal static async Task<IResult?> RejectUnlistedMachine(string machineId, MachineUseCases machines)
        => RejectInvalidMachineId(machineId) ?? (await machines.IsListed(machineId) ? null : UnknownMachine(machineId));

    /// <summary>400 with the id rule for a machine id in a route that breaks it; null for a valid one (every API's routes).</summary>
    internal static IResult? RejectInvalidMachineId(string machineId)
        => Identifiers.IsValidMachineId(machineId) ? null : TypedResults.Problem(Identifiers.InvalidMachineId(machineId), statusCode: StatusCodes.Status400BadRequest);

    /// <summary>
    /// Bad input → 400, a machine nobody configured or enrolled → 404, a label for an expired request → 410, a conflicting
    /// label, a reused clip id with other audio or an unenrolled machine → 409, as problem details; the grain changed
    /// nothing. A machine that cannot be read → 500 saying so; other faults of ours go on to <see cref="ApiExceptionHandler"/> (503/500).
    /// </summary>
    private static async Task<IResult> Guarded(string machineId, Func<Task<IResult>> action)
    {
        if (RejectInvalidMachineId(machineId) is { } rejected)
            return rejected;
        try
        {
            return await action();
        }
        catch (MachineNotFoundException)
        {
            return UnknownMachine(machineId);
        }
        catch (MachineUnreadableException e) when (ApiFaults.Classify(e) is null) // one key of another type stays Redis's 503
        {
            return TypedResults.Problem(e.Message, statusCode: StatusCodes.Status500InternalServerError); // logged where it was found
        }
        catch (LabelRequestExpiredException e)
        {
            return TypedResults.Problem(e.Message, statusCode: StatusCodes.Status410Gone);
        }
        catch (Exception e) when (e is LabelConflictException or ClipIdReusedException)
        {
            return TypedResults.Problem(e.Message, statusCode: StatusCodes.Status409Conflict);
        }
        catch (ArgumentException e)
        {
            return TypedResults.Problem(e.Message, statusCode: StatusCodes.Status400BadRequest);
        }
        catch (LabelCarryRacedException e) // named, so that a client sends again this 409 and no other
        {
            return TypedResults.Problem(e.Message, statusCode: StatusCodes.Status409Conflict,
                extensions: new Dictionary<string, object?> { ["code"] = LabelCarryRacedException.Code });
        }
        catch (InvalidOperationException e)
        {
            return TypedResults.Problem(e.Message, statusCode: StatusCodes.Status409Conflict);
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
