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
            Description = "retries of a failed call (connection errors, 429, 5xx/503), with back-off; safe: a retried clip id returns its first verdict. With several --url silos a retry goes to the next silo, and a silo that takes no connection is skipped at once. A clip still not delivered is counted and the stream goes on (listed at the end, exit 5); a refusal (4xx) stops it",
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
            string deviceKey = ClusterHttp.KeyOf(parse, key);
            using var http = new ClusterHttp(parse.GetValue(url)!, deviceKey, retryCount, parse.InvocationConfiguration.Error);
            string labeller = parse.GetValue(labellerKey) ?? deviceKey;
            if (string.IsNullOrWhiteSpace(labeller)) throw new UsageException("--labeller-key: an API key is required");
            var results = new PushedClip?[files.Count];
            // A clip the silo did not take through every retry (a silo restarting, stopped or killed) is counted and the
            // stream goes on; a refusal (a key, the machine, the audio) stops it, since every clip would meet it, and so
            // does a silo that did not take the first clip (a wrong --url, or a silo not up yet).
            var notDelivered = new System.Collections.Concurrent.ConcurrentQueue<(int Index, string Why)>();
            Exception? refusal = null;
            int delivering = 0; // 1 once a clip was delivered: a silo never reached is a wrong --url, not a restart
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            int done = 0;
            var watch = Stopwatch.StartNew();
            await Terminal.WithProgressAsync(output, $"pushing to {id}", async progress =>
            {
                using var gate = new SemaphoreSlim(inFlight);
                var tasks = new List<Task>(files.Count);
                for (int i = 0; i < files.Count && !stop.IsCancellationRequested; i++)
                {
                    try
                    {
                        if (perSecond > 0)
                        {
                            var due = TimeSpan.FromSeconds(i / perSecond) - watch.Elapsed;
                            if (due > TimeSpan.Zero) await Task.Delay(due, stop.Token);
                        }
                        await gate.WaitAsync(stop.Token);
                    }
                    catch (OperationCanceledException) when (stop.IsCancellationRequested && !cancellation.IsCancellationRequested)
                    {
                        break; // a refusal stopped the stream
                    }
                    int index = i;
                    tasks.Add(Task.Run(async () =>
                    {
                        try
                        {
                            results[index] = await SiloFeed.PushAsync(http, id, files[index], answer ? truth[index]!.IsAnomaly : null, labeller, cancellation);
                            Volatile.Write(ref delivering, 1);
                        }
                        catch (Exception e) when (SiloFeed.IsTransient(e, cancellation) && Volatile.Read(ref delivering) == 1)
                        {
                            notDelivered.Enqueue((index, e.Message));
                        }
                        catch (Exception e) when (!cancellation.IsCancellationRequested)
                        {
                            Interlocked.CompareExchange(ref refusal, e, null);
                            stop.Cancel();
                        }
                        finally
                        {
                            progress(Interlocked.Increment(ref done), files.Count);
                            gate.Release();
                        }
                    }, cancellation));
                }
                await Task.WhenAll(tasks);
                return 0;
            }, linesWhenRedirected: false);
            if (refusal is not null)
                throw refusal; // as before: one line, exit 2; nothing written
            var delivered = Enumerable.Range(0, files.Count).Where(i => results[i] is not null).ToList();
            var pushed = delivered.Select(i => results[i]!).ToList();
            int requested = pushed.Count(r => r.LabelRequested), labelled = pushed.Count(r => r.Labelled), alerts = pushed.Count(r => r.Anomalous);
            int refused = pushed.Count(r => r.LabelRefused), repeats = pushed.Count(r => r.Repeated), notSent = pushed.Count(r => r.LabelNotSent);
            int share = Math.Max(1, pushed.Count);
            output.WriteLine($"pushed {pushed.Count} clips in {watch.Elapsed.TotalSeconds:F1} s ({pushed.Count / watch.Elapsed.TotalSeconds:F2} clips/s)"
                             + (notDelivered.IsEmpty ? "" : $" ({notDelivered.Count} of the {files.Count} not delivered)") + "; " +
                             $"{alerts} alerts ({(double)alerts / share:P1}); " +
                             $"{requested} label requests ({(double)requested / share:P1}{(requested > 0 ? "; " + SiloFeed.ByReason(pushed.Select(r => r.QueryReason)) : "")}), {labelled} answered" +
                             (refused > 0 ? $", {refused} no longer open when the oracle answered (expired, withdrawn beyond the machine's limit of open requests, or lost with a silo): not applied" : "") +
                             (notSent > 0 ? $", {notSent} answers not delivered (the silo was not reached): those requests stay open for a labeller" : ""));
            if (repeats > 0)
                output.WriteLine($"{repeats} of the {pushed.Count} clip ids the machine had already: they got their first verdicts and were not scored again "
                    + "(a retry is safe; new audio needs a new clip id)");
            output.WriteLine(await MachineBudget(http, id, labeller, cancellation));
            if (csv is not null)
            {
                using var writer = new StreamWriter(csv);
                await writer.WriteLineAsync(AsdOrleans.Evaluation.Dcase.DcaseEvaluator.PushScoresHeader); // `asd metrics` reads it back
                foreach (int i in delivered) // a clip not delivered has no verdict: its row is left out
                {
                    var r = results[i]!;
                    await writer.WriteLineAsync(string.Join(',', Path.GetFileName(files[i]), r.ClipId,
                        r.Score.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
                        r.Anomalous ? "1" : "0", r.LabelRequested ? "1" : "0", r.Labelled ? "1" : "0", r.QueryReason ?? ""));
                }
                output.WriteLine($"wrote {csv}" + (notDelivered.IsEmpty ? "" : $" ({pushed.Count} rows: the clips delivered)"));
            }
            if (pushed.Count > 0 && delivered.All(i => truth[i]?.IsAnomaly is not null && truth[i]!.IsTarget is not null))
            {
                var isAnomaly = delivered.Select(i => truth[i]!.IsAnomaly!.Value).ToArray();
                var isTarget = delivered.Select(i => truth[i]!.IsTarget!.Value).ToArray();
                var m = DetectionMetrics.EvaluateWhereDefined(pushed.Select(r => r.Score).ToArray(), isAnomaly, isTarget);
                static string F(double? v) => v is { } x ? x.ToString("F4", System.Globalization.CultureInfo.InvariantCulture) : "undefined";
                if (m.Auc is not null)
                    output.WriteLine($"prequential AUC {F(m.Auc)}, pAUC {F(m.PartialAuc)}, AUC(source) {F(m.AucSource)}, AUC(target) {F(m.AucTarget)}"
                        + (notDelivered.IsEmpty ? "" : " (over the clips delivered)"));
            }
            if (notSent > 0 && notDelivered.IsEmpty)
            {
                parse.InvocationConfiguration.Error.WriteLine($"error: {notSent} answers of the oracle were not delivered after {retryCount} retries each; "
                    + "their label requests stay open (asd label list)");
                return CliRunner.Incomplete;
            }
            if (!notDelivered.IsEmpty)
            {
                var missed = notDelivered.OrderBy(n => n.Index).ToList();
                var error = parse.InvocationConfiguration.Error;
                error.WriteLine($"error: {missed.Count} of {files.Count} clips were not delivered after {retryCount} retries each "
                    + $"(first: {Path.GetFileName(files[missed[0].Index])}: {missed[0].Why}); push them again: a clip the silo did score "
                    + "is answered with its first verdict, not scored twice (--retries waits longer)");
                foreach (var (index, _) in missed.Take(20))
                    error.WriteLine($"  not delivered: {Path.GetFileName(files[index])}");
                if (missed.Count > 20) error.WriteLine($"  … and {missed.Count - 20} more");
                return CliRunner.Incomplete;
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
