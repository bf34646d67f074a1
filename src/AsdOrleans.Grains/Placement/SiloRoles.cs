using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Metadata;
using Orleans.Placement;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;

namespace AsdOrleans.Grains.Placement;

/// <summary>
/// What a silo hosts: encoder workers (it has the model, and a GPU in production), machine grains, or both. Each silo
/// publishes its roles as Orleans silo metadata; a placement filter keeps each grain type on silos with its role.
/// </summary>
public static class SiloRoles
{
    public const string Encoder = "encoder";
    public const string Machines = "machines";
    public const string All = Encoder + "," + Machines;
    /// <summary>The silo metadata entry that carries a silo's roles, comma-separated.</summary>
    public const string MetadataKey = "asd.roles";

    private static readonly string[] Known = [Encoder, Machines];

    /// <summary>"encoder,machines" → its distinct roles, in the canonical order; unknown or no roles are an error.</summary>
    public static IReadOnlyList<string> Parse(string? roles)
    {
        var given = (roles ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(r => r.ToLowerInvariant()).ToHashSet();
        var unknown = given.Except(Known).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"unknown silo role(s) {string.Join(", ", unknown.Select(u => $"'{u}'"))}; roles are {string.Join(", ", Known)}");
        if (given.Count == 0)
            throw new ArgumentException($"a silo needs at least one role ({string.Join(", ", Known)})");
        return Known.Where(given.Contains).ToList();
    }

    /// <summary>The roles <paramref name="silo"/> published, as this silo's metadata cache holds them (null: not received yet,
    /// or a silo long dead).</summary>
    public static string? Of(ISiloMetadataCache metadata, SiloAddress silo) => metadata.GetSiloMetadata(silo).Metadata.GetValueOrDefault(MetadataKey);

    /// <summary>True when a silo's published roles (the metadata value) include <paramref name="role"/>.</summary>
    public static bool Includes(string? published, string role)
        => published is not null && published.Split(',', StringSplitOptions.TrimEntries).Contains(role, StringComparer.Ordinal);

    /// <summary>
    /// Publishes this silo's roles and registers the role filter. Every silo of a cluster calls it (the filter must be
    /// resolvable wherever a grain is placed), whatever its own roles.
    /// </summary>
    public static ISiloBuilder AddAsdSiloRoles(this ISiloBuilder silo, string roles)
    {
        var parsed = Parse(roles);
        silo.UseSiloMetadata(new Dictionary<string, string> { [MetadataKey] = string.Join(",", parsed) });
        // Transient: Orleans initialises one strategy instance per grain type from that type's manifest properties.
        silo.Services.AddPlacementFilter<SiloRoleFilter, SiloRoleFilterDirector>(ServiceLifetime.Transient);
        silo.Services.AddSingleton<LeavingSilos>();
        silo.Services.TryAddSingleton<WriteThroughWindow>(); // a test may give it a clock first
        return silo;
    }
}

/// <summary>Places the grain class only on silos whose published roles include <see cref="Role"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class RequiresSiloRoleAttribute(string role) : PlacementFilterAttribute(new SiloRoleFilter(role))
{
    public string Role => role;
}

/// <summary>The filter's configuration: the role, carried in the grain type's manifest properties.</summary>
public sealed class SiloRoleFilter(string role) : PlacementFilterStrategy(order: 0)
{
    public string Role { get; private set; } = role;

    /// <summary>For Orleans, which creates the strategy and then initialises it from the manifest.</summary>
    public SiloRoleFilter() : this("") { }

    public override void AdditionalInitialize(GrainProperties properties)
        => Role = GetPlacementFilterGrainProperty("role", properties) is { Length: > 0 } role
            ? role
            : throw new ArgumentException("the grain type's silo-role placement filter names no role");

    protected override IEnumerable<KeyValuePair<string, string>> GetAdditionalGrainProperties(IServiceProvider services, Type grainClass,
        GrainType grainType, IReadOnlyDictionary<string, string> existingProperties)
    {
        yield return new("role", Role);
    }
}

/// <summary>
/// Keeps the candidate silos that publish the role. A silo whose metadata has not reached this silo yet is not a
/// candidate; when none is left, placement fails with <see cref="NoSiloWithRoleException"/> rather than ignore the role.
/// Of those, a silo that is handing its machines over before it stops is left out while another remains (<see cref="LeavingSilos"/>).
/// </summary>
public sealed class SiloRoleFilterDirector(ISiloMetadataCache metadata, LeavingSilos leaving) : IPlacementFilterDirector
{
    public IEnumerable<SiloAddress> Filter(PlacementFilterStrategy filterStrategy, PlacementTarget target, IEnumerable<SiloAddress> silos)
    {
        string role = ((SiloRoleFilter)filterStrategy).Role;
        var kept = silos.Where(silo => SiloRoles.Includes(SiloRoles.Of(metadata, silo), role)).ToList();
        return kept.Count > 0 ? leaving.Staying(kept) : throw new NoSiloWithRoleException(role, target.GrainIdentity.Type.ToString());
    }
}

/// <summary>No active silo of the cluster has the role a grain needs (the HTTP API answers 503).</summary>
[GenerateSerializer, Alias("AsdOrleans.NoSiloWithRoleException")]
public sealed class NoSiloWithRoleException : OrleansException
{
    [Id(0)] public string Role { get; private set; }

    public NoSiloWithRoleException(string role, string grainType)
        : base($"no active silo has the {role} role, which {grainType} grains need; start one (asd silo --roles {role})")
        => Role = role;
}
