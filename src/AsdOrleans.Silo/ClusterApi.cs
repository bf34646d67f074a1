using AsdOrleans.Abstractions;
using AsdOrleans.EncoderGrains;
using AsdOrleans.Grains;
using AsdOrleans.Grains.Placement;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace AsdOrleans.Silo;

/// <summary>One silo as an operator sees it: its membership status, what it hosts right now, and its roles as it
/// published them ("encoder,machines"; null when this silo has not received them, e.g. for a silo long dead).</summary>
public sealed record SiloView(string Address, string Status, int MachineGrains, int EncoderWorkers, string? Roles = null);

/// <summary>Where the grain directory places one machine: the silo of its activation (null when none is active) and that
/// silo's membership status.</summary>
public sealed record MachinePlacement(string Machine, string? Silo, string? SiloStatus);

/// <summary>
/// `GET /api/cluster` (operator): the silos of the cluster and how many machine grains and encoder workers each
/// holds — what a cluster operator checks after adding or losing a silo (Orleans' management grain).
/// </summary>
public static class ClusterApi
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/api/cluster", async (IClusterClient client, ISiloMetadataCache metadata) =>
        {
            var management = client.GetGrain<IManagementGrain>(0);
            var hosts = await management.GetHosts(onlyActive: false);
            var activations = await management.GetSimpleGrainStatistics();
            int Count(SiloAddress silo, string grainClass) => activations
                .Where(a => a.SiloAddress.Equals(silo) && a.GrainType.Contains(grainClass, StringComparison.Ordinal))
                .Sum(a => a.ActivationCount);
            var silos = hosts.OrderBy(h => h.Key.ToString(), StringComparer.Ordinal)
                .Select(h => new SiloView(h.Key.ToString(), h.Value.ToString(),
                    Count(h.Key, nameof(MachineGrain)), Count(h.Key, nameof(EncoderWorkerGrain)),
                    metadata.GetSiloMetadata(h.Key).Metadata.GetValueOrDefault(SiloRoles.MetadataKey)))
                .ToList();
            return Results.Ok(silos);
        }).RequireRole(ApiRole.Operator).Produces<List<SiloView>>();

        app.MapGet("/api/alert-webhook", async (IClusterClient client, IServiceProvider services) =>
                Results.Ok(await AlertWebhookView.Of(client, services.GetService<AlertWebhookOptions>())))
            .RequireRole(ApiRole.Operator).Produces<AlertWebhookView>();

        // Asks the grain directory, never the machine: it answers for a machine that is stuck or unreachable, which is
        // when an operator needs it (a directory entry on a dead silo, an activation on a live one that does not answer).
        app.MapGet("/api/cluster/machines/{id}", async (string id, IClusterClient client) =>
        {
            if (MachineApi.RejectInvalidMachineId(id) is { } rejected)
                return rejected;
            var management = client.GetGrain<IManagementGrain>(0);
            var silo = await management.GetActivationAddress(client.GetGrain<IMachineGrain>(id));
            string? status = null;
            if (silo is not null)
                status = (await management.GetHosts(onlyActive: false)).TryGetValue(silo, out var known) ? known.ToString() : "Unknown";
            return Results.Ok(new MachinePlacement(id, silo?.ToString(), status));
        }).RequireRole(ApiRole.Operator).Produces<MachinePlacement>();
    }
}
