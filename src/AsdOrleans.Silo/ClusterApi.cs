using AsdOrleans.Abstractions;
using AsdOrleans.Application;
using AsdOrleans.EncoderGrains;
using AsdOrleans.Grains;
using AsdOrleans.Grains.Placement;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace AsdOrleans.Silo;

/// <summary>One silo as an operator sees it: its membership status, what it hosts right now, and its roles as it
/// published them ("encoder,machines"; null when this silo has not received them, e.g. for a silo long dead).
/// <paramref name="NotAnswering"/>: why an active silo's counts are missing (it did not answer: killed, and not yet
/// declared dead, or stuck); null when it answered.
/// <paramref name="Gateways"/>: on the row of the silo that answered the request only (null on the others), the clips and
/// refusals it counted by gateway since it started (<see cref="GatewayTraffic"/>): a gateway may send through any silo, so
/// these are one silo's; the cluster's sum is in the metrics (docs/deploy.md).</summary>
public sealed record SiloView(string Address, string Status, int MachineGrains, int EncoderWorkers, string? Roles = null, string? NotAnswering = null,
    List<GatewayView>? Gateways = null);

/// <summary>Where the grain directory places one machine: the silo of its activation (null when none is active) and that
/// silo's membership status.
/// <paramref name="NotAnswering"/>: why that silo, listed Active, did not answer (as in <see cref="SiloView"/>); else null.</summary>
public sealed record MachinePlacement(string Machine, string? Silo, string? SiloStatus, string? NotAnswering = null);

/// <summary>`GET /api/cluster/spread`: the spreading round running now (null: none), the last that ended (null: none
/// known), and after how many quiet seconds the answering silo spreads onto a silo that joined (null: it does not:
/// Asd:SpreadOnJoinSeconds 0, the rebalancer on, or no cluster).</summary>
public sealed record SpreadingView(SpreadRoundView? Running, SpreadRoundView? Last, double? SpreadOnJoinSeconds);

/// <summary>
/// `GET /api/cluster` (operator): the silos of the cluster and how many machine grains and encoder workers each
/// holds — what a cluster operator checks after adding or losing a silo (Orleans' management grain) — and, on the
/// answering silo's row, what it received from each gateway.
/// </summary>
public static class ClusterApi
{
    /// <summary>How long `GET /api/cluster` waits for one silo's activation counts.</summary>
    public static readonly TimeSpan StatisticsTimeout = TimeSpan.FromSeconds(5);

