using System.CommandLine;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using AsdOrleans.Grains.Placement;
using Spectre.Console;

namespace AsdOrleans.Cli.Commands;

/// <summary>
/// `asd cluster status|where`: what a cluster operator checks after adding, stopping or losing a silo — each silo's
/// membership status and how many machine grains and encoder workers it holds, and which silo holds one machine —
/// through any silo's HTTP API with an operator key; `asd cluster spread`, one round of spreading machines onto silos
/// below the mean (one that joined holds none); `asd cluster accept-store-loss`, the answer to a Redis that lost
/// the cluster's data when there is no backup.
/// </summary>
public static class ClusterCommand
{
    public static Command Create()
    {
        var command = new Command("cluster", "the cluster's silos through a silo's HTTP API (operator key): status, where a machine is, spreading machines onto a silo that joined, accepting a lost Redis store");
        command.Subcommands.Add(Status());
        command.Subcommands.Add(Where());
        command.Subcommands.Add(Spread());
        command.Subcommands.Add(AcceptStoreLoss());
        return command;
    }

    /// <summary>The operator's acceptance that Redis lost the cluster's store (docs/deploy.md, "Redis lost its data"):
    /// the marker the silos' /readyz names must be given, so that only the loss read is accepted.</summary>
    private static Command AcceptStoreLoss()
    {
        var (url, key) = Connection();
        var lost = new Option<string>("--lost") { Description = "the lost store's marker, as the silo's /readyz (check redis-store) and log name it", Required = true };
        var by = new Option<string?>("--by") { Description = "who accepts it, for the record (default: an operator)" };
        var command = new Command("accept-store-loss", "accept that the cluster's Redis lost its data (no backup to restore): marks the store anew, records the loss, and the silos take writes again; machines must be enrolled again") { url, key, lost, by };
        command.SetAction(async (parse, cancellation) =>
        {
            using var http = new ClusterHttp(parse.GetValue(url)!, ClusterHttp.KeyOf(parse, key), retryNotices: parse.InvocationConfiguration.Error);
            var body = JsonContent.Create(new { lost = parse.GetValue(lost), by = parse.GetValue(by) });
            var accepted = await http.SendAsync(HttpMethod.Post, "/api/cluster/store/accept-loss", body, cancellation);
            // droppedActivations: since stop 56 the silo asked answers once it has dropped what lived through the loss.
            string dropped = accepted.TryGetProperty("droppedActivations", out var count)
                ? $"the silo asked dropped the {count.GetInt32()} grain activations that lived through the loss"
                  + (accepted.TryGetProperty("stillGoing", out var going) && going.GetInt32() > 0 ? $" ({going.GetInt32()} had not gone in time: see its log)" : "")
                  + " and takes writes again (each grain reloads from the new store); the other silos do the same within 5 s"
                : "the silos take writes again within 5 s";
            string? olderCopy = ClusterHttp.OptionalString(accepted, "olderCopy");
            parse.InvocationConfiguration.Output.WriteLine(
                (olderCopy is null ? $"accepted: store {accepted.GetProperty("lost").GetString()} is recorded as lost"
                    : $"accepted: what the older copy of store {accepted.GetProperty("lost").GetString()} lacks is recorded as lost ({olderCopy})")
                + $" (by {accepted.GetProperty("by").GetString()}); "
                + $"Redis's store is now {accepted.GetProperty("store").GetString()}; {dropped}");
            return 0;
        });
        return command;
    }

