using System.CommandLine;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace AsdOrleans.Cli.Commands;

/// <summary>`asd machines list|status|configure|retire`: the machines of a silo through its HTTP API.</summary>
public static class MachinesCommand
{
    public static Command Create()
    {
        var command = new Command("machines", "the silo's machines: list, status, configure, retire");
        command.Subcommands.Add(List());
        command.Subcommands.Add(Status());
        command.Subcommands.Add(Configure());
        command.Subcommands.Add(Retire());
        return command;
    }

    private static Command Retire()
    {
        var (url, key) = Connection("operator");
        var machine = new Option<string>("--machine") { Description = "machine id", Required = true };
        var yes = new Option<bool>("--yes") { Description = "confirm: the machine's state, labels, score history, label requests and kept audio are deleted for good" };
        var command = new Command("retire", "remove a machine taken out of the plant, for good (its id is then unknown; configuring it again starts a new machine)") { url, key, machine, yes };
        command.SetAction(async (parse, cancellation) =>
        {
            string id = parse.GetValue(machine)!;
            InputChecks.MachineId("--machine", id);
            if (!parse.GetValue(yes))
                throw new UsageException($"retiring {id} deletes its state, labels, score history, label requests and kept audio for good; pass --yes to do it");
            using var http = new ClusterHttp(parse.GetValue(url)!, ClusterHttp.KeyOf(parse, key), retryNotices: parse.InvocationConfiguration.Error);
            var retired = await http.SendAsync(HttpMethod.Delete, $"/api/machines/{Uri.EscapeDataString(id)}", null, cancellation);
            parse.InvocationConfiguration.Output.WriteLine($"retired {id}: {retired.GetProperty("normalLabels").GetInt64()} normal and "
                + $"{retired.GetProperty("anomalousLabels").GetInt64()} anomalous labels, {retired.GetProperty("clipsSeen").GetInt64()} clips, "
                + $"{retired.GetProperty("withdrawnLabelRequests").GetInt32()} open label requests withdrawn");
            return 0;
        });
        return command;
    }

    private static (Option<string> Url, Option<string> Key) Connection(string role) => ClusterHttp.Options(role);

    private static string F(double x, string format = "0.000") => x.ToString(format, CultureInfo.InvariantCulture);