    public static void Map(WebApplication app)
    {
        app.MapGet("/api/cluster", async (IClusterClient client, ISiloMetadataCache metadata, ILocalSiloDetails local, GatewayTraffic traffic) =>
        {
            var management = client.GetGrain<IManagementGrain>(0);
            var hosts = await management.GetHosts(onlyActive: false);
            // Each active silo asked on its own: one that is gone but not yet declared dead (probes take seconds) must
            // not take the whole answer with it, which is exactly when an operator looks.
            var answers = await Task.WhenAll(hosts.Where(h => h.Value == SiloStatus.Active).Select(h => Ask(management, h.Key)));
            var bySilo = answers.ToDictionary(a => a.Silo);
            int Count(SiloAddress silo, string grainClass) => bySilo.TryGetValue(silo, out var answer) ? Activations(answer.Activations, grainClass) : 0;
            var silos = hosts.OrderBy(h => h.Key.ToString(), StringComparer.Ordinal)
                .Select(h => new SiloView(h.Key.ToString(), h.Value.ToString(),
                    Count(h.Key, nameof(MachineGrain)), Count(h.Key, nameof(EncoderWorkerGrain)),
                    SiloRoles.Of(metadata, h.Key),
                    bySilo.TryGetValue(h.Key, out var answer) ? answer.NotAnswering : null,
                    h.Key.Equals(local.SiloAddress) ? traffic.View() : null))
                .ToList();
            return Results.Ok(silos);
        }).RequireRole(ApiRole.Operator).Produces<List<SiloView>>();

        // One round of spreading machines onto silos below the mean (a silo that joined holds none until then): the
        // silos above it deactivate some and wake each on the silo it goes to, which reads it from the store
        // (MachineSpreader; docs/decisions.md, stop 57). Answered when the round has ended.
        // One round at a time in the cluster (ISpreadRoundGrain): another, an operator's or one a silo runs after a join
        // (SpreadOnJoin), is 409 with what runs.
        app.MapPost("/api/cluster/spread", async (IClusterClient client, ISiloMetadataCache metadata, ILocalSiloDetails local, HttpContext http, int? max, int? perSecond) =>
        {
            int most = max ?? MachineSpread.DefaultMaxPerRound, pace = perSecond ?? MachineSpread.DefaultPerSecond;
            if (MachineSpread.Problem(most, pace) is { } problem)
                return Results.Problem(problem, statusCode: StatusCodes.Status400BadRequest);
            var (round, running) = await MachineSpread.RunAloneAsync(client, metadata, local.SiloAddress, $"an operator's round, asked of silo {local.SiloAddress}", most, pace,
                http.RequestAborted);
            return round is not null ? Results.Ok(round)
                : Results.Problem($"another spreading round runs in the cluster ({running}); run this again when it has ended",
                    statusCode: StatusCodes.Status409Conflict, title: "a spreading round is running");
        }).RequireRole(ApiRole.Operator).Produces<SpreadRound>().ProducesProblem(400).ProducesProblem(409).ProducesProblem(503);

        // Where spreading stands: the round running now and the last that ended (ISpreadRoundGrain), and whether this silo
        // spreads by itself after a join (SpreadOnJoin): what `asd cluster status` prints.
        app.MapGet("/api/cluster/spread", async (IClusterClient client, Microsoft.Extensions.Options.IOptions<SiloOptions> options) =>
        {
            var rounds = await client.GetGrain<ISpreadRoundGrain>(0).Look();
            var silo = options.Value;
            return Results.Ok(new SpreadingView(rounds.Running, rounds.Last, silo.SpreadsOnJoin ? silo.SpreadOnJoinSeconds : null));
        }).RequireRole(ApiRole.Operator).Produces<SpreadingView>();

        app.MapGet("/api/alert-webhook", async (IClusterClient client, IServiceProvider services) =>
                Results.Ok(await AlertWebhookView.Of(client, services.GetService<AlertWebhookOptions>())))
            .RequireRole(ApiRole.Operator).Produces<AlertWebhookView>();

        // Asks the grain directory, never the machine: it answers for a machine that is stuck or unreachable, which is
        // when an operator needs it (a directory entry on a dead silo, an activation on a live one that does not answer).
        // An id the registry does not list is 404, as for the other machine reads.
        app.MapGet("/api/cluster/machines/{id}", async (string id, IClusterClient client, MachineUseCases machines) =>
        {
            if (MachineApi.RejectInvalidMachineId(id) is { } rejected)
                return rejected;
            var management = client.GetGrain<IManagementGrain>(0);
            var silo = await management.GetActivationAddress(client.GetGrain<IMachineGrain>(id));
            if (!await IsListed(machines, id, placed: silo is not null))
                return MachineApi.UnknownMachine(id);
            string? status = null, notAnswering = null;
            if (silo is not null)
            {
                var known = (await management.GetHosts(onlyActive: false)).TryGetValue(silo, out var s) ? s : (SiloStatus?)null;
                status = known?.ToString() ?? "Unknown";
                // As GET /api/cluster asks: a silo just killed stays Active until the cluster declares it dead.
                if (known == SiloStatus.Active)
                    notAnswering = (await Ask(management, silo)).NotAnswering;
            }
            return Results.Ok(new MachinePlacement(id, silo?.ToString(), status, notAnswering));
        }).RequireRole(ApiRole.Operator).Produces<MachinePlacement>().ProducesProblem(400).ProducesProblem(404).ProducesProblem(503);

        // An operator's answer to a Redis that lost the cluster's store (RedisStoreWatch): the lost marker is named, so
        // that only the loss the operator read is accepted. Taken while writes are refused: it is what ends the refusal.
        app.MapPost("/api/cluster/store/accept-loss", async (AcceptStoreLoss request, HttpContext http, IServiceProvider services) =>
        {
            if (string.IsNullOrWhiteSpace(request.Lost))
                return Results.Problem("name the lost store: {\"lost\":\"<the marker /readyz names>\"}", statusCode: StatusCodes.Status400BadRequest);
            // Both go into the loss log line by line: a newline or control character would forge a record.
            if (request.Lost.Any(char.IsControl) || request.By is { } who && (who.Length > 100 || who.Any(char.IsControl)))
                return Results.Problem("lost and by are one line each (no control characters; by at most 100 characters)",
                    statusCode: StatusCodes.Status400BadRequest);
            if (services.GetService<RedisStoreWatch>() is not { } watch)
                return Results.Problem("this silo keeps its state in SQLite, not in Redis: there is no Redis store to give up", statusCode: StatusCodes.Status409Conflict);
            string by = $"{(string.IsNullOrWhiteSpace(request.By) ? "an operator" : request.By.Trim())} (from {http.Connection.RemoteIpAddress})";
            var earlier = watch.LastDrop;
            var (accepted, refused) = await watch.AcceptAsync(request.Lost.Trim(), by);
            if (accepted is null)
                return Results.Problem(refused, statusCode: StatusCodes.Status409Conflict);
            // Answered once this silo has dropped what lived through the loss (RedisStoreWatch, StoreLossActivations); a
            // drop of an earlier loss is not this one's (its look at Redis failed: the watch's next look drops them).
            string others = $"The other silos do the same within {RedisStoreWatch.Period.TotalSeconds:0} s of seeing the new store, refusing writes (and not ready) until they have";
            if (watch.LastDrop is not { } drop || ReferenceEquals(drop, earlier))
                return Results.Ok(new AcceptedStoreLoss(accepted.Lost, accepted.Store, accepted.At, accepted.By, accepted.Silo, 0, 0,
                    $"accepted; this silo has not yet dropped the grain activations that lived through the loss (it could not look at Redis again): "
                    + $"it refuses writes until its store watch has, within {RedisStoreWatch.Period.TotalSeconds:0} s of reaching Redis. " + others, accepted.OlderCopy));
            var (dropped, stillGoing) = drop;
            return Results.Ok(new AcceptedStoreLoss(accepted.Lost, accepted.Store, accepted.At, accepted.By, accepted.Silo, dropped, stillGoing,
                $"this silo dropped the {dropped} grain activations that lived through the loss{(stillGoing > 0 ? $" ({stillGoing} had not gone in time: see its log)" : "")} "
                + "and takes writes again; each grain reloads from the new store when next called. " + others, accepted.OlderCopy));
        }).RequireRole(ApiRole.Operator).WithMetadata(new RepairsRedisStore())
            .Produces<AcceptedStoreLoss>().ProducesProblem(400).ProducesProblem(409).ProducesProblem(415);
    }

