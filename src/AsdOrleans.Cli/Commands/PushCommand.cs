using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using AsdOrleans.Datasets.Dcase;
using AsdOrleans.Method.Metrics;

namespace AsdOrleans.Cli.Commands;

/// <summary>
/// `asd push`: streams a folder of WAVs to a machine like a plant gateway would; with --oracle it also answers the
/// label requests it caused from the file names' ground truth, as an annotator would, and ends with the
/// prequential AUC/pAUC of what it sent.
/// </summary>
public static class PushCommand
{
    public static Command Create()
    {
        var (url, key) = ClusterHttp.Options("device");
        var labellerKey = new Option<string?>("--labeller-key") { Description = "labeller API key for --oracle (default: --key)" };
        var machine = new Option<string>("--machine") { Description = "machine id", Required = true };
        var data = new Option<string>("--data") { Description = "folder of WAVs to stream, in name order", Required = true };
        var rate = new Option<double>("--rate") { Description = "clips per second (0: as fast as the silo answers)", DefaultValueFactory = _ => 0 };
        var oracle = new Option<bool>("--oracle") { Description = "answer label requests from the DCASE file names" };
        var seed = new Option<int?>("--shuffle-seed") { Description = "stream in a seeded random order instead of name order" };
        var concurrency = new Option<int>("--concurrency")
        {
            Description = "clips in flight at once (1 keeps the stream's order, as the method assumes; more measures throughput)",
            DefaultValueFactory = _ => 1,
        };
        var retries = new Option<int>("--retries")
        {
            Description = "retries of a failed call (connection errors, 429, 5xx/503), with back-off; safe: a retried clip id returns its first verdict",
            DefaultValueFactory = _ => 3,
        };
        var scoresOut = new Option<string?>("--scores-out") { Description = "CSV of every clip's verdict: file,clip_id,score,anomalous,label_requested,labelled,query_reason (`asd metrics` reads it for DCASE-named clips)" };
        var command = new Command("push", "stream WAVs to a machine through a silo's HTTP API; --oracle labels what it is asked")
        {
            url, key, labellerKey, machine, data, rate, oracle, seed, concurrency, retries, scoresOut,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            var output = parse.InvocationConfiguration.Output;
            string folder = parse.GetValue(data)!;
            InputChecks.MachineId("--machine", parse.GetValue(machine)!);
            InputChecks.ExistingFolder("--data", folder);
            var files = Directory.EnumerateFiles(folder, "*.wav").Order(StringComparer.Ordinal).ToList();
            if (files.Count == 0) throw new UsageException($"--data: no .wav files in '{folder}'");
            if (parse.GetValue(seed) is int s) files = files.Shuffle(s);
            double perSecond = parse.GetValue(rate);
            if (!(perSecond >= 0 && double.IsFinite(perSecond))) throw new UsageException("--rate must be a finite number ≥ 0");
            if (!parse.GetValue(oracle) && parse.GetValue(labellerKey) is not null)
                throw new UsageException("--labeller-key goes with --oracle");
            int inFlight = parse.GetValue(concurrency);
            if (inFlight < 1) throw new UsageException($"--concurrency must be at least 1, got {inFlight}");
            int retryCount = parse.GetValue(retries);
            if (retryCount is < 0 or > 20) throw new UsageException($"--retries must be in 0..20, got {retryCount}");
            string? csv = parse.GetValue(scoresOut);
            if (csv is not null) OutputPaths.CheckFile("--scores-out", csv);
            bool answer = parse.GetValue(oracle);
            var truth = files.Select(f => DcaseFileName.TryParse(Path.GetFileName(f), out var parts) ? parts : null).ToList();
            if (answer && truth.Any(t => t?.IsAnomaly is null))
                throw new UsageException("--oracle needs DCASE test file names (…_normal_… / …_anomaly_…) for every clip");

            string id = parse.GetValue(machine)!;
            using var http = new ClusterHttp(parse.GetValue(url)!, parse.GetValue(key)!, retryCount, parse.InvocationConfiguration.Error);
            string labeller = parse.GetValue(labellerKey) ?? parse.GetValue(key)!;
            if (string.IsNullOrWhiteSpace(labeller)) throw new UsageException("--labeller-key: an API key is required");
            var results = new PushedClip[files.Count];
            int done = 0;
            var watch = Stopwatch.StartNew();
            await Terminal.WithProgressAsync(output, $"pushing to {id}", async progress =>
            {
                using var gate = new SemaphoreSlim(inFlight);
                var tasks = new List<Task>(files.Count);
                for (int i = 0; i < files.Count; i++)
                {
                    if (perSecond > 0)
                    {
                        var due = TimeSpan.FromSeconds(i / perSecond) - watch.Elapsed;
                        if (due > TimeSpan.Zero) await Task.Delay(due, cancellation);
                    }
                    await gate.WaitAsync(cancellation);
                    int index = i;
                    tasks.Add(Task.Run(async () =>
                    {
                        try
                        {
                            results[index] = await SiloFeed.PushAsync(http, id, files[index], answer ? truth[index]!.IsAnomaly : null, labeller, cancellation);
                            progress(Interlocked.Increment(ref done), files.Count);
                        }
                        finally
                        {
                            gate.Release();
                        }
                    }, cancellation));
                }
                await Task.WhenAll(tasks);
                return 0;
            }, linesWhenRedirected: false);
            var scores = results.Select(r => r.Score).ToList();
            int requested = results.Count(r => r.LabelRequested), labelled = results.Count(r => r.Labelled), alerts = results.Count(r => r.Anomalous);
            int refused = results.Count(r => r.LabelRefused), repeats = results.Count(r => r.Repeated);
            output.WriteLine($"pushed {files.Count} clips in {watch.Elapsed.TotalSeconds:F1} s ({files.Count / watch.Elapsed.TotalSeconds:F2} clips/s); " +
                             $"{alerts} alerts ({(double)alerts / files.Count:P1}); " +
                             $"{requested} label requests ({(double)requested / files.Count:P1}{(requested > 0 ? "; " + SiloFeed.ByReason(results.Select(r => r.QueryReason)) : "")}), {labelled} answered" +
                             (refused > 0 ? $", {refused} no longer open when the oracle answered (expired, withdrawn beyond the machine's limit of open requests, or lost with a silo): not applied" : ""));
            if (repeats > 0)
                output.WriteLine($"{repeats} of the {files.Count} clip ids the machine had already: they got their first verdicts and were not scored again "
                    + "(a retry is safe; new audio needs a new clip id)");
            output.WriteLine(await MachineBudget(http, id, labeller, cancellation));
            if (csv is not null)
            {
                using var writer = new StreamWriter(csv);
                await writer.WriteLineAsync(AsdOrleans.Evaluation.Dcase.DcaseEvaluator.PushScoresHeader); // `asd metrics` reads it back
                for (int i = 0; i < files.Count; i++)
                {
                    var r = results[i];
                    await writer.WriteLineAsync(string.Join(',', Path.GetFileName(files[i]), r.ClipId,
                        r.Score.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
                        r.Anomalous ? "1" : "0", r.LabelRequested ? "1" : "0", r.Labelled ? "1" : "0", r.QueryReason ?? ""));
                }
                output.WriteLine($"wrote {csv}");
            }
            if (truth.All(t => t?.IsAnomaly is not null && t.IsTarget is not null))
            {
                var isAnomaly = truth.Select(t => t!.IsAnomaly!.Value).ToArray();
                var isTarget = truth.Select(t => t!.IsTarget!.Value).ToArray();
                var m = DetectionMetrics.EvaluateWhereDefined(scores.ToArray(), isAnomaly, isTarget);
                static string F(double? v) => v is { } x ? x.ToString("F4", System.Globalization.CultureInfo.InvariantCulture) : "undefined";
                if (m.Auc is not null)
                    output.WriteLine($"prequential AUC {F(m.Auc)}, pAUC {F(m.PartialAuc)}, AUC(source) {F(m.AucSource)}, AUC(target) {F(m.AucTarget)}");
            }
            return 0;
        });
        return command;
    }

    /// <summary>The machine's whole-stream budget after the push, as its status reports it (a device key alone may not read it).</summary>
    private static async Task<string> MachineBudget(ClusterHttp http, string machine, string labeller, CancellationToken cancellation)
    {
        JsonElement status;
        try
        {
            status = await http.SendAsync(HttpMethod.Get, $"/api/machines/{Uri.EscapeDataString(machine)}", null, cancellation, labeller);
        }
        catch (UsageException e)
        {
            return $"{machine}: budget not shown ({e.Message}; a labeller or operator key reads it: --labeller-key)";
        }
        var c = System.Globalization.CultureInfo.InvariantCulture;
        long forced = status.TryGetProperty("forcedQueries", out var forcedQueries) ? forcedQueries.GetInt64() : 0;
        string line = string.Create(c, $"{machine}: {status.GetProperty("queries").GetInt64()} label requests{(forced > 0 ? $" ({forced} forced by the budget's floor)" : "")} over {status.GetProperty("clipsSeen").GetInt64()} clips since enrollment, realised {status.GetProperty("realisedBudget").GetDouble():0.000} against b = {status.GetProperty("budget").GetDouble():0.###}");
        return status.GetProperty("overspent").GetBoolean() ? line + " — OVERSPENT (more than b + 0.02)" : line;
    }

    private static List<string> Shuffle(this List<string> items, int seed)
    {
        var random = new Random(seed);
        for (int i = items.Count - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
        return items;
    }
}
