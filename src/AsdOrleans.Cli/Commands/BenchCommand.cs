using System.CommandLine;
using AsdOrleans.Cli.Benchmarks;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Cli.Commands;

/// <summary>`asd bench …`: benchmark programs that print figures (recorded in docs/benchmarks.md).</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var seconds = new Option<double>("--seconds") { Description = "measuring time per case", DefaultValueFactory = _ => 2.0 };
        var streamLength = new Option<int?>("--stream-length") { Description = "instead: bounded against unbounded state on prequential streams of this many clips per machine (issue 13)" };
        var streamMachines = new Option<int>("--stream-machines") { Description = "with --stream-length: machines (synth-embeddings)", DefaultValueFactory = _ => 3 };
        var streamStrategy = new Option<string>("--stream-strategy") { Description = "with --stream-length: query strategy", DefaultValueFactory = _ => "hybrid" };
        var streamSeed = new Option<ulong>("--stream-seed") { Description = "with --stream-length: synth-embeddings seed", DefaultValueFactory = _ => 1UL };
        var streamCaps = new Option<string>("--stream-caps") { Description = "with --stream-length: capped variants to compare with the unbounded machine, N,A,M triples separated by ';' (default: the default method's caps)", HelpName = "N,A,M;…" };
        var scoring = new Command("scoring", "score-and-decide calls per second per core for J = 42 and J = 1,000 at d = 128, and state bytes per machine; "
            + "with --stream-length, capped against unbounded state on long streams")
        {
            seconds, streamLength, streamMachines, streamStrategy, streamSeed, streamCaps,
        };
        scoring.SetAction(parse =>
        {
            if (parse.GetValue(streamLength) is int length)
            {
                if (length is < 100 or > 1_000_000) throw new UsageException("--stream-length must be in [100, 1000000]");
                if (parse.GetValue(streamMachines) is < 1 or > 100) throw new UsageException("--stream-machines must be in [1, 100]");
                var caps = new List<(int, int, int)>();
                foreach (var triple in (parse.GetValue(streamCaps) ?? $"{AsdOrleans.Method.Machines.StateBounds.DefaultReferenceCap},{AsdOrleans.Method.Machines.StateBounds.DefaultAnomalyCap},{AsdOrleans.Method.Machines.StateBounds.DefaultScoreCap}").Split(';'))
                {
                    var v = OptionParsing.Integers("--stream-caps", triple, 0);
                    if (v.Count != 3) throw new UsageException($"--stream-caps: '{triple}' is not N,A,M");
                    caps.Add((v[0], v[1], v[2]));
                }
                LongStreamBenchmark.Run(parse.InvocationConfiguration.Output, new LongStreamBenchmark.Settings(length, parse.GetValue(streamMachines), 0.1, 10,
                    OptionParsing.Strategies(parse.GetValue(streamStrategy)!)[0], parse.GetValue(streamSeed), caps));
                return 0;
            }
            double s = parse.GetValue(seconds);
            if (!(s > 0 && s <= 600)) throw new UsageException("--seconds must be in (0, 600]");
            ScoringBenchmark.Run(parse.InvocationConfiguration.Output, s);
            return 0;
        });
        var width = new Option<int>("--width") { Description = "encoder width (the paper: 32)", DefaultValueFactory = _ => 32 };
        var clipSeconds = new Option<double>("--clip-seconds") { Description = "clip length", DefaultValueFactory = _ => 10.0 };
        var batches = new Option<string>("--batch-sizes") { Description = "comma-separated batch sizes", DefaultValueFactory = _ => "1,8,32" };
        var minSeconds = new Option<double>("--min-seconds") { Description = "measure each batch size at least this long (at least one batch)", DefaultValueFactory = _ => 10.0 };
        var device = new Option<string>("--device") { Description = "auto (CUDA if available), cpu, cuda, cuda:N", DefaultValueFactory = _ => "auto" };
        var precisions = new Option<string>("--precision") { Description = "comma-separated number formats measured side by side: fp32, fp32-folded, bf16 (the first is the reference)", DefaultValueFactory = _ => "fp32" };
        var modelPath = new Option<string?>("--model") { Description = "a trained model file to measure (default: an untrained model of --width)" };
        var fidelityData = new Option<string?>("--fidelity-data") { Description = "a folder of WAV clips for the fidelity check (default: the benchmark's noise clips)" };
        var anchor = new Option<string?>("--anchor") { Description = "a PyTorch anchor script (../shared/anchors/torch_encoder_bench.py) to measure against in the same run; needs /usr/bin/python3 with torch" };
        var encoder = new Command("encoder", "encoder clips/s per batch size and number format, log-STFT cost torch vs MathNet, FLOP/s against the counted FLOPs per clip")
        {
            width, clipSeconds, batches, minSeconds, device, precisions, modelPath, fidelityData, anchor,
        };
        encoder.SetAction(parse =>
        {
            var sizes = OptionParsing.Integers("--batch-sizes", parse.GetValue(batches)!, 1, 4096).ToList();
            double min = parse.GetValue(minSeconds);
            if (!(min >= 0 && min <= 3600)) throw new UsageException("--min-seconds must be in [0, 3600]");
            InputChecks.Device("--device", parse.GetValue(device)!);
            double clip = parse.GetValue(clipSeconds);
            if (!(clip >= 0.1 && clip <= 60)) throw new UsageException("--clip-seconds must be in [0.1, 60]");
            if (parse.GetValue(width) is < 1 or > 256) throw new UsageException("--width must be in [1, 256]");
            var formats = ParsePrecisions(parse.GetValue(precisions)!);
            string? model = parse.GetValue(modelPath);
            if (model is not null && !File.Exists(model)) throw new UsageException($"--model: no such file {model}");
            string? anchorScript = parse.GetValue(anchor);
            if (anchorScript is not null && !File.Exists(anchorScript)) throw new UsageException($"--anchor: no such file {anchorScript}");
            var fidelityClips = parse.GetValue(fidelityData) is { } folder ? FidelityClips(folder) : null;
            Encoder.TorchRuntime.EnsureAvailable();
            EncoderBenchmark.Run(parse.InvocationConfiguration.Output,
                new EncoderBenchmark.Settings(parse.GetValue(width), clip, sizes, Math.Max(0, parse.GetValue(minSeconds)), parse.GetValue(device)!)
                {
                    Precisions = formats,
                    ModelPath = model,
                    FidelityClips = fidelityClips,
                    AnchorScript = anchorScript,
                });
            return 0;
        });
        return new Command("bench", "benchmark programs") { scoring, encoder, Embedders(), Cluster() };
    }

    private static Command Embedders()
    {
        var clipSeconds = new Option<double>("--clip-seconds") { Description = "clip length", DefaultValueFactory = _ => 10.0 };
        var rounds = new Option<int>("--rounds") { Description = "alternating rounds (one clip per embedder each)", DefaultValueFactory = _ => 30 };
        var command = new Command("embedders", "training-free embedders' ms per clip on one thread: baseline, spectral without and with the envelope-modulation peaks, side by side")
        {
            clipSeconds, rounds,
        };
        command.SetAction(parse =>
        {
            double seconds = parse.GetValue(clipSeconds);
            if (!(seconds >= 0.1 && seconds <= 60)) throw new UsageException("--clip-seconds must be in [0.1, 60]");
            int n = parse.GetValue(rounds);
            if (n is < 1 or > 10_000) throw new UsageException("--rounds must be in [1, 10000]");
            EmbedderBenchmark.Run(parse.InvocationConfiguration.Output, seconds, n);
            return 0;
        });
        return command;
    }

    private static Command Cluster()
    {
        var machines = new Option<string>("--machines") { Description = "enrolled machine counts, comma-separated, measured in increasing order on one silo", DefaultValueFactory = _ => "1000,10000" };
        var callers = new Option<int>("--callers") { Description = "concurrent callers of the machine grains", DefaultValueFactory = _ => 256 };
        var duration = new Option<double>("--duration") { Description = "measuring time per case, seconds", DefaultValueFactory = _ => 10.0 };
        var width = new Option<int>("--width") { Description = "encoder width for the HTTP ingest (the paper: 32)", DefaultValueFactory = _ => 16 };
        var seconds = new Option<double>("--seconds") { Description = "length of the ingested clips, seconds (the paper: 10)", DefaultValueFactory = _ => 2.0 };
        var concurrency = new Option<int>("--concurrency") { Description = "concurrent devices posting clips over HTTP", DefaultValueFactory = _ => 8 };
        var device = new Option<string>("--device") { Description = "encoder device: auto (CUDA if available), cpu, cuda, cuda:N", DefaultValueFactory = _ => "auto" };
        var strategy = new Option<string>("--strategy") { Description = "query strategy of the scoring machines (none isolates scoring from persisted label requests)", DefaultValueFactory = _ => "hybrid" };
        var parts = new Option<string>("--parts") { Description = "what to measure, comma-separated: scoring (grain calls and memory), ingest (HTTP with the encoder), alerts (the plant-wide alert list, index against every history)", DefaultValueFactory = _ => "scoring,ingest" };
        var rate = new Option<double?>("--rate") { Description = "open loop: clips/s spread evenly over the machines, latency from each clip's scheduled send time (scoring part; steady state after a warm-up)" };
        var storage = new Option<string>("--storage") { Description = "with --rate: grain state in sqlite (embedded) or redis (a redis-server started for the run)", DefaultValueFactory = _ => "sqlite" };
        var warmupClips = new Option<int>("--warmup-clips") { Description = "with --rate: clips each machine processes before measuring (past its start)", DefaultValueFactory = _ => 20 };
        var warmupSeconds = new Option<double>("--warmup-seconds") { Description = "with --rate: seconds at the rate before measuring", DefaultValueFactory = _ => 5.0 };
        var silos = new Option<int?>("--silos") { Description = "with --rate and --storage redis: a cluster of this many `asd silo --cluster` processes on loopback instead of one embedded silo; prints RSS and machine grains per silo" };
        var joinSilo = new Option<bool>("--join-silo") { Description = "with --silos: after the measured window start one more silo and report machine grains per silo and latency at 5, 15, 30, 60 and 120 s after it started" };
        var stopSilo = new Option<bool>("--stop-silo")
        {
            Description = "with --silos: after the measured window stop the silo holding the most machines (SIGTERM, a graceful stop) under the load, " +
                          "report latency and machine grains per silo at 5, 15 and 30 s after, and count acknowledged clips that no machine counts",
        };
        var killSilo = new Option<bool>("--kill-silo")
        {
            Description = "with --silos: as --stop-silo, but the silo is killed (SIGKILL, a crash); both also count acknowledged alerts missing from the " +
                          "plant-wide alert index while their machine keeps the clip",
        };
        var machineIdle = new Option<double?>("--machine-idle-seconds") { Description = "with --rate: deactivate a machine grain after this many seconds without a call (the silo's Asd:MachineIdleMinutes; default the silo's 10 minutes)" };
        var generator = new Option<string>("--generator")
        {
            Description = "with --rate: how the load generator waits for each clip's due time: thread (its own thread, the default) or thread-pool " +
                          "(Task.Delay, as before issue 13's second pass); a comma list measures each in turn on the embedded silo",
            DefaultValueFactory = _ => "thread",
        };
        var historyPoints = new Option<int>("--history-points")
        {
            Description = "with --rate on the embedded silo: fill each machine's score history with this many points before measuring " +
                          "(a plant that has run a while; the history keeps the last 1,000)",
        };
        var answerLabels = new Option<double?>("--answer-labels")
        {
            Description = "with --rate on the embedded silo: answer each label request 'normal' this many seconds after its verdict " +
                          "(at once during the warm-up), as a plant's labellers do; without it every request stays open",
        };
        var rebalancer = new Option<bool>("--rebalancer") { Description = "with --silos: run the silos with Orleans' activation rebalancer (experimental; off in the silo default)" };
        var command = new Command("cluster", "one embedded silo: grain scoring calls/s and p50/p99 with 1,000 and 10,000 machines, memory per grain, " +
                                             "HTTP ingest clips/s with the encoder, batching on vs max batch 1; --rate: open loop at a plant's rate")
        {
            machines, callers, duration, width, seconds, concurrency, device, strategy, parts, rate, storage, warmupClips, warmupSeconds, silos, joinSilo, stopSilo, killSilo, rebalancer,
            machineIdle, generator, historyPoints, answerLabels,
        };
        command.SetAction(async parse =>
        {
            var counts = OptionParsing.Integers("--machines", parse.GetValue(machines)!, 1, 1_000_000);
            if (counts.Distinct().Count() != counts.Count) throw new UsageException("--machines: each count may appear once");
            var partNames = parse.GetValue(parts)!.Split(',', StringSplitOptions.TrimEntries);
            // Silo processes measure scoring only; the default parts then mean just that.
            if (parse.GetValue(silos) is not null && parse.GetResult(parts) is null or { Implicit: true }) partNames = ["scoring"];
            if (partNames.Length == 0 || partNames.Any(p => p is not ("scoring" or "ingest" or "alerts")))
                throw new UsageException($"--parts: '{parse.GetValue(parts)}' must name scoring, ingest or alerts, comma-separated");
            if (partNames.Contains("alerts") && (parse.GetValue(rate) is not null || parse.GetValue(silos) is not null))
                throw new UsageException("--parts alerts runs on its own embedded silo: drop --rate and --silos");
            double d = parse.GetValue(duration);
            if (!(d > 0 && d <= 600)) throw new UsageException("--duration must be in (0, 600]");
            double clip = parse.GetValue(seconds);
            if (!(clip >= 0.1 && clip <= 60)) throw new UsageException("--seconds must be in [0.1, 60]");
            if (parse.GetValue(width) is < 1 or > 256) throw new UsageException("--width must be in [1, 256]");
            if (parse.GetValue(callers) is < 1 or > 100_000) throw new UsageException("--callers must be in [1, 100000]");
            if (parse.GetValue(concurrency) is < 1 or > 1_000) throw new UsageException("--concurrency must be in [1, 1000]");
            InputChecks.Device("--device", parse.GetValue(device)!);
            string strategyName;
            try
            {
                strategyName = QueryStrategyNames.Parse(parse.GetValue(strategy)!).ToName();
            }
            catch (ArgumentException e)
            {
                throw new UsageException($"--strategy: {e.Message}");
            }
            if (parse.GetValue(rate) is double r && !(r > 0 && r <= 1_000_000)) throw new UsageException("--rate must be in (0, 1000000] clips/s");
            string storageName = parse.GetValue(storage)!.Trim().ToLowerInvariant();
            if (storageName is not ("sqlite" or "redis")) throw new UsageException($"--storage: '{storageName}' must be sqlite or redis");
            if (parse.GetValue(rate) is null && storageName != "sqlite") throw new UsageException("--storage goes with --rate");
            if (parse.GetValue(warmupClips) is < 0 or > 10_000) throw new UsageException("--warmup-clips must be in [0, 10000]");
            if (!(parse.GetValue(warmupSeconds) is >= 0 and <= 600)) throw new UsageException("--warmup-seconds must be in [0, 600]");
            if (parse.GetValue(machineIdle) is double idle && (!(idle >= 1 && idle <= 86_400) || parse.GetValue(rate) is null || parse.GetValue(silos) is not null))
                throw new UsageException("--machine-idle-seconds must be in [1, 86400] and goes with --rate on the embedded silo");
            var generators = ParseGenerators(parse.GetValue(generator)!);
            if (parse.GetResult(generator) is { Implicit: false } && parse.GetValue(rate) is null) throw new UsageException("--generator goes with --rate");
            if (parse.GetValue(historyPoints) is < 0 or > 10_000) throw new UsageException("--history-points must be in [0, 10000]");
            if (parse.GetValue(historyPoints) > 0 && (parse.GetValue(rate) is null || parse.GetValue(silos) is not null))
                throw new UsageException("--history-points goes with --rate on the embedded silo");
            if (parse.GetValue(answerLabels) is double answer && (!(answer >= 0 && answer <= 3600) || parse.GetValue(rate) is null || parse.GetValue(silos) is not null))
                throw new UsageException("--answer-labels must be in [0, 3600] seconds and goes with --rate on the embedded silo");
            int? siloCount = parse.GetValue(silos);
            bool killing = parse.GetValue(killSilo), stopping = parse.GetValue(stopSilo) || killing;
            if (killing && parse.GetValue(stopSilo))
                throw new UsageException("--stop-silo stops a silo gracefully, --kill-silo kills it: give one");
            if (siloCount is not null)
            {
                if (siloCount is < 1 or > 16) throw new UsageException("--silos must be in [1, 16]");
                if (parse.GetValue(rate) is null || storageName != "redis")
                    throw new UsageException("--silos needs --rate and --storage redis (silo processes form a cluster through Redis)");
                if (partNames.Contains("ingest")) throw new UsageException("--silos measures the scoring part only; add --parts scoring");
                if (counts.Count != 1) throw new UsageException("--silos takes one --machines count (e.g. --machines 30000)");
                if (generators.Count != 1) throw new UsageException("--silos takes one --generator");
            }
            else if (parse.GetValue(joinSilo) || stopping || parse.GetValue(rebalancer))
                throw new UsageException($"{(parse.GetValue(joinSilo) ? "--join-silo" : killing ? "--kill-silo" : stopping ? "--stop-silo" : "--rebalancer")} goes with --silos");
            if (parse.GetValue(joinSilo) && stopping)
                throw new UsageException($"--join-silo and {(killing ? "--kill-silo" : "--stop-silo")} are measured in separate runs: give one");
            if (stopping && siloCount < 2)
                throw new UsageException($"{(killing ? "--kill-silo" : "--stop-silo")} needs --silos 2 or more: the machines of the silo that stops go to the others");
            bool ingest = partNames.Contains("ingest");
            if (ingest) Encoder.TorchRuntime.EnsureAvailable();
            await ClusterBenchmark.RunAsync(parse.InvocationConfiguration.Output, new ClusterBenchmark.Settings
            {
                Machines = counts, Callers = parse.GetValue(callers), Duration = d, Width = parse.GetValue(width), ClipSeconds = clip,
                Devices = parse.GetValue(concurrency), Device = parse.GetValue(device)!, Scoring = partNames.Contains("scoring"), Ingest = ingest, Alerts = partNames.Contains("alerts"),
                Strategy = strategyName, Rate = parse.GetValue(rate), Storage = storageName,
                WarmupClips = parse.GetValue(warmupClips), WarmupSeconds = parse.GetValue(warmupSeconds),
                Silos = siloCount, JoinSilo = parse.GetValue(joinSilo), StopSilo = stopping, KillSilo = killing, Rebalancer = parse.GetValue(rebalancer),
                MachineIdleSeconds = parse.GetValue(machineIdle), Generators = generators,
                HistoryPoints = parse.GetValue(historyPoints), AnswerLabelsAfterSeconds = parse.GetValue(answerLabels),
            });
            return 0;
        });
        return command;
    }
    private static IReadOnlyList<GeneratorPacing> ParseGenerators(string text)
    {
        var names = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var pacings = names.Select(name => GeneratorPacings.Parse(name)
            ?? throw new UsageException($"--generator: '{name}' must be thread or thread-pool")).ToList();
        if (pacings.Count == 0 || pacings.Distinct().Count() != pacings.Count)
            throw new UsageException("--generator: name thread, thread-pool or both, each once");
        return pacings;
    }

    private static IReadOnlyList<Encoder.Inference.InferencePrecision> ParsePrecisions(string text)
    {
        try
        {
            var formats = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(Encoder.Inference.InferencePrecisions.Parse).Distinct().ToList();
            return formats.Count > 0 ? formats : throw new UsageException("--precision: name at least one number format");
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--precision: {e.Message}");
        }
    }

    /// <summary>Every WAV under a folder (at most 64, sorted by path), decoded to 16 kHz mono.</summary>
    private static IReadOnlyList<float[]> FidelityClips(string folder)
    {
        if (!Directory.Exists(folder))
            throw new UsageException($"--fidelity-data: '{folder}' is not a folder");
        var paths = Directory.EnumerateFiles(folder, "*.wav", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Take(64).ToList();
        if (paths.Count == 0)
            throw new UsageException($"--fidelity-data: no WAV files under '{folder}'");
        return paths.Select(p => AsdOrleans.Audio.WavDecoder.Read(p).Samples).ToList();
    }
}
