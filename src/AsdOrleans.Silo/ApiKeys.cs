using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace AsdOrleans.Silo;

public enum ApiRole { Device, Labeller, Operator }

/// <summary>What a key is worth for a role: 401 when missing or unknown, 403 when it belongs to another role.</summary>
public enum KeyCheck { Allowed, Unauthenticated, WrongRole }

/// <summary>Checks X-Api-Key against the configured keys of a role, in constant time.</summary>
public sealed class ApiKeys(IOptions<SiloOptions> options)
{
    public const string Header = "X-Api-Key";

    public bool Allows(string? key, ApiRole role) => Check(key, role) == KeyCheck.Allowed;

    public KeyCheck Check(string? key, ApiRole role)
    {
        if (string.IsNullOrEmpty(key)) return KeyCheck.Unauthenticated;
        var keys = options.Value.ApiKeys;
        IEnumerable<string> accepted = role switch
        {
            ApiRole.Device => keys.Device.Concat(keys.Gateways.Values.Select(g => g.Key)),
            ApiRole.Labeller => keys.Labeller.Concat(keys.Labellers.Values).Concat(keys.Operator),
            _ => keys.Operator,
        };
        if (Matches(key, accepted)) return KeyCheck.Allowed;
        return Matches(key, keys.AllKeys) ? KeyCheck.WrongRole : KeyCheck.Unauthenticated;
    }

    /// <summary>The gateway a scoped device key belongs to (<see cref="ApiKeyOptions.Gateways"/>), or null for a plant-wide key.</summary>
    public (string Name, GatewayKeyOptions Gateway)? GatewayOf(string? key)
    {
        if (string.IsNullOrEmpty(key)) return null;
        (string, GatewayKeyOptions)? owner = null;
        foreach (var (name, gateway) in options.Value.ApiKeys.Gateways) // every entry compared, as for labellers' keys
            if (Matches(key, [gateway.Key])) owner = (name, gateway);
        return owner;
    }

    /// <summary>The person a named labeller key belongs to (<see cref="ApiKeyOptions.Labellers"/>), or null for a role's shared key.</summary>
    public string? LabellerNameOf(string? key)
    {
        if (string.IsNullOrEmpty(key)) return null;
        string? owner = null;
        foreach (var (name, candidate) in options.Value.ApiKeys.Labellers) // every entry compared: the time says nothing of which
            if (Matches(key, [candidate])) owner = name;
        return owner;
    }

    /// <summary>Whether <paramref name="name"/> is the owner of a named labeller key (case aside): that name answers with that key only.</summary>
    public bool HasKeyOfTheirOwn(string name)
        => options.Value.ApiKeys.Labellers.Keys.Any(owner => string.Equals(owner, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The most a key may do: operator, labeller or device (null: unknown key).</summary>
    public ApiRole? RoleOf(string? key)
        => Allows(key, ApiRole.Operator) ? ApiRole.Operator : Allows(key, ApiRole.Labeller) ? ApiRole.Labeller : Allows(key, ApiRole.Device) ? ApiRole.Device : null;

    private static bool Matches(string key, IEnumerable<string> candidates)
    {
        var given = Encoding.UTF8.GetBytes(key);
        bool match = false;
        foreach (var candidate in candidates)
            match |= CryptographicOperations.FixedTimeEquals(given, Encoding.UTF8.GetBytes(candidate));
        return match;
    }
}

/// <summary>Endpoint metadata: the role an endpoint's X-Api-Key must have (checked by <see cref="RequestGate"/>, read by the OpenAPI document).</summary>
public sealed record RequiredApiRole(ApiRole Role);

public static class ApiKeyEndpointExtensions
{
    /// <summary>401 without a key or with an unknown one, 403 with a key of another role; checked before the body is read.</summary>
    public static TBuilder RequireRole<TBuilder>(this TBuilder builder, ApiRole role) where TBuilder : IEndpointConventionBuilder
        => builder.WithMetadata(new RequiredApiRole(role), Problem(StatusCodes.Status401Unauthorized), Problem(StatusCodes.Status403Forbidden));

    /// <summary>Declares a problem-details response of an endpoint for the OpenAPI document.</summary>
    public static ProducesResponseTypeMetadata Problem(int status)
        => new(status, typeof(Microsoft.AspNetCore.Mvc.ProblemDetails), ["application/problem+json"]);
}
