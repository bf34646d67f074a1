using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace AsdOrleans.Silo;

public enum ApiRole { Device, Labeller, Operator }

/// <summary>Checks X-Api-Key against the configured keys of a role, in constant time.</summary>
public sealed class ApiKeys(IOptions<SiloOptions> options)
{
    public const string Header = "X-Api-Key";

    public bool Allows(string? key, ApiRole role)
    {
        if (string.IsNullOrEmpty(key)) return false;
        var keys = options.Value.ApiKeys;
        IEnumerable<string> accepted = role switch
        {
            ApiRole.Device => keys.Device,
            ApiRole.Labeller => keys.Labeller.Concat(keys.Operator),
            _ => keys.Operator,
        };
        var given = Encoding.UTF8.GetBytes(key);
        bool match = false;
        foreach (var candidate in accepted)
            match |= CryptographicOperations.FixedTimeEquals(given, Encoding.UTF8.GetBytes(candidate));
        return match;
    }
}

/// <summary>Endpoint metadata: the role an endpoint's X-Api-Key must have (read by the OpenAPI document).</summary>
public sealed record RequiredApiRole(ApiRole Role);

public static class ApiKeyEndpointExtensions
{
    /// <summary>401 without a key, 403 with a key of another role.</summary>
    public static TBuilder RequireRole<TBuilder>(this TBuilder builder, ApiRole role) where TBuilder : IEndpointConventionBuilder
        => builder.WithMetadata(new RequiredApiRole(role), Problem(StatusCodes.Status401Unauthorized), Problem(StatusCodes.Status403Forbidden))
            .AddEndpointFilter(async (context, next) =>
        {
            var keys = context.HttpContext.RequestServices.GetRequiredService<ApiKeys>();
            string? key = context.HttpContext.Request.Headers[ApiKeys.Header];
            if (string.IsNullOrEmpty(key))
                return Results.Problem($"missing {ApiKeys.Header} header", statusCode: StatusCodes.Status401Unauthorized);
            if (!keys.Allows(key, role))
                return Results.Problem($"this key does not have the {role.ToString().ToLowerInvariant()} role", statusCode: StatusCodes.Status403Forbidden);
            return await next(context);
        });

    /// <summary>Declares a problem-details response of an endpoint for the OpenAPI document.</summary>
    public static ProducesResponseTypeMetadata Problem(int status)
        => new(status, typeof(Microsoft.AspNetCore.Mvc.ProblemDetails), ["application/problem+json"]);
}
