using AsdOrleans.Grains;
using AsdOrleans.EncoderGrains;

namespace AsdOrleans.Silo;

/// <summary>One silo as an operator sees it: its membership status and what it hosts right now.</summary>
public sealed record SiloView(string Address, string Status, int MachineGrains, int EncoderWorkers);

/// <summary>
/// `GET /api/cluster` (operator): the silos of the cluster and how many machine grains and encoder workers each
/// holds — what a cluster operator checks after adding or losing a silo (Orleans' management grain).
/// </summary>
public static class ClusterApi
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/api/cluster", async (IClusterClient client) =>
        {
            var management = client.GetGrain<IManagementGrain>(0);
            var hosts = await management.GetHosts(onlyActive: false);
            var activations = await management.GetSimpleGrainStatistics();
            int Count(SiloAddress silo, string grainClass) => activations
                .Where(a => a.SiloAddress.Equals(silo) && a.GrainType.Contains(grainClass, StringComparison.Ordinal))
                .Sum(a => a.ActivationCount);
            var silos = hosts.OrderBy(h => h.Key.ToString(), StringComparer.Ordinal)
                .Select(h => new SiloView(h.Key.ToString(), h.Value.ToString(),
                    Count(h.Key, nameof(MachineGrain)), Count(h.Key, nameof(EncoderWorkerGrain))))
                .ToList();
            return Results.Ok(silos);
        }).RequireRole(ApiRole.Operator).Produces<List<SiloView>>();
    }
}
