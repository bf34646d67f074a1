using System.CommandLine;
using System.Diagnostics;
using AsdOrleans.Cli.Experiments;
using AsdOrleans.Datasets.Dcase;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Budget;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Cli.Commands;

/// <summary>
/// `asd experiment`: the prequential protocol over an embeddings CSV, or over a DCASE-layout data set embedded once with a
/// model (cached), in-process or through a live silo; writes results, summary, the official evaluator's files, figures,
/// the Table 1 analogue and report.md.
/// </summary>
public static class ExperimentCommand
{
    public const string DefaultStrategies = "none,random,variable-uncertainty,hybrid,qbc";
    public const string DefaultBudgets = "0,0.05,0.1,0.2";
    /// <summary>The paper's setting for the data-set form: budget 0 is the offline model every line starts from.</summary>
    public const string DatasetStrategies = "random,qbc,hybrid";
    public const string DatasetBudgets = "0,0.05,0.1,0.2,0.3,0.5";

    /// <summary>The method and protocol options shared by `experiment` and `demo`.</summary>
    public sealed class ProtocolOptions
    {
        public Option<string?> Strategies { get; } = new("--strategies") { Description = $"comma-separated strategies: {string.Join(", ", QueryStrategyNames.All)} (default: {DefaultStrategies}; with --data: {DatasetStrategies})" };
        public Option<string?> Budgets { get; } = new("--budgets") { Description = $"comma-separated label budgets b in [0, 1]; 0 is the offline model (default: {DefaultBudgets}; with --data: {DatasetBudgets})" };
        public Option<int> Trials { get; } = new("--trials") { Description = "trials (stream shuffles) per machine, strategy and budget", DefaultValueFactory = _ => 10 };
        public Option<ulong> Seed { get; } = new("--seed") { Description = "seed from which every trial's seeds derive", DefaultValueFactory = _ => 0UL };
        public Option<string> Method { get; } = new("--method") { Description = $"named method whose settings are the defaults of the options below: {string.Join(", ", MachineConfig.MethodNames)} (paper = exactly docs/design.md §1: Eq. 1–3 scoring, b̂ from 0)", DefaultValueFactory = _ => "default" };
        public Option<string?> Scoring { get; } = new("--scoring") { Description = $"scoring: {string.Join(", ", ScoringNames.All)}; a comma-separated list sweeps it (default: the method's; default {MachineConfig.Default.Scoring.ToName()}, paper {MachineConfig.Paper.Scoring.ToName()})" };
        public Option<string?> BudgetStart { get; } = new("--budget-start") { Description = $"budget manager: {string.Join(", ", BudgetManagerNames.All)} (paced: never above b + (2 − b)/n after n clips; paper: Žliobaitė's b̂ from 0); a list sweeps it (default: the method's)" };
        public Option<string?> Gamma { get; } = new("--gamma") { Description = $"γ, weight of the similarity to labelled anomalies (Eq. 3); a comma-separated list sweeps it (default {MachineConfig.Default.Gamma})" };
        public Option<string?> Alpha { get; } = new("--alpha") { Description = $"α, the variable-uncertainty threshold step; a list sweeps it (default {MachineConfig.Default.Alpha})" };
        public Option<string?> Window { get; } = new("--window") { Description = $"w, the window of the spent-budget estimate; a list sweeps it (default {MachineConfig.Default.BudgetWindow})" };
        public Option<string?> V { get; } = new("--v") { Description = $"v, the hybrid strategy's random share; a list sweeps it (default {MachineConfig.Default.RandomShare})" };
        public Option<double> Unsure { get; } = new("--unsure")
        {
            Description = "share of the clips it is asked about that the simulated labeller cannot tell (0–1; default 0: it knows every clip's truth)",
            DefaultValueFactory = _ => 0,
        };
        public Option<string> UnsureAnswer { get; } = new("--unsure-answer")
        {
            Description = "what it does with those: decline (close the request without a label, as the console's \"Can't tell\") or guess (a random label)",
            DefaultValueFactory = _ => "decline",
        };
        public Option<int> Threads { get; } = new("--threads") { Description = "parallel runs (default: all cores)", DefaultValueFactory = _ => Environment.ProcessorCount };

        public void AddTo(Command command)
        {
            foreach (var option in new Option[] { Strategies, Budgets, Trials, Seed, Method, Scoring, BudgetStart, Gamma, Alpha, Window, V, Unsure, UnsureAnswer, Threads })
                command.Options.Add(option);
        }

