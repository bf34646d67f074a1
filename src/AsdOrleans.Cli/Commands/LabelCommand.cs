using System.CommandLine;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using AsdOrleans.Method.Vocabulary;
using Spectre.Console;

namespace AsdOrleans.Cli.Commands;

/// <summary>
/// `asd label`: a labeller at a terminal — list the machines' pending label requests, fetch a queried clip's audio to
/// listen to, and answer normal or anomalous, through the silo's HTTP API with a labeller key.
/// </summary>
public static class LabelCommand
{
    public static Command Create()
    {
        var command = new Command("label", "answer label requests through a silo's HTTP API: list, audio, submit, decline, next (one after another, with sound)");
        command.Subcommands.Add(List());
        command.Subcommands.Add(Audio());
        command.Subcommands.Add(Submit());
        command.Subcommands.Add(Decline());
        command.Subcommands.Add(LabelNextCommand.Create());
        return command;
    }

    /// <summary>A request's φ, or null where it was stored before requests carried theirs.</summary>
    internal static double? Threshold(JsonElement request)
        => request.TryGetProperty("decisionThreshold", out var phi) && phi.ValueKind == JsonValueKind.Number ? phi.GetDouble() : null;

    /// <summary>The --url and --key options of a labeller's commands (`asd label`, `asd alerts`); operator keys pass too.</summary>
    internal static (Option<string> Url, Option<string> Key) Connection() => ClusterHttp.Options("labeller");

    /// <summary>The labeller's name, recorded with each answer; ASD_LABELLER when not given.</summary>
    internal static Option<string?> Labeller() => new("--labeller")
    {
        Description = "your name, recorded with each answer in the machine's score history and alerts (letters, digits, '.', '_', '-', '@'); default: $ASD_LABELLER",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("ASD_LABELLER") is { Length: > 0 } name ? name : null,
    };

    private static (Option<string> Machine, Option<string> Clip) Clip() =>
        (new Option<string>("--machine") { Description = "machine id", Required = true },
         new Option<string>("--clip") { Description = "clip id", Required = true });

    private static Command List()
    {
        var (url, key) = Connection();
        var machine = new Option<string?>("--machine") { Description = "only this machine's requests" };
        var limit = new Option<int>("--limit") { Description = "most requests listed, oldest first (1–10000)", DefaultValueFactory = _ => 100 };
        var json = new Option<bool>("--json") { Description = "print a JSON array of {machineId, clipId, score, decisionThreshold, requestedAt, queryReason, audioUrl, audioReference, claimedBy, claimedUntil} instead of a table" };
        var command = new Command("list", "pending label requests, oldest first") { url, key, machine, limit, json };
        command.SetAction(async (parse, cancellation) =>
        {
            int take = parse.GetValue(limit);
            if (take is < 1 or > 10_000) throw new UsageException($"--limit must be in 1..10000, got {take}");
            if (parse.GetValue(machine) is { } only) InputChecks.MachineId("--machine", only);
            using var http = new ClusterHttp(parse.GetValue(url)!, ClusterHttp.KeyOf(parse, key), retryNotices: parse.InvocationConfiguration.Error);
            string query = $"/api/label-requests?limit={take}" + (parse.GetValue(machine) is { } m ? $"&machine={Uri.EscapeDataString(m)}" : "");
            var requests = await http.SendAsync(HttpMethod.Get, query, null, cancellation);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(requests.EnumerateArray().Select(r => new
                {
                    machineId = r.GetProperty("machineId").GetString(),
                    clipId = r.GetProperty("clipId").GetString(),
                    score = r.GetProperty("score").GetDouble(),
                    decisionThreshold = Threshold(r), // the φ the score was compared with (null: a request stored before it was kept)
                    requestedAt = r.GetProperty("requestedAt").GetDateTimeOffset(),
                    queryReason = ClusterHttp.QueryReason(r),
                    audioUrl = ClusterHttp.OptionalString(r, "audioUrl"),
                    audioReference = ClusterHttp.OptionalString(r, "audioReference"),
                    claimedBy = ClusterHttp.OptionalString(r, "claimedBy"), // who is listening to it now
                    claimedUntil = ClusterHttp.OptionalString(r, "claimedUntil") is null ? (DateTimeOffset?)null : r.GetProperty("claimedUntil").GetDateTimeOffset(),
                }), new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            if (requests.GetArrayLength() == 0)
            {
                output.WriteLine("no pending label requests");
                return 0;
            }
            var table = new Table().Border(TableBorder.Simple).AddColumns("machine", "clip", "score", "threshold", "requested at (UTC)", "why asked", "listening");
            foreach (var r in requests.EnumerateArray())
                table.AddRow(new Text(r.GetProperty("machineId").GetString()!), new Text(r.GetProperty("clipId").GetString()!),
                    new Text(r.GetProperty("score").GetDouble().ToString("0.0000", CultureInfo.InvariantCulture)),
                    new Text(Threshold(r)?.ToString("0.0000", CultureInfo.InvariantCulture) ?? ""),
                    new Text(r.GetProperty("requestedAt").GetDateTimeOffset().UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)),
                    new Text(ClusterHttp.QueryReason(r)), new Text(ClusterHttp.OptionalString(r, "claimedBy") ?? ""));
            Terminal.For(output).Write(table);
            output.WriteLine($"{requests.GetArrayLength()} pending");
            return 0;
        });
        return command;
    }

