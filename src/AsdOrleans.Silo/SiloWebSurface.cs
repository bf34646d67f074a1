using System.Net;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Orleans.Dashboard;

namespace AsdOrleans.Silo;

/// <summary>
/// The silo host's web surface besides the API itself: the Orleans dashboard at /dashboard (operators and loopback
/// clients only) and the API's OpenAPI document at /openapi/v1.json.
/// </summary>
public static class SiloWebSurface
{
    public const string DashboardPath = "/dashboard";
    public const string OpenApiPath = "/openapi/v1.json";
    public const string ApiKeyScheme = "ApiKey";

    /// <summary>Services for the OpenAPI document (the dashboard's are added on the silo builder: AddDashboard).</summary>
    public static WebApplicationBuilder AddAsdWebSurface(this WebApplicationBuilder builder)
    {
        builder.Services.AddOpenApi(options =>
        {
            options.AddDocumentTransformer((document, _, _) =>
            {
                document.Info.Title = "AsdOrleans silo HTTP API";
                document.Info.Description = "Anomalous sound detection with stream-based active learning. Every /api endpoint needs an "
                    + $"{ApiKeys.Header} header holding a key of the role its description names (device, labeller, operator; "
                    + "operator keys also pass labeller checks; a missing or unknown key is 401, a key without the role 403). Keys and "
                    + "body limits (413) are checked before a body is read. Errors are RFC 9457 problem details; 503 with Retry-After "
                    + "means a cluster or storage fault of the silo: retry the same request. 503 without Retry-After means the "
                    + "cluster's store refuses the silo (its detail says why) until an operator acts; the request changed nothing.";
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes[ApiKeyScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.ApiKey,
                    In = ParameterLocation.Header,
                    Name = ApiKeys.Header,
                    Description = "API key of a role: device (clips), labeller (label requests, audio, labels), operator (machines, enrollment)",
                };
                return Task.CompletedTask;
            });
            options.AddOperationTransformer((operation, context, _) =>
            {
                // Bodies the handlers read themselves (so that audio/x-wav is as welcome as audio/wav) are described here.
                if (context.Description.ActionDescriptor.EndpointMetadata.OfType<RawRequestBody>().LastOrDefault() is { } body)
                    operation.RequestBody = body.Describe();
                if (context.Description.ActionDescriptor.EndpointMetadata.OfType<RequiredApiRole>().LastOrDefault() is not { } required)
                    return Task.CompletedTask;
                operation.Security ??= [];
                operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(ApiKeyScheme, context.Document)] = [] });
                string role = required.Role.ToString().ToLowerInvariant();
                operation.Description = string.IsNullOrEmpty(operation.Description) ? $"Role: {role}." : $"{operation.Description} Role: {role}.";
                return Task.CompletedTask;
            });
        });
        return builder;
    }

    public static WebApplication MapAsdWebSurface(this WebApplication app)
    {
        app.MapOpenApi(OpenApiPath);
        app.MapOrleansDashboard(routePrefix: DashboardPath)
            .ExcludeFromDescription()
            .AddEndpointFilter(async (context, next) =>
            {
                var http = context.HttpContext;
                var keys = http.RequestServices.GetRequiredService<ApiKeys>();
                return DashboardAccessRule.Decide(http.Connection.RemoteIpAddress, http.Request.Host, http.Request.Headers[ApiKeys.Header], keys) switch
                {
                    DashboardAccess.Allowed => await next(context),
                    DashboardAccess.Unauthenticated => Results.Problem(
                        $"the dashboard answers loopback clients, or others with a known operator key in the {ApiKeys.Header} header",
                        statusCode: StatusCodes.Status401Unauthorized),
                    _ => Results.Problem("the dashboard needs a key with the operator role", statusCode: StatusCodes.Status403Forbidden),
                };
            });
        return app;
    }
}

/// <summary>
/// Who may see the dashboard: a client on this machine (an SSH tunnel, a local browser) that asked for a loopback host
/// name, or anyone presenting an operator key. The client address is the TCP peer's: behind a reverse proxy on the same
/// host every request would look local, so such a proxy must require its own authentication (or inject the operator
/// key). The host name is checked too because a web page whose name was rebound to 127.0.0.1 reaches the silo from the
/// operator's own browser, as a loopback peer, with its own name in Host.
/// </summary>
public enum DashboardAccess { Allowed, Unauthenticated, WrongRole }

public static class DashboardAccessRule
{
    public static DashboardAccess Decide(IPAddress? client, HostString host, string? key, ApiKeys keys)
    {
        var check = keys.Check(key, ApiRole.Operator);
        if (check == KeyCheck.Allowed) return DashboardAccess.Allowed;
        if (client is not null && IPAddress.IsLoopback(client.IsIPv4MappedToIPv6 ? client.MapToIPv4() : client) && IsLoopbackName(host))
            return DashboardAccess.Allowed;
        return check == KeyCheck.Unauthenticated ? DashboardAccess.Unauthenticated : DashboardAccess.WrongRole;
    }

    /// <summary>localhost (or a name under .localhost, RFC 6761), or a loopback address literal, with any port.</summary>
    public static bool IsLoopbackName(HostString host)
    {
        if (!host.HasValue) return false;
        string name = host.Host.Trim('[', ']').TrimEnd('.');
        return name.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || name.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(name, out var address) && IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address));
    }
}

/// <summary>OpenAPI description of a request body an endpoint reads itself: raw audio, or multipart WAV parts.</summary>
public sealed record RawRequestBody(string Description, IReadOnlyList<string> ContentTypes, IReadOnlyList<string>? MultipartParts = null)
{
    public static readonly RawRequestBody Wav = new("One clip as a WAV file (mono; PCM or IEEE float; other rates are resampled to 16 kHz).", ["audio/wav", "audio/x-wav"]);

    public static readonly RawRequestBody TrainingWavs = new("Training clips as multipart/form-data WAV files, each part named source or target (its domain).",
        ["multipart/form-data"], ["source", "target"]);

    public OpenApiRequestBody Describe()
    {
        var binary = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" };
        IOpenApiSchema schema = MultipartParts is null
            ? binary
            : new OpenApiSchema
            {
                Type = JsonSchemaType.Object,
                Properties = MultipartParts.ToDictionary(p => p, _ => (IOpenApiSchema)new OpenApiSchema { Type = JsonSchemaType.Array, Items = binary }),
            };
        return new OpenApiRequestBody
        {
            Required = true,
            Description = Description,
            Content = ContentTypes.ToDictionary(t => t, _ => new OpenApiMediaType { Schema = schema }),
        };
    }
}