        private SimulatedLabeller ReadLabeller(ParseResult parse)
        {
            double rate = parse.GetValue(Unsure);
            if (!(rate >= 0 && rate <= 1))
                throw new UsageException($"--unsure must be in [0, 1], got {rate}");
            return new SimulatedLabeller(rate, OptionParsing.Name("--unsure-answer", parse.GetValue(UnsureAnswer)!, UnsureAnswerNames.Parse));
        }

        public ExperimentSettings Read(ParseResult parse, string defaultStrategies = DefaultStrategies, string defaultBudgets = DefaultBudgets)
        {
            var method = OptionParsing.Name("--method", parse.GetValue(Method)!, MachineConfig.ForMethod);
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            var gammas = OptionParsing.Doubles("--gamma", parse.GetValue(Gamma) ?? method.Gamma.ToString("R", inv));
            var alphas = OptionParsing.Doubles("--alpha", parse.GetValue(Alpha) ?? method.Alpha.ToString("R", inv));
            var windows = OptionParsing.Integers("--window", parse.GetValue(Window) ?? method.BudgetWindow.ToString(inv));
            var shares = OptionParsing.Doubles("--v", parse.GetValue(V) ?? method.RandomShare.ToString("R", inv));
            var scorings = OptionParsing.Names("--scoring", parse.GetValue(Scoring) ?? method.Scoring.ToName(), ScoringNames.Parse);
            var starts = OptionParsing.Names("--budget-start", parse.GetValue(BudgetStart) ?? method.BudgetManager.ToName(), BudgetManagerNames.Parse);
            var settings = new ExperimentSettings
            {
                Strategies = OptionParsing.Strategies(parse.GetValue(Strategies) ?? defaultStrategies),
                Budgets = OptionParsing.Doubles("--budgets", parse.GetValue(Budgets) ?? defaultBudgets),
                Trials = parse.GetValue(Trials),
                Seed = parse.GetValue(Seed),
                MaxDegreeOfParallelism = parse.GetValue(Threads),
                Method = method with { Gamma = gammas[0], Alpha = alphas[0], BudgetWindow = windows[0], RandomShare = shares[0], Scoring = scorings[0], BudgetManager = starts[0] },
                Gammas = gammas, Alphas = alphas, Windows = windows, RandomShares = shares, Scorings = scorings, BudgetStarts = starts,
                Labeller = ReadLabeller(parse),
            };
            if (settings.MaxDegreeOfParallelism < 1)
                throw new UsageException($"--threads must be at least 1, got {settings.MaxDegreeOfParallelism}");
            foreach (var b in settings.Budgets)
                if (!(b >= 0 && b <= 1))
                    throw new UsageException($"--budgets: {b} is outside [0, 1]");
            try
            {
                return settings.Validate();
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }
        }
    }