    private static Command Audio()
    {
        var (url, key) = Connection();
        var (machine, clip) = Clip();
        var output = new Option<string>("--out") { Description = "WAV file to write (not overwritten)", Required = true };
        var command = new Command("audio", "save the audio of a queried clip, or of one of a machine's newest alerts, to listen to") { url, key, machine, clip, output };
        command.SetAction(async (parse, cancellation) =>
        {
            string path = parse.GetValue(output)!;
            InputChecks.MachineId("--machine", parse.GetValue(machine)!);
            InputChecks.ClipId("--clip", parse.GetValue(clip)!);
            OutputPaths.CheckFile("--out", path);
            if (File.Exists(path)) throw new UsageException($"--out: '{path}' already exists");
            using var http = new ClusterHttp(parse.GetValue(url)!, ClusterHttp.KeyOf(parse, key), retryNotices: parse.InvocationConfiguration.Error);
            var bytes = await http.SendForBytesAsync(HttpMethod.Get,
                $"/api/machines/{Uri.EscapeDataString(parse.GetValue(machine)!)}/clips/{Uri.EscapeDataString(parse.GetValue(clip)!)}/audio", null, cancellation);
            await File.WriteAllBytesAsync(path, bytes, cancellation);
            parse.InvocationConfiguration.Output.WriteLine($"wrote {path} ({bytes.Length:N0} bytes)");
            return 0;
        });
        return command;
    }

    private static Command Submit()
    {
        var (url, key) = Connection();
        var (machine, clip) = Clip();
        var label = new Option<string>("--label") { Description = $"the clip's label: {ClipWords.LabelChoices} (case-insensitive)", Required = true };
        var labeller = Labeller();
        var command = new Command("submit", "answer a label request; the same answer again changes nothing") { url, key, machine, clip, label, labeller };
        command.SetAction(async (parse, cancellation) =>
        {
            string id = parse.GetValue(machine)!, clipId = parse.GetValue(clip)!;
            InputChecks.MachineId("--machine", id);
            InputChecks.ClipId("--clip", clipId);
            bool anomaly = ClipWords.TryParseLabel(parse.GetValue(label)) ?? throw new UsageException(ClipWords.NotALabel("--label", parse.GetValue(label)!));
            string word = ClipWords.Label(anomaly);
            using var http = new ClusterHttp(parse.GetValue(url)!, ClusterHttp.KeyOf(parse, key), retryNotices: parse.InvocationConfiguration.Error).AsLabeller(parse.GetValue(labeller));
            var receipt = await http.SendAsync(HttpMethod.Post, $"/api/machines/{Uri.EscapeDataString(id)}/clips/{Uri.EscapeDataString(clipId)}/label",
                JsonContent.Create(new { label = word }), cancellation);
            parse.InvocationConfiguration.Output.WriteLine(receipt.GetProperty("alreadyApplied").GetBoolean()
                ? $"{id} {clipId}: already labelled {word}; nothing changed"
                : $"{id} {clipId}: labelled {word}; |N| = {receipt.GetProperty("referenceSetSize").GetInt32()}, |A| = {receipt.GetProperty("anomalySetSize").GetInt32()}");
            return 0;
        });
        return command;
    }

    private static Command Decline()
    {
        var (url, key) = Connection();
        var (machine, clip) = Clip();
        var labeller = Labeller();
        var command = new Command("decline", "close a label request without a label when you cannot tell (better than a guess, which puts the clip in the wrong set); the query stays spent")
        {
            url, key, machine, clip, labeller,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            string id = parse.GetValue(machine)!, clipId = parse.GetValue(clip)!;
            InputChecks.MachineId("--machine", id);
            InputChecks.ClipId("--clip", clipId);
            using var http = new ClusterHttp(parse.GetValue(url)!, ClusterHttp.KeyOf(parse, key), retryNotices: parse.InvocationConfiguration.Error).AsLabeller(parse.GetValue(labeller));
            var receipt = await http.SendAsync(HttpMethod.Post, $"/api/machines/{Uri.EscapeDataString(id)}/clips/{Uri.EscapeDataString(clipId)}/decline", null, cancellation);
            parse.InvocationConfiguration.Output.WriteLine(receipt.GetProperty("alreadyClosed").GetBoolean()
                ? $"{id} {clipId}: the request was already closed (declined or expired); nothing changed"
                : $"{id} {clipId}: declined; the request is closed without a label");
            return 0;
        });
        return command;
    }
}