    /// <summary>One round of spreading machines (docs/deploy.md, "Adding a silo"): what each silo held, let go and holds now.</summary>
    private static Command Spread()
    {
        var (url, key) = Connection();
        var max = new Option<int?>("--max") { Description = "the most machines this round moves (the silo's default: 300)" };
        var perSecond = new Option<int?>("--per-second") { Description = "machines moved per second, the cluster together (the silo's default: 100): each reads its state from the store on its new silo" };
        var json = new Option<bool>("--json") { Description = "print the silo's answer as JSON instead of a table" };
        var command = new Command("spread", "one round of spreading machines onto silos below the mean (the cluster spreads onto a silo that joined by itself, 60 quiet seconds after the join, unless Asd__SpreadOnJoinSeconds=0): silos above it by more than 10 % deactivate some, each woken on a silo below, which reads it from the store; answers when the round has ended; refused while another round runs") { url, key, max, perSecond, json };
        command.SetAction(async (parse, cancellation) =>
        {
            using var http = new ClusterHttp(parse.GetValue(url)!, ClusterHttp.KeyOf(parse, key), retryNotices: parse.InvocationConfiguration.Error);
            var query = new List<string>();
            if (parse.GetValue(max) is { } most) query.Add($"max={N(most)}");
            if (parse.GetValue(perSecond) is { } pace) query.Add($"perSecond={N(pace)}");
            var round = await http.SendAsync(HttpMethod.Post, "/api/cluster/spread" + (query.Count > 0 ? "?" + string.Join("&", query) : ""), null, cancellation);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(round, new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            var table = new Table().Border(TableBorder.Simple).AddColumns("silo", "roles", "held before", "asked to leave", "left", "to receive", "arrived", "held after");
            foreach (var s in round.GetProperty("silos").EnumerateArray())
            {
                string? notAnswering = ClusterHttp.OptionalString(s, "notAnswering");
                string Count(string name) => notAnswering is null ? N(s.GetProperty(name).GetInt32()) : "?";
                table.AddRow(new Text(s.GetProperty("address").GetString()!), new Text(ClusterHttp.OptionalString(s, "roles") ?? "–"),
                    new Text(Count("heldBefore")), new Text(Count("askedToLeave")), new Text(Count("left")), new Text(Count("toReceive")), new Text(Count("arrived")), new Text(Count("heldAfter")));
            }
            Terminal.For(output).Write(table);
            output.WriteLine($"{round.GetProperty("summary").GetString()} ({round.GetProperty("seconds").GetDouble().ToString("0.#", CultureInfo.InvariantCulture)} s)");
            foreach (var s in round.GetProperty("silos").EnumerateArray())
                if (ClusterHttp.OptionalString(s, "notAnswering") is { } why)
                    output.WriteLine($"warning: silo {s.GetProperty("address").GetString()} did not answer ({why}): it took no part in this round");
            return 0;
        });
        return command;
    }

    private static (Option<string> Url, Option<string> Key) Connection() => ClusterHttp.Options("operator");

    private static string N(int n) => n.ToString(CultureInfo.InvariantCulture);

    private static Command Status()
    {
        var (url, key) = Connection();
        var json = new Option<bool>("--json") { Description = "print a JSON array of {address, status, roles, machineGrains, encoderWorkers, notAnswering, gateways} instead of a table (gateways: on the answering silo's row only)" };
        var command = new Command("status", "every silo the membership table knows: status, roles, machine grains and encoder workers it holds now; says when no active silo has a role; the clips and refusals the answering silo counted by gateway") { url, key, json };
        command.SetAction(async (parse, cancellation) =>
        {
            using var http = new ClusterHttp(parse.GetValue(url)!, ClusterHttp.KeyOf(parse, key), retryNotices: parse.InvocationConfiguration.Error);
            var silos = (await http.SendAsync(HttpMethod.Get, "/api/cluster", null, cancellation)).EnumerateArray().Select(SiloRow.From).ToList();
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(silos, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
                return 0;
            }
            int machines = silos.Sum(s => s.MachineGrains);
            var table = new Table().Border(TableBorder.Simple).AddColumns("silo", "status", "roles", "machine grains", "share", "encoder workers (active)");
            foreach (var s in silos)
                table.AddRow(new Text(s.Address), new Text(StatusText(s.Status, s.NotAnswering)), new Text(s.Roles ?? "–"),
                    new Text(s.NotAnswering is null ? N(s.MachineGrains) : "?"),
                    new Text(machines == 0 || s.NotAnswering is not null ? "–" : ((double)s.MachineGrains / machines).ToString("0%", CultureInfo.InvariantCulture)),
                    new Text(s.NotAnswering is null ? N(s.EncoderWorkers) : "?"));
            Terminal.For(output).Write(table);
            // Dead silos stay in the membership table for a while; say how many of the listed silos serve.
            int active = silos.Count(s => s.Status == "Active");
            output.WriteLine($"{N(active)} of {N(silos.Count)} silos active; {N(machines)} machine grains, {N(silos.Sum(s => s.EncoderWorkers))} encoder workers active"
                + (silos.Sum(s => s.EncoderWorkers) == 0 ? " (a silo with the encoder role starts its workers with the first clip or enrollment it embeds)" : ""));
            foreach (var s in silos.Where(s => s.NotAnswering is not null))
                output.WriteLine(NotAnsweringWarning(s.Address, s.Status, s.NotAnswering!));
            foreach (var line in GatewayLines(silos))
                output.WriteLine(line);
            foreach (var (role, without) in RoleGaps)
                if (!silos.Any(s => s.Status == "Active" && SiloRoles.Includes(s.Roles, role)))
                    output.WriteLine($"warning: no active silo has the {role} role: {without}; start one (asd silo --roles {role})");
            foreach (var line in await SpreadingLines(http, silos, cancellation))
                output.WriteLine(line);
            if (await WebhookLine(http, cancellation) is { } webhook) output.WriteLine(webhook);
            return 0;
        });
        return command;
    }

    /// <summary>Where spreading stands (`GET /api/cluster/spread`): a round running, the last that ended, whether the
    /// answering silo spreads by itself after a join; and a note where the machines-role silos are uneven enough for a
    /// round to move machines. None from a silo older than stop 58.</summary>
    private static async Task<List<string>> SpreadingLines(ClusterHttp http, List<SiloRow> silos, CancellationToken cancellation)
    {
        JsonElement spreading;
        try
        {
            spreading = await http.SendAsync(HttpMethod.Get, "/api/cluster/spread", null, cancellation);
        }
        catch (SiloRefusedException e) when (e.Status is 404 or 405)
        {
            return [];
        }
        static string Time(JsonElement round, string name) => round.GetProperty(name).GetDateTimeOffset().UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC";
        var lines = new List<string>();
        bool running = spreading.TryGetProperty("running", out var now) && now.ValueKind == JsonValueKind.Object;
        if (running)
            lines.Add($"spreading: {now.GetProperty("description").GetString()}, running since {Time(now, "since")}");
        if (spreading.TryGetProperty("last", out var last) && last.ValueKind == JsonValueKind.Object)
        {
            int rounds = last.GetProperty("rounds").GetInt32();
            string? summary = ClusterHttp.OptionalString(last, "summary");
            lines.Add($"spreading: the last ended {Time(last, "ended")} ({last.GetProperty("description").GetString()}, from {Time(last, "since")}): "
                + $"{N(last.GetProperty("moved").GetInt32())} machine(s) moved in {N(rounds)} round(s); "
                + (summary is null ? "its last round failed (see the log of the silo that ran it)" : (rounds > 1 ? "the last round: " : "") + summary));
        }
        double? onJoin = spreading.TryGetProperty("spreadOnJoinSeconds", out var seconds) && seconds.ValueKind == JsonValueKind.Number ? seconds.GetDouble() : null;
        if (onJoin is { } quiet)
            lines.Add($"spreading after a join: by the oldest silo, {quiet.ToString("0.#", CultureInfo.InvariantCulture)} s after the last silo joined or left (the answering silo's Asd__SpreadOnJoinSeconds)");
        else if (silos.Count > 1) // a lone (embedded) silo has nothing to spread onto
            lines.Add("spreading after a join: off on the answering silo (Asd__SpreadOnJoinSeconds=0, or the rebalancer on): run asd cluster spread after adding a silo");
        // Uneven as a round judges it (SpreadPlan.Sheds).
        var machineSilos = silos.Where(s => s.Status == "Active" && s.NotAnswering is null && SiloRoles.Includes(s.Roles, SiloRoles.Machines)).ToList();
        if (!running && machineSilos.Count >= 2)
        {
            double mean = machineSilos.Average(s => (double)s.MachineGrains);
            var below = machineSilos.Where(s => s.MachineGrains < mean).OrderBy(s => s.MachineGrains).ToList();
            if (machineSilos.Any(s => Silo.SpreadPlan.Sheds(s.MachineGrains, mean)) && below.Count > 0)
                lines.Add($"note: the machines-role silos are uneven (mean {mean.ToString("0.#", CultureInfo.InvariantCulture)}; "
                    + string.Join(", ", below.Select(s => $"{s.Address} holds {N(s.MachineGrains)}")) + "): asd cluster spread moves machines onto the silos below the mean"
                    + (onJoin is not null ? " now; the cluster does so by itself after a silo joins" : ""));
        }
        return lines;
    }

    /// <summary>Where the alert webhook stands, as the answering silo sees it; null from a silo older than it.</summary>
    private static async Task<string?> WebhookLine(ClusterHttp http, CancellationToken cancellation)
    {
        JsonElement webhook;
        try
        {
            webhook = await http.SendAsync(HttpMethod.Get, "/api/alert-webhook", null, cancellation);
        }
        catch (SiloRefusedException e) when (e.Status == 404)
        {
            return null;
        }
        if (ClusterHttp.OptionalString(webhook, "url") is not { } url)
            return "alert webhook: none (Asd__AlertWebhook__Url on the silos sets one)";
        long waiting = webhook.GetProperty("waiting").GetInt64();
        int failing = webhook.GetProperty("failingShards").GetInt32(), shards = webhook.GetProperty("shards").GetArrayLength();
        string line = $"alert webhook: {url}: {waiting.ToString(CultureInfo.InvariantCulture)} alert(s) waiting, {N(failing)} of {N(shards)} shards failing";
        var failure = webhook.GetProperty("shards").EnumerateArray().Select(s => ClusterHttp.OptionalString(s, "lastFailure")).FirstOrDefault(f => f is not null);
        return failure is null ? line : $"{line}\nwarning: the alert webhook's last POST failed: {failure} (retried, the wait doubling up to Asd__AlertWebhook__MaxRetryDelay)";
    }

    private static Command Where()
    {
        var (url, key) = Connection();
        var machine = new Option<string>("--machine") { Description = "machine id", Required = true };
        var json = new Option<bool>("--json") { Description = "print {machine, silo, siloStatus, notAnswering} (silo null when the machine is not active; notAnswering says why an Active silo did not answer)" };
        var command = new Command("where", "which silo holds a machine now (asks the grain directory, not the machine: it answers for a stuck one too; a machine nobody configured or enrolled is an error)") { url, key, machine, json };
        command.SetAction(async (parse, cancellation) =>
        {
            string id = parse.GetValue(machine)!;
            InputChecks.MachineId("--machine", id);
            using var http = new ClusterHttp(parse.GetValue(url)!, ClusterHttp.KeyOf(parse, key), retryNotices: parse.InvocationConfiguration.Error);
            JsonElement placement;
            try
            {
                placement = await http.SendAsync(HttpMethod.Get, $"/api/cluster/machines/{Uri.EscapeDataString(id)}", null, cancellation);
            }
            catch (SiloRefusedException e) when (e.Status == 404)
            {
                throw new UsageException($"no machine '{id}': nobody configured or enrolled it (asd machines list shows the cluster's machines)");
            }
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(placement, new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            string? silo = ClusterHttp.OptionalString(placement, "silo"), siloStatus = ClusterHttp.OptionalString(placement, "siloStatus") ?? "Unknown";
            string? notAnswering = ClusterHttp.OptionalString(placement, "notAnswering");
            output.WriteLine(silo is not null
                ? $"{id}: on silo {silo} ({StatusText(siloStatus, notAnswering)})"
                : $"{id}: not active on any silo (its next call activates it where the cluster places it)");
            if (silo is not null && notAnswering is not null)
                output.WriteLine(NotAnsweringWarning(silo, siloStatus, notAnswering));
            return 0;
        });
        return command;
    }

    /// <summary>A silo's status as `status` and `where` show it: an Active silo that did not answer says so.</summary>
    private static string StatusText(string status, string? notAnswering) => notAnswering is null ? status : $"{status}, not answering";

    private static string NotAnsweringWarning(string silo, string status, string notAnswering)
        => $"warning: silo {silo} is listed {status} but did not answer ({notAnswering}): killed or stuck; "
            + "the cluster declares a silo dead after it misses its probes, and its machines then move to the others";

    /// <summary>Each role, and what the cluster cannot do while no active silo has it (the API answers 503).</summary>
    private static readonly (string Role, string Without)[] RoleGaps =
    [
        (SiloRoles.Encoder, "clips and enrollments sent as audio cannot be embedded"),
        (SiloRoles.Machines, "no machine can be reached"),
    ];

    private sealed record SiloRow(string Address, string Status, string? Roles, int MachineGrains, int EncoderWorkers, string? NotAnswering,
        List<GatewayRow>? Gateways = null)
    {
        public static SiloRow From(JsonElement s) => new(s.GetProperty("address").GetString()!, s.GetProperty("status").GetString()!,
            ClusterHttp.OptionalString(s, "roles"), s.GetProperty("machineGrains").GetInt32(), s.GetProperty("encoderWorkers").GetInt32(),
            ClusterHttp.OptionalString(s, "notAnswering"),
            // Only the answering silo's row has them (a silo older than them: none).
            s.TryGetProperty("gateways", out var g) && g.ValueKind == JsonValueKind.Array ? g.EnumerateArray().Select(GatewayRow.From).ToList() : null);
    }

    /// <summary>What the answering silo received from one gateway since it started (the silo's <c>GatewayView</c>).</summary>
    private sealed record GatewayRow(string Gateway, long Clips, DateTimeOffset? LastClip, long Refusals, DateTimeOffset? LastRefusal, int? LastRefusalStatus)
    {
        public static GatewayRow From(JsonElement g) => new(g.GetProperty("gateway").GetString()!, g.GetProperty("clips").GetInt64(),
            Time(g, "lastClip"), g.GetProperty("refusals").GetInt64(), Time(g, "lastRefusal"),
            g.TryGetProperty("lastRefusalStatus", out var status) && status.ValueKind == JsonValueKind.Number ? status.GetInt32() : null);

        private static DateTimeOffset? Time(JsonElement g, string name)
            => g.TryGetProperty(name, out var t) && t.ValueKind == JsonValueKind.String ? t.GetDateTimeOffset() : null;

        private static string Utc(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

        /// <summary>One line: <c>line7: 1,204 clips, last 2026-12-06 22:59:01Z; 3 refusals, last 403 at …</c>.</summary>
        public string Line() => $"  {Gateway}: {Clips.ToString(CultureInfo.InvariantCulture)} clip(s)"
            + (LastClip is { } last ? $", last {Utc(last)}" : " (none since this silo started)")
            + $"; {Refusals.ToString(CultureInfo.InvariantCulture)} refusal(s)"
            + (LastRefusal is { } refused ? $", last {(LastRefusalStatus is { } code ? N(code) + " " : "")}at {Utc(refused)}" : "");
    }

    /// <summary>The answering silo's lines by gateway, or nothing when it has none (no device keys, or a silo older than them).</summary>
    private static IEnumerable<string> GatewayLines(IReadOnlyList<SiloRow> silos)
    {
        if (silos.FirstOrDefault(s => s.Gateways is { Count: > 0 }) is not { } here) yield break;
        yield return $"clips received by gateway on silo {here.Address} since it started (this silo's only: a gateway's clips may reach any silo; "
            + "sum by (gateway) (rate(asd_clips_received_total[5m])) is the cluster's):";
        foreach (var gateway in here.Gateways!)
            yield return gateway.Line();
    }
}