    public static Command Create()
    {
        var embeddings = new Option<string?>("--embeddings") { Description = "embeddings CSV: machine,split,domain,label,file[,held_out_distance],e0,e1,… (or give --data)" };
        var data = new Option<string?>("--data") { Description = "data set root in the DCASE layout (real, or from `asd synth`); embedded once with --model" };
        var model = new Option<string?>("--model") { Description = "encoder model file for --data (with it, the training-free baseline's offline run is reported beside the model's)" };
        var embedderName = new Option<string?>("--embedder") { Description = "with --data: " + Embedders.Description + " (default: model with --model, else spectral)" };
        var enrollFromTest = new Option<string?>("--enroll-from-test") { Description = "with --data that has test clips only: enroll each machine from its first S source-normal and T target-normal test clips (by index) and stream the rest (refused where the data set has training clips)", HelpName = "S,T" };
        var clusters = new Option<int?>("--clusters") { Description = $"k-means centres of each machine's source training embeddings (default: every clip, 1-NN; --method paper: {AsdOrleans.Method.Machines.MachineConfig.PaperSourceClusters}); at least the number of source clips keeps every clip, but never more than N's cap (--state-caps; default {AsdOrleans.Method.Machines.StateBounds.DefaultReferenceCap}) less the machine's target clips: above that, k-means centres seeded per trial (report.md says per machine)" };
        var caps = new Option<string?>("--state-caps") { Description = "caps of N, A and M per machine (0 = unbounded; default: the method's, unbounded for --method paper)", HelpName = "N,A,M" };
        var precision = new Option<string?>("--embedding-precision") { Description = "how each machine stores N and A: fp16 or fp32 (default: the method's, fp16; fp32 for --method paper)" };
        var thresholds = new Option<string?>("--decision-thresholds") { Description = "φ per domain (per-domain, the default method's; only the domain scoring acts on it) or one for both domains (single, the paper's): where the alerts fall, not the scores" };
        var groundTruth = new Option<string?>("--ground-truth") { Description = "official ground truth, for evaluation test clips in --data" };
        var cache = new Option<string?>("--cache") { Description = $"embedding cache folder, by model version and file content (default: {EmbeddingCache.DefaultFolder()})" };
        var device = new Option<string>("--device") { Description = "auto (CUDA if available), cpu, cuda, cuda:N", DefaultValueFactory = _ => "auto" };
        var batch = new Option<int>("--batch-size") { Description = "clips per forward pass when embedding", DefaultValueFactory = _ => 8 };
        var viaCluster = new Option<string?>("--via-cluster") { Description = "run every stream through a live silo at this address (its HTTP API), one machine grain per run; or several silos of one cluster, comma-separated, as --url", HelpName = "URL" };
        var key = new Option<string?>("--key") { Description = "API key for --via-cluster with the operator role (configure, enroll, label)" };
        var deviceKey = new Option<string?>("--device-key") { Description = "API key with the device role for posting clips (default: --key)" };
        var outDir = new Option<string>("--out") { Description = "run folder for results.csv, summary.csv, table1.csv, report.md, evaluator/ and figures/ (an existing non-empty folder needs --force)", Required = true };
        var force = new Option<bool>("--force") { Description = "write into a non-empty --out: the files and the evaluator/ and figures/ folders an earlier run wrote there are removed first (nothing else)" };
        var protocol = new ProtocolOptions();
        var command = new Command("experiment", "prequential active-learning experiment (the paper's Section 4.4) on an embeddings CSV or a data set")
        {
            embeddings, data, model, embedderName, enrollFromTest, clusters, caps, precision, thresholds, groundTruth, cache, device, batch, viaCluster, key, deviceKey, outDir, force,
        };
        protocol.AddTo(command);
        command.SetAction(async (parse, cancellation) =>
        {
            var output = parse.InvocationConfiguration.Output;
            string? csv = parse.GetValue(embeddings), root = parse.GetValue(data), modelPath = parse.GetValue(model), cluster = parse.GetValue(viaCluster);
            if (csv is null && root is null)
                throw new UsageException("give --embeddings CSV or --data ROOT (a data set's audio, embedded with --embedder: spectral by default, or --model FILE); neither was given");
            if (csv is not null && root is not null)
                throw new UsageException("give --embeddings CSV or --data ROOT, not both");
            string kind = parse.GetValue(embedderName) is { } named ? Embedders.Parse(named) : root is not null && modelPath is null ? Embedders.Spectral : Embedders.Model;
            if (root is not null && kind == Embedders.Model && modelPath is null)
                throw new UsageException("--embedder model needs --model (the encoder that embeds the clips); or use --embedder spectral or baseline");
            if (Embedders.IsTrainingFree(kind) && (root is null || modelPath is not null))
                throw new UsageException($"--embedder {kind} goes with --data and without --model (it is training-free)");
            if (root is null && parse.GetValue(enrollFromTest) is not null)
                throw new UsageException("--enroll-from-test goes with --data");
            if (csv is not null && (modelPath is not null || parse.GetValue(groundTruth) is not null || parse.GetValue(cache) is not null))
                throw new UsageException("--model, --ground-truth and --cache go with --data, not --embeddings");
            if (cluster is not null && root is null)
                throw new UsageException("--via-cluster posts the clips' audio: it needs --data (and --model with a silo of that model, or a training-free --embedder)");
            if (cluster is null && (parse.GetValue(key) is not null || parse.GetValue(deviceKey) is not null))
                throw new UsageException("--key and --device-key go with --via-cluster");
            if (cluster is not null && string.IsNullOrWhiteSpace(parse.GetValue(key)))
                throw new UsageException("--via-cluster needs --key (an operator key; --device-key for posting clips if it differs)");
            if (cluster is not null)
                ClusterHttp.Silos(cluster, "--via-cluster"); // one silo, or several comma-separated as --url (docs/client.md)
            var settings = root is null ? protocol.Read(parse) : protocol.Read(parse, DatasetStrategies, DatasetBudgets);
            if (parse.GetValue(clusters) is int k)
            {
                if (k < 1) throw new UsageException($"--clusters must be at least 1, got {k}");
                settings = settings with { Method = settings.Method with { SourceClusters = k } };
            }
            if (parse.GetValue(caps) is string capText)
            {
                var values = OptionParsing.Integers("--state-caps", capText);
                if (values.Count != 3 || values.Any(v => v < 0))
                    throw new UsageException($"--state-caps: expected N,A,M (0 = unbounded), got '{capText}'");
                settings = settings with { Method = settings.Method with { ReferenceCap = values[0], AnomalyCap = values[1], ScoreCap = values[2] } };
            }
            if (parse.GetValue(precision) is string precisionName)
                settings = settings with { Method = settings.Method with { EmbeddingPrecision = OptionParsing.Name("--embedding-precision", precisionName, EmbeddingPrecisionNames.Parse) } };
            if (parse.GetValue(thresholds) is string thresholdName)
                settings = settings with { Method = settings.Method with { DecisionThresholds = OptionParsing.Name("--decision-thresholds", thresholdName, DecisionThresholdNames.Parse) } };
            string folder = parse.GetValue(outDir)!;
            CheckOutputFolder(folder, parse.GetValue(force));
            string commandLine = CommandLine(parse);

            if (csv is not null)
            {
                InputChecks.ExistingFile("--embeddings", csv);
                var table = EmbeddingTable.Load(csv);
                Run(table, settings, folder, output, new RunInputs(commandLine, csv, null, null));
                return 0;
            }

            int batchSize = parse.GetValue(batch);
            if (batchSize < 1) throw new UsageException($"--batch-size must be at least 1, got {batchSize}");
            InputChecks.Device("--device", parse.GetValue(device)!);
            InputChecks.ExistingFolder("--data", root!);
            if (parse.GetValue(groundTruth) is { } gt) InputChecks.ExistingFolder("--ground-truth", gt);
            string? version = null;
            if (kind == Embedders.Model)
            {
                InputChecks.ExistingFile("--model", modelPath!);
                // The model's header (format, metadata, version) is checked before two minutes of embedding, not after.
                version = InputChecks.ModelVersion("--model", modelPath!);
            }
            string cacheFolder = parse.GetValue(cache) ?? EmbeddingCache.DefaultFolder();
            OutputPaths.CheckFolder("--cache", cacheFolder);
            var clips = AudioData.Scan(root!, parse.GetValue(groundTruth), _ => true);
            var unlabelled = clips.FirstOrDefault(c => c.IsAnomaly is null);
            if (unlabelled is not null)
                throw new UsageException($"{unlabelled.Path}: no label; evaluation test clips need --ground-truth");
            string source = Path.GetFullPath(root!);
            if (parse.GetValue(enrollFromTest) is string enrollCounts)
            {
                var counts = OptionParsing.Integers("--enroll-from-test", enrollCounts);
                if (counts.Count != 2 || counts.Any(c => c < 0) || counts.Sum() == 0)
                    throw new UsageException($"--enroll-from-test: expected S,T (source and target normal clips per machine), got '{enrollCounts}'");
                // Moved test clips would join the training clips silently, a protocol no one asked for.
                if (clips.Where(c => !c.IsTest).GroupBy(AudioData.MachineName).FirstOrDefault() is { } trained)
                    throw new UsageException($"--enroll-from-test is for data sets with test clips only: machine '{trained.Key}' in '{root}' has {trained.Count()} training clips, "
                        + "which would be enrolled together with the moved test clips; leave --enroll-from-test out");
                clips = Embedders.EnrollFromTest(clips, counts[0], counts[1]);
                source += $" (test clips only; per machine its first {counts[0]} source-normal and {counts[1]} target-normal test clips enrolled, --enroll-from-test {counts[0]},{counts[1]})";
            }
            var machineWithoutTraining = clips.GroupBy(AudioData.MachineName).FirstOrDefault(g => g.All(c => c.IsTest));
            if (machineWithoutTraining is not null)
                throw new UsageException($"--data: machine '{machineWithoutTraining.Key}' has no training clips to enroll (--enroll-from-test S,T takes normals from its test clips)");
            CheckStreams(root!, clips);
            var embedder = new EmbeddingCache(cacheFolder);
            if (Embedders.IsTrainingFree(kind))
            {
                var (raw, rawReport) = Terminal.WithProgress(output, $"embedding ({kind})", progress =>
                    Embedders.EmbedTrainingFreeRaw(kind, embedder, clips, batchSize, progress), linesWhenRedirected: true);
                output.WriteLine($"embedding: {rawReport.Clips} clips, {rawReport.FromCache} from the cache, {rawReport.Embedded} embedded in {rawReport.Elapsed.TotalSeconds:F1} s (cache {embedder.Folder})");
                string rawVersion = kind == Embedders.Spectral ? Embedders.SpectralVersion : Embedders.BaselineVersion;
                var rawInputs = new RunInputs(commandLine, source,
                    rawVersion + (kind == Embedders.Spectral ? " (whitened per machine)" : " (standardised per machine)"), rawReport);
                if (kind == Embedders.Spectral)
                {
                    var (baselineRaw, _) = Terminal.WithProgress(output, "embedding (baseline)", progress =>
                        Embedders.EmbedTrainingFreeRaw(Embedders.Baseline, embedder, clips, batchSize, progress), linesWhenRedirected: true);
                    rawInputs = rawInputs with { Baseline = BaselineRun.Compute(Embedders.PerMachine(Embedders.Baseline, baselineRaw), settings, Embedders.BaselineVersion) };
                }
                if (cluster is null)
                {
                    Run(Embedders.PerMachine(kind, raw), settings, folder, output, rawInputs);
                    return 0;
                }
                // A silo run with a training-free embedder: each machine is enrolled from its raw features with the
                // transform the in-process run applies (standardise or whiten), which the silo fits and applies to every clip.
                await RunOnSiloAsync(raw, rawInputs, rawVersion, standardize: kind == Embedders.Baseline, whiten: kind == Embedders.Spectral);
                return 0;
            }
            var (embedded, report) = Terminal.WithProgress(output, "embedding", progress =>
                embedder.Embed(clips, modelPath!, parse.GetValue(device)!, batchSize, progress), linesWhenRedirected: true);
            output.WriteLine($"embedding: {report.Clips} clips, {report.FromCache} from the cache, {report.Embedded} embedded in {report.Elapsed.TotalSeconds:F1} s (cache {embedder.Folder})");
            var (baselineTable, baselineEmbedding) = Terminal.WithProgress(output, "embedding (baseline)", progress =>
                Embedders.EmbedBaseline(embedder, clips, batchSize, progress), linesWhenRedirected: true);
            output.WriteLine($"baseline: {baselineEmbedding.Clips} clips, {baselineEmbedding.FromCache} from the cache, {baselineEmbedding.Embedded} embedded in {baselineEmbedding.Elapsed.TotalSeconds:F1} s");
            var inputs = new RunInputs(commandLine, source, version!, report)
            {
                Baseline = BaselineRun.Compute(baselineTable, settings, Embedders.BaselineVersion),
            };
            if (cluster is null)
            {
                Run(embedded, settings, folder, output, inputs);
                return 0;
            }
            await RunOnSiloAsync(embedded, inputs, version!, standardize: false, whiten: false);
            return 0;

            async Task RunOnSiloAsync(EmbeddingTable table, RunInputs runInputs, string modelVersion, bool standardize, bool whiten)
            {
                var paths = clips.Where(c => c.IsTest).ToDictionary(c => (AudioData.MachineName(c), c.FileName), c => c.Path);
                using var operatorApi = new ClusterHttp(cluster!, parse.GetValue(key)!, retryNotices: parse.InvocationConfiguration.Error);
                using var deviceApi = new ClusterHttp(cluster!, parse.GetValue(deviceKey) ?? parse.GetValue(key)!, retryNotices: parse.InvocationConfiguration.Error);
                var runner = new ClusterExperiment(operatorApi, deviceApi, ClusterExperiment.NewRunId()) { StandardizeEnrollment = standardize, WhitenEnrollment = whiten };
                await RunViaClusterAsync(table, settings, folder, output, runInputs with { Mode = $"through the silo at {cluster}" },
                    runner, modelVersion, (machine, file) => paths[(machine, file)], cancellation);
            }
        });
        return command;
    }

