using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;

namespace AsdOrleans.Cli.Commands;

/// <summary>
/// `asd label next`: a labeller's loop at a terminal — the oldest pending request, its score against the machine's
/// threshold, then play (through aplay, paplay, pw-play or ffplay, whichever is installed) or save the clip, and answer
/// n/a, d to decline (cannot tell: the request closes without a label), s to skip, q to quit. Reads answers from standard input, one per line.
/// With a labeller name it claims each clip it shows (other labellers see who listens, and pass it by) and releases the
/// ones it skips; with or without one, it passes by clips another labeller is listening to.
/// </summary>
public static class LabelNextCommand
{
    /// <summary>Where answers are read from (standard input; tests substitute a script).</summary>
    internal static Func<TextReader> Input { get; set; } = () => Console.In;

    private static readonly string[] Players = ["aplay -q", "paplay", "pw-play", "ffplay -nodisp -autoexit -loglevel quiet"];

    public static Command Create()
    {
        var (url, key) = LabelCommand.Connection();
        var machine = new Option<string?>("--machine") { Description = "only this machine's requests" };
        var saveDir = new Option<string?>("--save-dir") { Description = "folder where w saves clips (default: the current folder)" };
        var labeller = LabelCommand.Labeller();
        var command = new Command("next", "answer pending label requests one by one: [p]lay, [r]eference (a clip of the machine labelled normal), [w]rite the WAV, [n]ormal, [a]nomalous, [d]ecline (cannot tell), [s]kip, [q]uit")
        {
            url, key, machine, saveDir, labeller,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var input = Input();
            using var http = new ClusterHttp(parse.GetValue(url)!, ClusterHttp.KeyOf(parse, key), retryNotices: parse.InvocationConfiguration.Error).AsLabeller(parse.GetValue(labeller));
            string? me = parse.GetValue(labeller);
            // A person's own key names who answers (the silo records that name): the loop claims clips under it.
            if (await KeyOwner(http, cancellation) is { } owner)
            {
                if (me is not null && me != owner)
                    throw new UsageException($"--labeller {me}: this key is {owner}'s, and answers as {owner}");
                me = owner;
            }
            if (me is not null)
                output.WriteLine($"answering as {me}");
            string? only = parse.GetValue(machine);
            string folder = parse.GetValue(saveDir) ?? Directory.GetCurrentDirectory();
            var skipped = new HashSet<string>(StringComparer.Ordinal);
            var gone = new HashSet<string>(StringComparer.Ordinal); // refused: expired, withdrawn or labelled by someone else meanwhile
            var thresholds = new Dictionary<string, double>(StringComparer.Ordinal);
            var othersListening = new HashSet<string>(StringComparer.Ordinal); // passed by: another labeller held the clip
            int answered = 0, declined = 0;
            while (!cancellation.IsCancellationRequested)
            {
                string query = "/api/label-requests?limit=1000" + (only is null ? "" : $"&machine={Uri.EscapeDataString(only)}");
                var open = (await http.SendAsync(HttpMethod.Get, query, null, cancellation)).EnumerateArray()
                    .Where(r => !skipped.Contains(Key(r)) && !gone.Contains(Key(r))).ToList();
                bool HeardByAnother(System.Text.Json.JsonElement r) => othersListening.Contains(Key(r)) || ClaimedByAnother(r, me) is not null;
                var request = open.FirstOrDefault(r => !HeardByAnother(r));
                if (request.ValueKind == System.Text.Json.JsonValueKind.Undefined)
                {
                    var passed = new List<string>();
                    if (skipped.Count > 0) passed.Add($"{skipped.Count} skipped");
                    if (open.Count > 0) passed.Add($"{open.Count} being heard by other labellers");
                    output.WriteLine(passed.Count == 0 ? "no pending label requests" : $"no more pending label requests ({string.Join(", ", passed)})");
                    break;
                }
                string id = request.GetProperty("machineId").GetString()!, clip = request.GetProperty("clipId").GetString()!;
                string path = $"/api/machines/{Uri.EscapeDataString(id)}/clips/{Uri.EscapeDataString(clip)}";
                // Say who is listening, so other labellers pass this clip by; someone who took it meanwhile keeps it.
                async Task<bool> Claim()
                {
                    if (me is null) return true;
                    try
                    {
                        await http.SendAsync(HttpMethod.Post, $"{path}/claim", null, cancellation);
                        return true;
                    }
                    catch (SiloRefusedException e) when (e.Status == 409)
                    {
                        othersListening.Add(Key(request)); // another labeller holds it, or answered it meanwhile
                        output.WriteLine($"{id} {clip}: {e.Detail}; passing it by");
                        return false;
                    }
                    catch (SiloRefusedException e) when (SiloFeed.RequestGone(e, clip))
                    {
                        gone.Add(Key(request)); // expired or withdrawn meanwhile
                        return false;
                    }
                }
                async Task Release()
                {
                    if (me is null) return;
                    try { await http.SendAsync(HttpMethod.Delete, $"{path}/claim", null, cancellation); }
                    catch (SiloRefusedException) { /* closed meanwhile: nothing to release */ }
                }
                if (!await Claim())
                    continue;
                // The φ this clip was compared with (per domain where the machine keeps two); the machine's source φ only for
                // a request stored before requests carried theirs.
                double threshold;
                if (LabelCommand.Threshold(request) is { } asked)
                    threshold = asked;
                else if (!thresholds.TryGetValue(id, out threshold))
                    thresholds[id] = threshold = (await http.SendAsync(HttpMethod.Get, $"/api/machines/{Uri.EscapeDataString(id)}", null, cancellation)).GetProperty("decisionThreshold").GetDouble();
                double score = request.GetProperty("score").GetDouble();
                output.WriteLine($"{id} {clip}: score {score.ToString("0.0000", CultureInfo.InvariantCulture)} vs threshold {threshold.ToString("0.0000", CultureInfo.InvariantCulture)}"
                    + (score > threshold ? " (alert)" : "") + $", asked {request.GetProperty("requestedAt").GetDateTimeOffset().UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC ({ClusterHttp.QueryReason(request)})");
                // A gateway's clip: the silo holds no audio, the gateway's reference says where it is.
                string? storedAudio = ClusterHttp.OptionalString(request, "audioUrl");
                string audioUrl = storedAudio ?? $"{path}/audio"; // a silo from before audioUrl serves it there too
                string? atGateway = storedAudio is null ? ClusterHttp.OptionalString(request, "audioReference") : null;
                if (atGateway is not null)
                    output.WriteLine($"  audio at the gateway: {atGateway}");
                while (true)
                {
                    output.Write("[p]lay [r]eference [w]rite [n]ormal [a]nomalous [d]ecline [s]kip [q]uit > ");
                    output.Flush();
                    string? line = await input.ReadLineAsync(cancellation);
                    if (line is null) { output.WriteLine(); await Release(); return Finish(output, answered, declined, gone.Count); }
                    switch (line.Trim().ToLowerInvariant())
                    {
                        case "p" or "play" or "w" or "write":
                            if (atGateway is not null)
                            {
                                output.WriteLine($"the silo holds no audio for this clip; open it at the gateway: {atGateway}");
                                continue;
                            }
                            byte[] wav;
                            try
                            {
                                wav = await http.SendForBytesAsync(HttpMethod.Get, audioUrl, null, cancellation);
                            }
                            catch (SiloRefusedException e) when (e.Status == 404)
                            {
                                output.WriteLine($"no audio: {e.Detail}"); // removed meanwhile (answered or expired): the label will say so
                                continue;
                            }
                            if (line.Trim().StartsWith('p'))
                            {
                                await Claim(); // listening again renews the claim
                                output.WriteLine(await Play(wav, cancellation));
                                continue;
                            }
                            Directory.CreateDirectory(folder);
                            string file = Path.Combine(folder, $"{id}_{clip}.wav");
                            await File.WriteAllBytesAsync(file, wav, cancellation);
                            output.WriteLine($"wrote {file}");
                            continue;
                        case "r" or "reference":
                            // The machine's newest clip labelled normal, to compare with (kept on the silo; none yet on a new machine).
                            var examples = await http.SendAsync(HttpMethod.Get, $"/api/machines/{Uri.EscapeDataString(id)}/normal-examples", null, cancellation);
                            if (examples.GetArrayLength() == 0)
                            {
                                output.WriteLine("no clip of this machine labelled normal is kept yet");
                                continue;
                            }
                            var example = examples[0];
                            output.WriteLine($"a normal clip: {example.GetProperty("clipId").GetString()}, labelled normal {example.GetProperty("labelledAt").GetDateTimeOffset().UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC");
                            try
                            {
                                output.WriteLine(await Play(await http.SendForBytesAsync(HttpMethod.Get, example.GetProperty("audioUrl").GetString()!, null, cancellation), cancellation));
                            }
                            catch (SiloRefusedException e) when (e.Status == 404)
                            {
                                output.WriteLine($"no audio: {e.Detail}"); // a newer normal clip took its place meanwhile
                            }
                            continue;
                        case "n" or "normal" or "a" or "anomalous":
                            string label = line.Trim().StartsWith('n') ? "normal" : "anomalous";
                            try
                            {
                                var receipt = await http.SendAsync(HttpMethod.Post, $"{path}/label", JsonContent.Create(new { label }), cancellation);
                                if (receipt.GetProperty("alreadyApplied").GetBoolean())
                                {
                                    // Someone labelled it the same way meanwhile: this answer changed nothing, and is not this labeller's.
                                    gone.Add(Key(request));
                                    output.WriteLine($"not applied: already labelled {label} meanwhile; nothing changed");
                                    break;
                                }
                                answered++;
                                output.WriteLine($"labelled {label}; |N| = {receipt.GetProperty("referenceSetSize").GetInt32()}, |A| = {receipt.GetProperty("anomalySetSize").GetInt32()}");
                            }
                            catch (SiloRefusedException e) when (e.Status == 409 || SiloFeed.RequestGone(e, clip))
                            {
                                // The request changed while the labeller listened; the answer is not applied, the queue goes on.
                                gone.Add(Key(request));
                                output.WriteLine($"not applied: {e.Detail}");
                            }
                            break;
                        case "d" or "decline":
                            try
                            {
                                var receipt = await http.SendAsync(HttpMethod.Post, $"{path}/decline", null, cancellation);
                                if (receipt.GetProperty("alreadyClosed").GetBoolean())
                                {
                                    gone.Add(Key(request));
                                    output.WriteLine("not declined: the request was already closed meanwhile (declined or expired); nothing changed");
                                    break;
                                }
                                declined++;
                                output.WriteLine("declined: the request is closed without a label");
                            }
                            catch (SiloRefusedException e) when (e.Status == 409 || SiloFeed.RequestGone(e, clip))
                            {
                                gone.Add(Key(request)); // labelled by someone else meanwhile
                                output.WriteLine($"not declined: {e.Detail}");
                            }
                            break;
                        case "s" or "skip":
                            skipped.Add(Key(request));
                            await Release();
                            break;
                        case "q" or "quit":
                            await Release();
                            return Finish(output, answered, declined, gone.Count);
                        default:
                            output.WriteLine("p, r, w, n, a, d, s or q");
                            continue;
                    }
                    break;
                }
            }
            return Finish(output, answered, declined, gone.Count);
        });
        return command;
    }

    /// <summary>The person the key belongs to (GET /api/whoami), or null for a shared key or a silo from before whoami.</summary>
    private static async Task<string?> KeyOwner(ClusterHttp http, CancellationToken cancellation)
    {
        try
        {
            return ClusterHttp.OptionalString(await http.SendAsync(HttpMethod.Get, "/api/whoami", null, cancellation), "labeller");
        }
        catch (SiloRefusedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    /// <summary>The other labeller listening to a listed request now, if any (a claim of one's own does not count).</summary>
    private static string? ClaimedByAnother(System.Text.Json.JsonElement r, string? me)
    {
        if (ClusterHttp.OptionalString(r, "claimedBy") is not { } by || by == me) return null;
        return r.TryGetProperty("claimedUntil", out var until) && until.ValueKind == System.Text.Json.JsonValueKind.String
            && until.GetDateTimeOffset() > DateTimeOffset.UtcNow ? by : null;
    }

    private static string Key(System.Text.Json.JsonElement r) => r.GetProperty("machineId").GetString() + "/" + r.GetProperty("clipId").GetString();

    private static int Finish(TextWriter output, int answered, int declined, int refused)
    {
        output.WriteLine($"{answered} answered" + (declined > 0 ? $", {declined} declined" : "") + (refused > 0 ? $", {refused} not applied (the request expired, was withdrawn or was answered by someone else meanwhile)" : ""));
        return 0;
    }

    /// <summary>Plays the WAV with the first player found on PATH; without one, says where the clip was saved instead.</summary>
    private static async Task<string> Play(byte[] wav, CancellationToken cancellation)
    {
        string file = Path.Combine(Path.GetTempPath(), $"asd-label-{Guid.NewGuid():N}.wav");
        await File.WriteAllBytesAsync(file, wav, cancellation);
        foreach (string player in Players)
        {
            string[] parts = player.Split(' ');
            string? exe = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, parts[0])).FirstOrDefault(File.Exists);
            if (exe is null) continue;
            var start = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string arg in parts.Skip(1)) start.ArgumentList.Add(arg);
            start.ArgumentList.Add(file);
            using var process = Process.Start(start)!;
            await process.WaitForExitAsync(cancellation);
            File.Delete(file);
            return process.ExitCode == 0 ? $"played with {parts[0]}" : $"{parts[0]} failed (exit {process.ExitCode})";
        }
        return $"no audio player found (aplay, paplay, pw-play, ffplay); the clip is saved at {file}";
    }
}
