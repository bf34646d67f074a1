using System.CommandLine;
using AsdOrleans.Core.Experiments;
using AsdOrleans.Core.Machines;
using AsdOrleans.Core.Strategies;

namespace AsdOrleans.Cli.Commands;

/// <summary>`asd experiment`: the prequential protocol over an embeddings CSV, with results.csv and summary.csv.</summary>
public static class ExperimentCommand
{
    public const string DefaultStrategies = "none,random,variable-uncertainty,hybrid,qbc";
    public const string DefaultBudgets = "0,0.05,0.1,0.2";

    /// <summary>The method and protocol options shared by `experiment` and `demo`.</summary>
    public sealed class ProtocolOptions
    {
        public Option<string> Strategies { get; } = new("--strategies") { Description = $"comma-separated strategies: {string.Join(", ", QueryStrategyNames.All)}", DefaultValueFactory = _ => DefaultStrategies };
        public Option<string> Budgets { get; } = new("--budgets") { Description = "comma-separated label budgets b in [0, 1]", DefaultValueFactory = _ => DefaultBudgets };
        public Option<int> Trials { get; } = new("--trials") { Description = "trials (stream shuffles) per machine, strategy and budget", DefaultValueFactory = _ => 10 };
        public Option<ulong> Seed { get; } = new("--seed") { Description = "seed from which every trial's seeds derive", DefaultValueFactory = _ => 0UL };
        public Option<double> Gamma { get; } = new("--gamma") { Description = "γ of Eq. 3, weight of the similarity to labelled anomalies", DefaultValueFactory = _ => 0.5 };
        public Option<double> Alpha { get; } = new("--alpha") { Description = "α, the variable-uncertainty threshold step", DefaultValueFactory = _ => 0.01 };
        public Option<int> Window { get; } = new("--window") { Description = "w, the window of the spent-budget estimate", DefaultValueFactory = _ => 200 };
        public Option<double> V { get; } = new("--v") { Description = "v, the hybrid strategy's random share", DefaultValueFactory = _ => 0.1 };
        public Option<int> Threads { get; } = new("--threads") { Description = "parallel runs (default: all cores)", DefaultValueFactory = _ => Environment.ProcessorCount };

        public void AddTo(Command command)
        {
            foreach (var option in new Option[] { Strategies, Budgets, Trials, Seed, Gamma, Alpha, Window, V, Threads })
                command.Options.Add(option);
        }

        public ExperimentSettings Read(ParseResult parse)
        {
            var settings = new ExperimentSettings
            {
                Strategies = OptionParsing.Strategies(parse.GetValue(Strategies)!),
                Budgets = OptionParsing.Doubles("--budgets", parse.GetValue(Budgets)!),
                Trials = parse.GetValue(Trials),
                Seed = parse.GetValue(Seed),
                MaxDegreeOfParallelism = parse.GetValue(Threads),
                Method = new MachineConfig
                {
                    Gamma = parse.GetValue(Gamma),
                    Alpha = parse.GetValue(Alpha),
                    BudgetWindow = parse.GetValue(Window),
                    RandomShare = parse.GetValue(V),
                },
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
        var embeddings = new Option<string>("--embeddings") { Description = "embeddings CSV: machine,split,domain,label,file,e0,e1,…", Required = true };
        var outDir = new Option<string>("--out") { Description = "run folder for results.csv and summary.csv", Required = true };
        var protocol = new ProtocolOptions();
        var command = new Command("experiment", "prequential active-learning experiment (the paper's Section 4.4) on an embeddings CSV");
        command.Options.Add(embeddings);
        command.Options.Add(outDir);
        protocol.AddTo(command);
        command.SetAction(parse =>
        {
            var settings = protocol.Read(parse);
            string output = parse.GetValue(outDir)!;
            CheckOutputFolder(output);
            var table = EmbeddingTable.Load(parse.GetValue(embeddings)!);
            Run(table, settings, output, parse.InvocationConfiguration.Output);
            return 0;
        });
        return command;
    }

    /// <summary>Runs, writes results.csv and summary.csv (each atomically, after the whole run succeeded) and prints the summary.</summary>
    public static IReadOnlyList<SummaryRow> Run(EmbeddingTable table, ExperimentSettings settings, string outputFolder, TextWriter output)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var results = Terminal.WithProgress(output, "prequential runs",
            progress => PrequentialExperiment.Run(table, settings, progress));
        var summary = ExperimentSummary.Summarise(results);
        Directory.CreateDirectory(outputFolder);
        ExperimentSummary.WriteResults(Path.Combine(outputFolder, "results.csv"), results);
        ExperimentSummary.WriteSummary(Path.Combine(outputFolder, "summary.csv"), summary);
        SummaryTable.Print(Terminal.For(output), summary, table, settings);
        output.WriteLine($"{results.Count} runs in {started.Elapsed.TotalSeconds:F1} s; results.csv and summary.csv in {Path.GetFullPath(outputFolder)}");
        return summary;
    }

    /// <summary>Refuses an output folder that cannot be created, before any work is done.</summary>
    public static void CheckOutputFolder(string path) => OutputPaths.CheckFolder("--out", path);
}