    /// <summary>
    /// What the protocol will need of each machine, checked from the clip names before anything is embedded (the same
    /// conditions <see cref="PrequentialExperiment.Plan"/> checks on the embeddings): training clips, and test clips of
    /// both classes with normals of both domains, without which AUC, AUC(source) or AUC(target) is undefined.
    /// </summary>
    public static void CheckStreams(string root, IReadOnlyList<AsdOrleans.Datasets.Dcase.DcaseClip> clips)
    {
        foreach (var machine in clips.GroupBy(AudioData.MachineName).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var test = machine.Where(c => c.IsTest).ToList();
            string? missing =
                !machine.Any(c => !c.IsTest) ? "no training clips to enroll from"
                : !test.Any(c => c.IsAnomaly == true) || !test.Any(c => c.IsAnomaly == false) ? "no normal or no anomalous test clips (AUC is undefined)"
                : !test.Any(c => c.IsAnomaly == false && !c.IsTarget) ? "no source-domain normal test clips (AUC(source) is undefined)"
                : !test.Any(c => c.IsAnomaly == false && c.IsTarget) ? "no target-domain normal test clips (AUC(target) is undefined)"
                : null;
            if (missing is not null)
                throw new UsageException($"--data: machine '{machine.Key}' in '{root}' has {missing}");
        }
    }

