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
        var replace = new Option<bool>("--replace") { Description = "re-enroll a machine that has human labels, which a new enrollment discards (its sets, labels and counters start again; its kept normal clips go)" };
        var command = new Command("enroll", "enroll a machine from its training clips through a silo's HTTP API (a machine with labels needs --replace)") { url, key, machine, data, replace };
        command.SetAction(async (parse, cancellation) =>
        {
            string folder = parse.GetValue(data)!;
            InputChecks.MachineId("--machine", parse.GetValue(machine)!);
            InputChecks.ExistingFolder("--data", folder);
            var files = Directory.EnumerateFiles(folder, "*.wav").Order(StringComparer.Ordinal).ToList();
            if (files.Count == 0) throw new UsageException($"--data: no .wav files in '{folder}'");
            foreach (var file in files) InputChecks.ExistingFile("--data", file);
            using var http = new ClusterHttp(parse.GetValue(url)!, parse.GetValue(key)!);
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
            if (labels > 0 && !parse.GetValue(replace))
                throw new UsageException($"{id} has {labels} human label(s) (|A| = {before!.Value.GetProperty("anomalySetSize").GetInt32()}) that a new enrollment discards; "
                    + "pass --replace to re-enroll it anyway");
            var status = await SiloFeed.EnrollAsync(http, id, files, cancellation);
            if (labels > 0)
                parse.InvocationConfiguration.Output.WriteLine($"replaced: the {labels} label(s) of the earlier enrollment no longer count");
            parse.InvocationConfiguration.Output.WriteLine(
                $"enrolled {id} from {files.Count} clips: |N| = {status.GetProperty("referenceSetSize").GetInt32()}, model {status.GetProperty("modelVersion").GetString()}");
            return 0;
        });
        return command;
    }
}