    private static Command List()
    {
        var (url, key) = Connection("labeller or operator");
        var json = new Option<bool>("--json") { Description = "print the statuses as JSON" };
        var command = new Command("list", "every machine: status, budget and realised rate, set sizes, scoring, embedder") { url, key, json };
        command.SetAction(async (parse, cancellation) =>
        {
            using var http = new ClusterHttp(parse.GetValue(url)!, ClusterHttp.KeyOf(parse, key), retryNotices: parse.InvocationConfiguration.Error);
            var machines = await AllMachines(http, cancellation);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(machines, new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            if (machines.Count == 0)
            {
                output.WriteLine("no machines");
                return 0;
            }
            var table = new Table().Border(TableBorder.Simple)
                .AddColumns("machine", "enrolled", "strategy", "budget", "realised", "clips", "queries", "|N|", "|A|", "pending", "scoring", "embedder");
            var unreadable = new List<(string Machine, string Why)>();
            foreach (var m in machines)
            {
                // A machine the silo cannot read carries only its id and why; its other fields say nothing.
                if (m.TryGetProperty("unreadable", out var why) && why.ValueKind == JsonValueKind.String)
                {
                    unreadable.Add((m.GetProperty("machineId").GetString()!, why.GetString()!));
                    table.AddRow([Markup.Escape(m.GetProperty("machineId").GetString()!), "[red]unreadable[/]", .. Enumerable.Repeat("–", 10)]);
                    continue;
                }
                var settings = m.GetProperty("settings");
                table.AddRow(m.GetProperty("machineId").GetString()!, m.GetProperty("enrolled").GetBoolean() ? "yes" : "no",
                    settings.GetProperty("strategy").GetString()!, F(settings.GetProperty("budget").GetDouble(), "0.00"),
                    F(m.GetProperty("realisedBudget").GetDouble()) + (m.TryGetProperty("overspent", out var over) && over.GetBoolean() ? " [red]overspent[/]" : ""),
                    m.GetProperty("clipsSeen").GetInt64().ToString(CultureInfo.InvariantCulture),
                    QueriesCell(m),
                    m.GetProperty("referenceSetSize").GetInt32().ToString(CultureInfo.InvariantCulture),
                    m.GetProperty("anomalySetSize").GetInt32().ToString(CultureInfo.InvariantCulture),
                    PendingCell(m),
                    Markup.Escape(Text(m, "scoring")), Markup.Escape(EmbedderCell(m)));
            }
            Terminal.For(output).Write(table);
            foreach (var (machine, why) in unreadable)
                output.WriteLine($"{machine} cannot be read: {why}");
            output.WriteLine($"{machines.Count} machines" + (unreadable.Count > 0 ? $", {unreadable.Count} unreadable" : ""));
            return 0;
        });
        return command;
    }

    /// <summary>Label requests, with how many the budget's floor forced when there were any (a silo before the count sends none).</summary>
    private static string QueriesCell(JsonElement m)
    {
        string queries = m.GetProperty("queries").GetInt64().ToString(CultureInfo.InvariantCulture);
        return m.TryGetProperty("forcedQueries", out var forced) && forced.GetInt64() > 0
            ? $"{queries} ({forced.GetInt64().ToString(CultureInfo.InvariantCulture)} forced)" : queries;
    }

    /// <summary>Open label requests, with those closed unanswered since enrollment when there were any: declined by a
    /// labeller, expired or withdrawn (a machine whose requests expire is asking more than its labellers answer).</summary>
    private static string PendingCell(JsonElement m)
    {
        string pending = m.GetProperty("pendingLabelRequests").GetInt32().ToString(CultureInfo.InvariantCulture);
        long Count(string property) => m.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : 0;
        var closed = new[] { (Count("declinedLabelRequests"), "declined"), (Count("expiredLabelRequests"), "expired") }
            .Where(c => c.Item1 > 0).Select(c => $"{c.Item1.ToString(CultureInfo.InvariantCulture)} {c.Item2}").ToList();
        return closed.Count == 0 ? pending : $"{pending} ({string.Join(", ", closed)})";
    }

    private static string Text(JsonElement m, string property)
        => m.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "–";

    /// <summary>The enrolled embedder by name; a trained model's version with it, since two models share the name.</summary>
    private static string EmbedderCell(JsonElement m) => Text(m, "embedder") switch
    {
        "model" => $"model {Text(m, "modelVersion")}",
        var name => name,
    };

    /// <summary>Every machine, a page of the API at a time (it lists 1,000 a call by default).</summary>
    private static async Task<List<JsonElement>> AllMachines(ClusterHttp http, CancellationToken cancellation)
    {
        const int pageSize = 1_000;
        var machines = new List<JsonElement>();
        string? after = null;
        while (true)
        {
            var path = $"/api/machines?limit={pageSize}" + (after is null ? "" : $"&after={Uri.EscapeDataString(after)}");
            var page = await http.SendAsync(HttpMethod.Get, path, null, cancellation);
            machines.AddRange(page.EnumerateArray().Select(m => m.Clone()));
            if (page.GetArrayLength() < pageSize)
                return machines;
            after = machines[^1].GetProperty("machineId").GetString();
        }
    }

    private static Command Status()
    {
        var (url, key) = Connection("labeller or operator");
        var machine = new Option<string>("--machine") { Description = "machine id", Required = true };
        var command = new Command("status", "one machine's status (JSON)") { url, key, machine };
        command.SetAction(async (parse, cancellation) =>
        {
            using var http = new ClusterHttp(parse.GetValue(url)!, ClusterHttp.KeyOf(parse, key), retryNotices: parse.InvocationConfiguration.Error);
            var status = await http.SendAsync(HttpMethod.Get, $"/api/machines/{Uri.EscapeDataString(parse.GetValue(machine)!)}", null, cancellation);
            parse.InvocationConfiguration.Output.WriteLine(JsonSerializer.Serialize(status, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
        return command;
    }

    private static Command Configure()
    {
        var (url, key) = Connection("operator");
        var machine = new Option<string>("--machine") { Description = "machine id (created when new)", Required = true };
        // Each option names its MachineSettings field once: the option, its JSON name and how it is written.
        var fields = new List<(Option Option, Action<ParseResult, JsonObject> Write)>();
        Option<T> Field<T>(string flag, string json, string description)
        {
            var option = new Option<T>(flag) { Description = description };
            fields.Add((option, (parse, settings) =>
            {
                if (parse.GetResult(option) is { Implicit: false }) settings[json] = JsonValue.Create(parse.GetValue(option));
            }));
            return option;
        }
        Field<string?>("--strategy", "strategy", "none, random, variable-uncertainty, hybrid, hybrid-printed, qbc");
        Field<double?>("--budget", "budget", "label budget b (share of clips to ask about)");
        Field<double?>("--gamma", "gamma", "γ: weight of the anomalous set in the score");
        Field<double?>("--alpha", "alpha", "α of the quantile filter");
        Field<int?>("--window", "budgetWindow", "budget window w");
        Field<double?>("--random-share", "randomShare", "v: the hybrid strategy's random share");
        Field<double?>("--decision-quantile", "decisionQuantile", "quantile of the Gamma fit that sets φ");
        Field<ulong?>("--seed", "seed", "seed of the machine's decisions");
        var method = Field<string?>("--method", "method",
            "default, or paper (docs/design.md §1 exactly): every setting but strategy, budget, seed and embedder goes back to that method's value; other options given here apply on top");
        Field<string?>("--scoring", "scoring", "paper (Eq. 1–3), margin, domain or local");
        Field<string?>("--budget-start", "budgetStart", "paced (keeps to b from the first clip) or paper (b̂ from 0)");
        Field<string?>("--embedder", "embedder", "model, baseline or spectral: what the machine's clips are embedded with from its next enrollment");
        Field<int?>("--clusters", "sourceClusters", "k-means centres for the source domain at enrollment (at least the source clips: keep every clip)");
        Field<int?>("--reference-cap", "referenceCap", "most rows of N (0: unbounded)");
        Field<int?>("--anomaly-cap", "anomalyCap", "most rows of A (0: unbounded)");
        Field<int?>("--score-cap", "scoreCap", "most scores kept in M (0: unbounded)");
        Field<string?>("--precision", "embeddingPrecision", "how N and A store their rows: fp16 or fp32");
        Field<string?>("--decision-thresholds", "decisionThresholds", "per-domain (φ per domain, under the domain scoring) or single (one φ, the paper's); takes effect at once");
        var command = new Command("configure", "create a machine or change its settings; options not given keep their current value") { url, key, machine };
        foreach (var (option, _) in fields) command.Options.Add(option);
        command.SetAction(async (parse, cancellation) =>
        {
            using var http = new ClusterHttp(parse.GetValue(url)!, ClusterHttp.KeyOf(parse, key), retryNotices: parse.InvocationConfiguration.Error);
            string id = Uri.EscapeDataString(parse.GetValue(machine)!);
            // Start from the machine's current settings (a new machine, 404: none, so the method's defaults), then apply what was given.
            JsonObject settings;
            try
            {
                settings = JsonNode.Parse((await http.SendAsync(HttpMethod.Get, $"/api/machines/{id}", null, cancellation)).GetProperty("settings").GetRawText())!.AsObject();
            }
            catch (SiloRefusedException e) when (e.Status == 404)
            {
                settings = [];
            }
            if (parse.GetResult(method) is { Implicit: false })
            {
                // The current settings are explicit values (the old method's among them); keep only what is not the method's.
                var kept = new JsonObject();
                foreach (var name in new[] { "strategy", "budget", "seed", "embedder" })
                    if (settings[name] is { } value) kept[name] = value.DeepClone();
                settings = kept;
            }
            foreach (var (_, write) in fields) write(parse, settings);
            var status = await http.SendAsync(HttpMethod.Put, $"/api/machines/{id}", JsonContent.Create(settings), cancellation);
            var s = status.GetProperty("settings");
            parse.InvocationConfiguration.Output.WriteLine($"{status.GetProperty("machineId").GetString()}: strategy {s.GetProperty("strategy").GetString()}, "
                + $"budget {F(s.GetProperty("budget").GetDouble(), "0.###")}, γ {F(s.GetProperty("gamma").GetDouble(), "0.###")}, "
                + $"method {Text(s, "method") switch { "–" => "default", var name => name }}, scoring {Text(status, "scoring")}, budget start {Text(status, "budgetStart")}, "
                + $"decision thresholds {Text(status, "decisionThresholds")}, enrolled {(status.GetProperty("enrolled").GetBoolean() ? "yes" : "no")}");
            return 0;
        });
        return command;
    }
}
