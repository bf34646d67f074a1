using Microsoft.AspNetCore.Http.Features;

namespace AsdOrleans.Silo;

/// <summary>Endpoint metadata: the largest request body the endpoint accepts (413 beyond it).</summary>
public sealed record RequestBodyLimit(long Bytes);

/// <summary>Endpoint metadata: a write taken while Redis's store is lost or not durable: it is the operator's answer to that.</summary>
public sealed record RepairsRedisStore;

/// <summary>
/// What every request passes before its endpoint runs, so that nothing reads, buffers or parses a body first: the
/// request target's length (414), the API key (401/403), a write while Redis is not durable or has lost the cluster's store (503,
/// <see cref="RedisDurabilityWatch"/>, <see cref="RedisStoreWatch"/>) and the endpoint's body limit (413), each refused as a problem document. A person's own labeller key also names who answers: the gate sets <c>X-Labeller</c> to its name,
/// and refuses (403) a request that claims another.
/// </summary>
public static class RequestGate
{
    /// <summary>Bodies of endpoints that declare no limit (settings, labels): small JSON documents.</summary>
    public const long DefaultBodyLimit = 64 * 1024;
    /// <summary>Longest path and query answered (Kestrel's own, larger limit answers 414 without a body).</summary>
    public const int MaxRequestTargetLength = 8 * 1024;
    /// <summary>Kestrel's request-line limit, above <see cref="MaxRequestTargetLength"/> so that the gate answers first.</summary>
    public const int KestrelRequestLineLimit = 64 * 1024;

    public static TBuilder LimitBody<TBuilder>(this TBuilder builder, long bytes) where TBuilder : IEndpointConventionBuilder
        => builder.WithMetadata(new RequestBodyLimit(bytes), ApiKeyEndpointExtensions.Problem(StatusCodes.Status413PayloadTooLarge));

    public static IApplicationBuilder UseRequestGate(this IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        var request = http.Request;
        if (request.Path.Value?.Length + request.QueryString.Value?.Length > MaxRequestTargetLength)
        {
            await Refuse(http, StatusCodes.Status414UriTooLong, $"the request target is longer than {MaxRequestTargetLength} characters");
            return;
        }
        var endpoint = http.GetEndpoint();
        if (endpoint?.Metadata.GetMetadata<RequiredApiRole>() is { } required)
        {
            var keys = http.RequestServices.GetRequiredService<ApiKeys>();
            string? key = request.Headers[ApiKeys.Header];
            var check = keys.Check(key, required.Role);
            if (check != KeyCheck.Allowed)
            {
                await (check == KeyCheck.Unauthenticated
                    ? Refuse(http, StatusCodes.Status401Unauthorized, $"missing or unknown {ApiKeys.Header} header")
                    : Refuse(http, StatusCodes.Status403Forbidden, $"this key does not have the {required.Role.ToString().ToLowerInvariant()} role"));
                return;
            }
            // A gateway's own key sends clips for its machines only; a machine id that is not valid is the endpoint's 400.
            if (required.Role == ApiRole.Device && keys.GatewayOf(key) is ({ } gatewayName, { } gateway)
                && http.GetRouteValue("id") is string machineId && AsdOrleans.Method.Vocabulary.Identifiers.IsValidMachineId(machineId)
                && !gateway.Serves(machineId))
            {
                await Refuse(http, StatusCodes.Status403Forbidden,
                    $"this key is gateway {gatewayName}'s: it sends clips for {string.Join(", ", gateway.Machines)} only, not for machine {machineId}");
                return;
            }
            // Only labeller routes can be reached with a person's key (it has no other role): clips and operators' calls skip the lookup.
            if (required.Role == ApiRole.Labeller && keys.LabellerNameOf(key) is { } owner)
            {
                string? said = request.Headers[MachineApi.LabellerHeader];
                if (!string.IsNullOrEmpty(said) && said != owner)
                {
                    await Refuse(http, StatusCodes.Status403Forbidden, $"this key is {owner}'s: it answers as {owner}, not as {said}");
                    return;
                }
                request.Headers[MachineApi.LabellerHeader] = owner;
            }
            else if (required.Role == ApiRole.Labeller && request.Headers[MachineApi.LabellerHeader].ToString() is { Length: > 0 } named && keys.HasKeyOfTheirOwn(named))
            {
                // A person with a key of their own answers with it: a shared key typing that name would write in their name.
                await Refuse(http, StatusCodes.Status403Forbidden, $"{named} has a labeller key of their own: answers in that name come with it, not with a shared key");
                return;
            }
        }
        if (endpoint?.Metadata.GetMetadata<RequiredApiRole>() is not null && !HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method)
            && endpoint.Metadata.GetMetadata<RepairsRedisStore>() is null)
        {
            if (http.RequestServices.GetService<RedisDurabilityWatch>()?.Problem is not null)
            {
                await Refuse(http, StatusCodes.Status503ServiceUnavailable, RedisDurabilityWatch.ClientDetail);
                return;
            }
            if (http.RequestServices.GetService<RedisStoreWatch>()?.Problem is not null)
            {
                await Refuse(http, StatusCodes.Status503ServiceUnavailable, RedisStoreWatch.ClientDetail);
                return;
            }
        }
        long limit = endpoint?.Metadata.GetMetadata<RequestBodyLimit>()?.Bytes ?? DefaultBodyLimit;
        if (request.ContentLength > limit)
        {
            await Refuse(http, StatusCodes.Status413PayloadTooLarge, $"the body is larger than this endpoint's limit of {limit} bytes");
            return;
        }
        // A body without Content-Length is cut off by Kestrel at the limit (BadHttpRequestException 413).
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            size.MaxRequestBodySize = limit;
        await next(http);
    });

    /// <summary>
    /// Answers a refusal as a problem document; <paramref name="retryAfterSeconds"/> for a refusal that a later try may
    /// pass (a silo at one of its limits: <see cref="ClipWorkLimit"/>, <see cref="EventsApi"/>).
    /// </summary>
    internal static async Task Refuse(HttpContext http, int status, string detail, string? title = null, int? retryAfterSeconds = null)
    {
        http.Response.StatusCode = status;
        if (retryAfterSeconds is { } seconds)
            http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        // An unread body is not drained (that would read it after all): the connection closes after this answer.
        if (http.Request.ContentLength > 0 || http.Request.Headers.TransferEncoding.Count > 0)
            http.Response.Headers.Connection = "close";
        await http.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            ProblemDetails = { Status = status, Title = title, Detail = detail },
        });
    }
}