    /// <summary>Where the numbers came from, for the report.</summary>
    public sealed record RunInputs(string CommandLine, string Source, string? ModelVersion, EmbeddingCacheReport? Embedding)
    {
        public string Mode { get; init; } = "in-process";
        /// <summary>The training-free baseline's offline run on the same clips, when the run is from audio with a model.</summary>
        public BaselineRun? Baseline { get; init; }
    }

    /// <summary>Runs in-process and writes every output (atomically per file, after the whole run succeeded).</summary>
    public static IReadOnlyList<SummaryRow> Run(EmbeddingTable table, ExperimentSettings settings, string outputFolder, TextWriter output, RunInputs? inputs = null)
    {
        settings = WithOfflineRun(settings, output);
        var started = Stopwatch.StartNew();
        var plan = PrequentialExperiment.Plan(table, settings);
        var outcomes = Terminal.WithProgress(output, "prequential runs",
            progress => PrequentialExperiment.RunDetailed(plan, settings.MaxDegreeOfParallelism, progress), linesWhenRedirected: inputs?.Embedding is not null);
        return Finish(table, settings, outputFolder, output, inputs ?? new RunInputs("asd experiment", table.Source, null, null), plan, outcomes, started.Elapsed);
    }

    public static async Task<IReadOnlyList<SummaryRow>> RunViaClusterAsync(EmbeddingTable table, ExperimentSettings settings, string outputFolder, TextWriter output,
        RunInputs inputs, ClusterExperiment runner, string modelVersion, Func<string, string, string> audioPath, CancellationToken cancellation)
    {
        settings = WithOfflineRun(settings, output);
        var started = Stopwatch.StartNew();
        var plan = PrequentialExperiment.Plan(table, settings);
        var traces = await runner.RunAsync(plan, modelVersion, audioPath, settings.MaxDegreeOfParallelism,
            Terminal.ProgressLines(output, "streams through the silo"), cancellation);
        var outcomes = PrequentialExperiment.Assemble(plan, traces);
        return Finish(table, settings, outputFolder, output, inputs, plan, outcomes, started.Elapsed);
    }

