using System.Text.Json;
using System.CommandLine;
namespace AsdOrleans.Cli.Commands;

/// <summary>`asd enroll`: sends a machine's training WAVs to a silo, which embeds them and enrolls the machine.</summary>
public static class EnrollCommand
{
    public static Command Create()
    {
        var (url, key) = ClusterHttp.Options("operator");
        var machine = new Option<string>("--machine") { Description = "machine id", Required = true };
        var data = new Option<string>("--data") { Description = "folder of training WAVs (DCASE names give the domain; others count as source)", Required = true };
        var replace = new Option<bool>("--replace") { Description = "re-enroll a machine that has human labels and discard them (a changed or repaired machine: its sets, labels and counters start again; its kept normal clips and labelled audio go)" };
        var keepLabels = new Option<bool>("--keep-labels") { Description = "re-enroll a machine that has human labels and keep them: the silo embeds the labelled clips whose audio it kept again with the new encoder (a new model or embedder on the same machine; not for a changed or repaired machine); refused because a label or enrollment came meanwhile, it is sent again (4 tries)" };
        var command = new Command("enroll", "enroll a machine from its training clips through a silo's HTTP API (a machine with labels needs --keep-labels or --replace)") { url, key, machine, data, replace, keepLabels };
        command.SetAction(async (parse, cancellation) =>
        {
            string folder = parse.GetValue(data)!;
            bool keep = parse.GetValue(keepLabels);
            if (keep && parse.GetValue(replace))
                throw new UsageException("--keep-labels keeps the machine's labels and --replace discards them: pass one");
            InputChecks.MachineId("--machine", parse.GetValue(machine)!);
            InputChecks.ExistingFolder("--data", folder);
            var files = Directory.EnumerateFiles(folder, "*.wav").Order(StringComparer.Ordinal).ToList();
            if (files.Count == 0) throw new UsageException($"--data: no .wav files in '{folder}'");
            foreach (var file in files) InputChecks.ExistingFile("--data", file);
            using var http = new ClusterHttp(parse.GetValue(url)!, ClusterHttp.KeyOf(parse, key), retryNotices: parse.InvocationConfiguration.Error);
            string id = parse.GetValue(machine)!;
            // A new enrollment starts the machine again: the people's answers so far would go without a word.
            JsonElement? before;
            try
            {
                before = await http.SendAsync(HttpMethod.Get, $"/api/machines/{Uri.EscapeDataString(id)}", null, cancellation);
            }
            catch (SiloRefusedException e) when (e.Status == 404)
            {
                before = null; // a new machine: no labels to lose
            }
            catch (SiloRefusedException e) when (e.Status == 403)
            {
                // The look at the labels is a labeller's call; the key the command needs is an operator's.
                throw new UsageException($"enrolling needs an operator key; the silo refused this one ({e.Detail})");
            }
            long labels = before is { } known ? known.GetProperty("normalLabels").GetInt64() + known.GetProperty("anomalousLabels").GetInt64() : 0;
            if (labels > 0 && !parse.GetValue(replace) && !keep)
                throw new UsageException($"{id} has {labels} human label(s) (|A| = {before!.Value.GetProperty("anomalySetSize").GetInt32()}) that a new enrollment discards; "
                    + "pass --keep-labels to carry them into the new enrollment (a new encoder on the same machine), or --replace to discard them (a changed or repaired machine)");
            var status = await EnrollRetryingRacedCarry(http, id, files, keep, parse.InvocationConfiguration.Error, cancellation);
            if (keep)
            {
                long carried = status.GetProperty("carriedLabels").GetInt64(), notCarried = status.GetProperty("labelsNotCarried").GetInt64();
                parse.InvocationConfiguration.Output.WriteLine($"kept {carried} of {carried + notCarried} label(s): {status.GetProperty("normalLabels").GetInt64()} normal, "
                    + $"{status.GetProperty("anomalousLabels").GetInt64()} anomalous, embedded again from their kept audio"
                    + (notCarried == 0 ? "" : $"; {notCarried} not carried (a gateway's clip, whose audio the silo never held, a label beyond Asd:LabelledAudioPerMachine, or audio that could not be kept or read)"));
            }
            else if (labels > 0)
                parse.InvocationConfiguration.Output.WriteLine($"replaced: the {labels} label(s) of the earlier enrollment no longer count");
            parse.InvocationConfiguration.Output.WriteLine(
                $"enrolled {id} from {files.Count} clips: |N| = {status.GetProperty("referenceSetSize").GetInt32()}, model {status.GetProperty("modelVersion").GetString()}");
            return 0;
        });
        return command;
    }

    /// <summary>Tries of a carrying enrollment that the silo refused because a label or an enrollment came between the
    /// carry's read and its write; and the wait before the second (doubled before each next).</summary>
    internal const int RacedCarryTries = 4;
    internal static readonly TimeSpan RacedCarryBackoff = TimeSpan.FromMilliseconds(500);

    /// <summary>The enrollment, sent again when the silo refuses a carry as raced (409, code <c>carry-raced</c>): nothing
    /// changed, and the next try reads the labels afresh. Any other refusal fails at once, as before.</summary>
    private static async Task<JsonElement> EnrollRetryingRacedCarry(ClusterHttp http, string id, IReadOnlyList<string> files, bool keep,
        TextWriter error, CancellationToken cancellation)
    {
        var wait = RacedCarryBackoff;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await SiloFeed.EnrollAsync(http, id, files, cancellation, keep);
            }
            catch (SiloRefusedException e) when (keep && attempt < RacedCarryTries && e.Status == 409 && e.Code == AsdOrleans.Abstractions.LabelCarryRacedException.Code)
            {
                error.WriteLine($"asd: {e.Detail}; enrolling again in {wait.TotalSeconds.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture)} s (try {attempt + 1} of {RacedCarryTries})");
                await Task.Delay(wait, cancellation);
                wait *= 2;
            }
        }
    }
}