    /// <summary>The answer to `POST /api/cluster/store/accept-loss`: the loss as recorded, and what the answering silo did
    /// before answering: the grain activations that lived through the loss dropped (<paramref name="StillGoing"/> of them
    /// had not gone in time), so that grains reload from the new store. <paramref name="OlderCopy"/>: where Redis held an
    /// older copy of the store (not an empty one), how far back it had gone, as recorded; null for a store lost whole.</summary>
    public sealed record AcceptedStoreLoss(string Lost, string Store, DateTimeOffset At, string By, string Silo,
        int DroppedActivations, int StillGoing, string Reloaded, string? OlderCopy = null);

    /// <summary>The body of `POST /api/cluster/store/accept-loss`: the marker of the store given up, and who gives it up (for the record).</summary>
    public sealed record AcceptStoreLoss(string? Lost, string? By = null);

    /// <summary>Whether the registry lists <paramref name="machineId"/>. For a machine the directory places, a registry that
    /// does not answer in <see cref="StatisticsTimeout"/> (its silo down, say) leaves the placement standing: that is when
    /// an operator asks. For one it does not place, the registry's fault is the answer (503).</summary>
    private static async Task<bool> IsListed(MachineUseCases machines, string machineId, bool placed)
    {
        if (!placed)
            return await machines.IsListed(machineId);
        try
        {
            return await machines.IsListed(machineId).WaitAsync(StatisticsTimeout);
        }
        catch (Exception e) when (e is TimeoutException || ApiFaults.Classify(e) is not null)
        {
            return true;
        }
    }

    /// <summary>How many activations of the grain class a silo's statistics count.</summary>
    internal static int Activations(SimpleGrainStatistic[] statistics, string grainClass)
        => statistics.Where(a => a.GrainType.Contains(grainClass, StringComparison.Ordinal)).Sum(a => a.ActivationCount);

    /// <summary>How many machine grains a silo's statistics count.</summary>
    internal static int MachineGrains(SimpleGrainStatistic[] statistics) => Activations(statistics, nameof(MachineGrain));

    /// <summary>Asks one active silo for its activation counts; <c>NotAnswering</c> says why it did not answer, else null.</summary>
    internal static async Task<(SiloAddress Silo, SimpleGrainStatistic[] Activations, string? NotAnswering)> Ask(IManagementGrain management, SiloAddress silo)
    {
        try
        {
            return (silo, await management.GetSimpleGrainStatistics([silo]).WaitAsync(StatisticsTimeout), null);
        }
        catch (Exception e) when (e is TimeoutException || ApiFaults.Classify(e) is not null)
        {
            // Orleans puts the inner exception's stack into its message: the first line says what happened.
            string why = e is TimeoutException ? $"no answer in {StatisticsTimeout.TotalSeconds:0} s"
                : e.GetBaseException().Message.Split('\n')[0].Replace("Exception while sending message: ", "").Trim();
            return (silo, [], why);
        }
    }
}