    private static IReadOnlyList<SummaryRow> Finish(EmbeddingTable table, ExperimentSettings settings, string outputFolder, TextWriter output,
        RunInputs inputs, ExperimentPlan plan, IReadOnlyList<TrialOutcome> outcomes, TimeSpan loop)
    {
        int computedRuns = plan.Runs.Count;
        var results = outcomes.Select(o => o.Result).ToList();
        var headroom = LabelHeadroomAnalysis.Measure(plan, settings);
        var summary = ExperimentSummary.Summarise(results);
        Directory.CreateDirectory(outputFolder);
        RemovePreviousRun(outputFolder);
        ExperimentSummary.WriteResults(Path.Combine(outputFolder, ExperimentRunFolder.ResultsFile), results);
        ExperimentSummary.WriteSummary(Path.Combine(outputFolder, "summary.csv"), summary);
        EvaluatorFiles.Write(outputFolder, outcomes, settings);
        inputs.Baseline?.Write(outputFolder);
        ExperimentReport.WriteHeadroomCsv(Path.Combine(outputFolder, ExperimentReport.HeadroomFile), headroom);
        var alerts = AlertRateAnalysis.Offline(outcomes, settings);
        AlertRateAnalysis.WriteCsv(Path.Combine(outputFolder, AlertRateAnalysis.FileName), alerts);
        var figures = ExperimentFigures.Write(outputFolder, summary, settings);
        ExperimentReport.Write(outputFolder, results, summary, settings, new RunDescription(inputs.CommandLine, inputs.Source, inputs.ModelVersion, inputs.Embedding,
            loop, inputs.Mode, computedRuns, figures)
        {
            Baseline = inputs.Baseline, Headroom = headroom, Alerts = alerts,
            SourceReferences = plan.Machines.Select(m => m.SourceReferencesFor(settings.Method)).ToList(),
        });
        SummaryTable.Print(Terminal.For(output), summary, results, table, settings, inputs.Baseline);
        if (ExperimentReport.AlertNote(settings) is { } alertNote)
            output.WriteLine($"alerts ({AlertRateAnalysis.FileName}, report.md): {alertNote}");
        output.WriteLine($"{results.Count} runs ({computedRuns} streams computed, {inputs.Mode}) in {loop.TotalSeconds:F1} s; "
            + $"results.csv, summary.csv, table1.csv, {(inputs.Baseline is null ? "" : BaselineRun.FileName + ", ")}{ExperimentReport.HeadroomFile}, {AlertRateAnalysis.FileName}, report.md, {EvaluatorFiles.Folder}/ and {ExperimentFigures.Folder}/ in {Path.GetFullPath(outputFolder)}");
        return summary;
    }

    /// <summary>Refuses an output folder that cannot be created or written, or that holds files and no --force, before any work is done.</summary>
    public static void CheckOutputFolder(string path, bool force = false)
    {
        OutputPaths.CheckFolder("--out", path);
        if (!force && Directory.Exists(path) && Directory.EnumerateFileSystemEntries(path).Any())
            throw new UsageException($"--out: '{path}' is not empty; pass --force to write this run's files into it (the files it writes are replaced)");
    }

    /// <summary>The files and folders a run writes into its --out; <see cref="RemovePreviousRun"/> removes these and nothing else.</summary>
    public static readonly string[] RunFiles =
        [ExperimentRunFolder.ResultsFile, "summary.csv", "table1.csv", BaselineRun.FileName, ExperimentReport.HeadroomFile, AlertRateAnalysis.FileName, "report.md"];
    public static readonly string[] RunFolders = [EvaluatorFiles.Folder, ExperimentFigures.Folder];

    /// <summary>
    /// Removes what an earlier run wrote into the folder (with --force), once this run has succeeded: otherwise a rerun with
    /// fewer trials, strategies or budgets leaves evaluator/ trials and figures that no longer match results.csv (and a
    /// baseline.csv from a run with --model beside one without). Anything else in the folder is left alone.
    /// </summary>
    public static void RemovePreviousRun(string outputFolder)
    {
        foreach (var name in RunFolders)
            if (Directory.Exists(Path.Combine(outputFolder, name)))
                Directory.Delete(Path.Combine(outputFolder, name), recursive: true);
        foreach (var name in RunFiles)
            File.Delete(Path.Combine(outputFolder, name));
    }

    /// <summary>
    /// The summary's table 1, the paired differences and every figure start from the offline model. A run that lists
    /// neither budget 0 nor strategy none gets budget 0 added in front (its runs never query, so they are computed once
    /// per machine and trial and shared by every strategy); a run that lists one is left as it is, row for row.
    /// </summary>
    public static ExperimentSettings WithOfflineRun(ExperimentSettings settings, TextWriter? output = null)
    {
        if (settings.Budgets.Contains(0) || settings.Strategies.Contains(QueryStrategyKind.None))
            return settings;
        output?.WriteLine("note: budget 0 (the offline model, which table1.csv and the paired differences compare against) was added to --budgets");
        return settings with { Budgets = [0, .. settings.Budgets] };
    }

    /// <summary>The command as typed, quoted for a shell, for the reports that record how they were made.</summary>
    public static string CommandLine(ParseResult parse) => "asd " + string.Join(' ', parse.Tokens.Select(t => Quote(t.Value)));

    private static string Quote(string token) => token.Length > 0 && token.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:,=+@".Contains(c)) ? token : $"'{token.Replace("'", "'\\''")}'";
}
