using System.CommandLine;
using System.Globalization;
using System.Text;
using AsdOrleans.Cli.Experiments;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Budget;
using AsdOrleans.Method.Io;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Strategies;
using Spectre.Console;

namespace AsdOrleans.Cli.Commands;

/// <summary>
/// `asd pool`: experiment runs on several plants, pooled. Each strategy and budget is paired with its run's offline
/// model trial by trial; the plants are then the unit: mean gain with a 95% interval over plants, the lowest and highest
/// plant, how many plants lose, realised label rates and where the labels went; and the offline model against the
/// training-free baseline machine type by machine type. Writes pooled.md, pooled.csv and the gain-against-budget figures;
/// reads the runs only.
/// </summary>
public static class PoolCommand
{
    public const string MarkdownFile = "pooled.md";
    public const string CsvFile = "pooled.csv";
    public const string AgainstCsvFile = "against.csv";
    public const string AlertsCsvFile = "pooled_alerts.csv";

    public static Command Create()
    {
        var runs = new Argument<string[]>("RUN") { Description = "`asd experiment` run folders (results.csv; baseline.csv where the run had one), one per plant", Arity = ArgumentArity.OneOrMore };
        var outDir = new Option<string>("--out") { Description = $"folder for {MarkdownFile}, {CsvFile} and figures/ (an existing non-empty folder needs --force)", Required = true };
        var force = new Option<bool>("--force") { Description = "write into a non-empty --out, replacing the files a pool writes" };
        var margin = new Option<double>("--baseline-margin") { Description = "the AUC lead over the training-free baseline counted per machine type", DefaultValueFactory = _ => ExperimentPool.DefaultBaselineMargin };
        var against = new Option<string[]>("--against") { Description = "run folders of another method on the same plants, in the same order: A − B per plant, mean [95% CI over plants]", AllowMultipleArgumentsPerToken = true, HelpName = "RUN" };
        var command = new Command("pool", "pool `asd experiment` runs over plants: paired gains over the offline model, mean [95% CI over plants], losing plants, realised rates, the baseline per machine type")
        {
            runs, outDir, force, margin, against,
        };
        command.SetAction(parse =>
        {
            var folders = parse.GetValue(runs)!;
            string folder = parse.GetValue(outDir)!;
            double lead = parse.GetValue(margin);
            InputChecks.InRange("--baseline-margin", lead, -1, 1);
            foreach (var run in folders)
                InputChecks.ExistingFolder("RUN", run);
            ExperimentCommand.CheckOutputFolder(folder, parse.GetValue(force));
            var otherFolders = parse.GetValue(against) ?? [];
            foreach (var run in otherFolders)
                InputChecks.ExistingFolder("--against", run);
            var loaded = folders.Select(f => ExperimentRunFolder.Load(f)).ToList();
            var report = ExperimentPool.Pool(loaded, lead);
            Comparison? comparison = null;
            if (otherFolders.Length > 0)
            {
                var otherLoaded = otherFolders.Select(f => ExperimentRunFolder.Load(f)).ToList();
                var onOtherData = MethodComparison.PairsOnOtherData(loaded, otherLoaded);
                var other = ExperimentPool.Pool(otherLoaded, lead);
                comparison = new Comparison(MethodComparison.Compare(report, other), MethodComparison.CompareAlerts(report, other), onOtherData);
            }
            string commandLine = ExperimentCommand.CommandLine(parse);

            Directory.CreateDirectory(folder);
            AtomicFile.WriteAllText(Path.Combine(folder, CsvFile), Csv(report));
            if (comparison is not null)
                AtomicFile.WriteAllText(Path.Combine(folder, AgainstCsvFile), AgainstCsv(comparison.Scores));
            if (report.Alerts is not null)
                AtomicFile.WriteAllText(Path.Combine(folder, AlertsCsvFile), AlertsCsv(report.Alerts, comparison?.Alerts));
            var figures = ExperimentFigures.WritePooled(folder, report);
            AtomicFile.WriteAllText(Path.Combine(folder, MarkdownFile), Markdown(report, loaded, commandLine, figures, comparison));
            Print(Terminal.For(parse.InvocationConfiguration.Output), Tables(report, comparison));
            parse.InvocationConfiguration.Output.WriteLine(PrintedInterval.Note);
            if (IntervalGaps(report, loaded) is { } gaps)
                parse.InvocationConfiguration.Output.WriteLine(gaps);
            if (comparison?.OtherData is { } otherData)
                parse.InvocationConfiguration.Output.WriteLine("warning: " + otherData);
            parse.InvocationConfiguration.Output.WriteLine($"wrote {Path.Combine(folder, MarkdownFile)}, {CsvFile}{(comparison is null ? "" : ", " + AgainstCsvFile)}{(report.Alerts is null ? "" : ", " + AlertsCsvFile)} and {figures.Count} figures in {ExperimentFigures.Folder}/");
            return 0;
        });
        return command;
    }

    private sealed record TextTable(string Title, string[] Header, List<string[]> Rows);

    /// <summary>These runs against the --against runs, plant by plant: the scores, and the alerts where both wrote alerts.csv.</summary>
    private sealed record Comparison(IReadOnlyList<MethodDifference> Scores, IReadOnlyList<AlertDifference> Alerts, IReadOnlyList<string> PairsOnOtherData)
    {
        /// <summary>What to warn of when pairs read other data; null when none does.</summary>
        public string? OtherData => PairsOnOtherData.Count == 0 ? null
            : $"--against pairs runs by position, and {PairsOnOtherData.Count} of the pairs read other data (the same plant under another path, "
                + $"or another plant): {string.Join("; ", PairsOnOtherData)}";
    }

    private static IEnumerable<TextTable> Tables(PoolReport report, Comparison? comparison)
    {
        bool manyPoints = report.Offline.Count > 1;
        var offline = new TextTable($"Offline model (b = 0), harmonic mean over machine types: mean [95% CI over runs]; lowest run",
            ["point", "runs", "AUC", "lowest AUC", "pAUC", "lowest pAUC", "AUC (source)", "AUC (target)", "lowest AUC (target)", "baseline AUC", "machine types: offline − baseline AUC"],
            []);
        foreach (var o in report.Offline)
        {
            string baseline = "—", types = "— (no baseline.csv)";
            if (o.Baseline is { } b)
            {
                baseline = Cell(b.BaselineAuc, "0.000");
                types = $"{b.TypesAtMargin} / {b.MachineTypes} ≥ {Signed(b.Margin, "0.00")}; smallest {Signed(b.SmallestLead, "0.000")} ({b.SmallestLeadAt})";
            }
            offline.Rows.Add([report.NameOf(o.Point), o.Runs.Count.ToString(CultureInfo.InvariantCulture), Cell(o.Auc, "0.000"), Lowest(o.LowestAuc.Auc, o.LowestAuc.Run),
                Cell(o.PartialAuc, "0.000"), Lowest(o.LowestPartialAuc.PartialAuc, o.LowestPartialAuc.Run), Cell(o.AucSource, "0.000"), Cell(o.AucTarget, "0.000"),
                Lowest(o.LowestAucTarget.AucTarget, o.LowestAucTarget.Run), baseline, types]);
        }
        yield return Trim(offline, manyPoints);

        var gains = new TextTable("With labels: gain over the offline model, paired per trial within a run; mean [95% CI over runs]",
            ["point", "strategy", "b", "runs", "realised (lowest–highest run)", "labels on target clips (lowest–highest run)", "labels given that are normal (lowest–highest run)",
                "labels the budget's floor forced (lowest–highest run)", "AUC − offline", "lowest … highest run", "pAUC − offline",
                "runs below offline, AUC / pAUC", "runs whose paired CI is above / below 0 (AUC)"],
            []);
        foreach (var g in report.Gains)
        {
            string realised = $"{F(g.LowestRealised, "0.000")}–{F(g.HighestRealised, "0.000")}" + (g.OverspentRuns > 0 ? $" ({g.OverspentRuns} overspent)" : "");
            gains.Rows.Add([report.NameOf(g.Point), g.Strategy.ToName(), F(g.Budget, "0.###"), g.Runs.Count.ToString(CultureInfo.InvariantCulture), realised,
                Share(g.TargetShare, g.TargetShareRange), Share(g.NormalShare, g.NormalShareRange), Share(g.ForcedShare, g.ForcedShareRange),
                Gain(g.AucGain, "+0.0000;−0.0000;0.0000"),
                $"{Signed(g.LowestAucGain.AucGain.Mean, "0.0000")} ({g.LowestAucGain.Run}) … {Signed(g.HighestAucGain.AucGain.Mean, "0.0000")} ({g.HighestAucGain.Run})",
                Gain(g.PartialAucGain, "+0.0000;−0.0000;0.0000"), $"{g.RunsBelowOfflineAuc} / {g.RunsBelowOfflinePartialAuc}", $"{g.RunsResolvedAbove} / {g.RunsResolvedBelow}"]);
        }
        yield return Trim(gains, manyPoints);

        if (report.Alerts is { } alerts)
        {
            var table = new TextTable($"Alerts at φ, offline model: each run the mean over its machine types; mean [95% CI over runs] ({alerts.Runs.Count} runs with {AlertRateAnalysis.FileName})",
                ["share", "mean [95% CI over runs]", "lowest run", "highest run", "lowest machine type", "highest machine type"], []);
            foreach (var (_, label, share) in AlertRates.Measures)
            {
                var runs = alerts.Runs.Where(r => double.IsFinite(r.Mean(share))).ToList();
                if (runs.Count == 0) continue;
                var (low, high) = (runs.MinBy(r => r.Mean(share))!, runs.MaxBy(r => r.Mean(share))!);
                var (machineLow, machineHigh) = alerts.MachineRange(share);
                table.Rows.Add([label, Cell(alerts.Of(share), "0.000"), Lowest(low.Mean(share), low.Run), Lowest(high.Mean(share), high.Run),
                    Lowest(machineLow.Value, machineLow.At), Lowest(machineHigh.Value, machineHigh.At)]);
            }
            yield return table;
        }

        if (comparison is null) yield break;
        var against = new TextTable("Against the --against runs, plant by plant (these runs − those): mean [95% CI over plants]",
            ["strategy", "b", "plants", "AUC difference", "pAUC difference", "plants where these runs are lower, AUC / pAUC"], []);
        foreach (var d in comparison.Scores)
            against.Rows.Add([d.Strategy is { } strategy ? strategy.ToName() : "offline model", F(d.Budget, "0.###"), d.Plants.Count.ToString(CultureInfo.InvariantCulture),
                Gain(d.Auc, "+0.0000;−0.0000;0.0000"), Gain(d.PartialAuc, "+0.0000;−0.0000;0.0000"), $"{d.PlantsWhereALosesAuc} / {d.PlantsWhereALosesPartialAuc}"]);
        yield return against;

        if (comparison.Alerts.Count == 0) yield break;
        var againstAlerts = new TextTable("Alerts at φ against the --against runs, plant by plant (each plant the mean over its machine types): these runs − those, mean [95% CI over plants]",
            ["share", "plants", "these runs", "those runs", "difference", "plants where these runs are lower"], []);
        foreach (var d in comparison.Alerts)
            againstAlerts.Rows.Add([d.Label, d.Plants.Count.ToString(CultureInfo.InvariantCulture), F(d.MeanA, "0.000"), F(d.MeanB, "0.000"),
                Gain(d.Difference, "+0.000;−0.000;0.000"), d.Plants.Count(p => p.A < p.B).ToString(CultureInfo.InvariantCulture)]);
        yield return againstAlerts;
    }

    /// <summary>One row per run, sweep point and strategy, one column per budget: a table as tall as the runs, not as wide as the sweep.</summary>
    private static TextTable PerRun(PoolReport report)
    {
        bool manyPoints = report.Offline.Count > 1;
        var budgets = report.Gains.Select(g => g.Budget).Distinct().Order().ToList();
        var header = new List<string> { "run", "point", "strategy", "offline AUC / pAUC" };
        header.AddRange(budgets.Select(b => $"b = {F(b, "0.###")}"));
        var table = new TextTable("Per run: AUC − offline [paired 95% CI over trials], realised rate", header.ToArray(), []);
        foreach (var run in report.Runs)
            foreach (var offline in report.Offline)
            {
                var runOffline = offline.Runs.FirstOrDefault(o => o.Run == run);
                string offlineCell = runOffline is null ? "—" : $"{F(runOffline.Auc, "0.000")} / {F(runOffline.PartialAuc, "0.000")}";
                foreach (var strategy in report.Gains.Where(g => g.Point == offline.Point).Select(g => g.Strategy).Distinct())
                {
                    var cells = new List<string> { run, report.NameOf(offline.Point), strategy.ToName(), offlineCell };
                    foreach (var budget in budgets)
                    {
                        var gain = report.Gains.FirstOrDefault(g => g.Point == offline.Point && g.Strategy == strategy && g.Budget == budget)?.Runs.FirstOrDefault(r => r.Run == run);
                        cells.Add(gain is null ? "—" : $"{Gain(gain.AucGain, "+0.000;−0.000;0.000")}, {F(gain.Realised, "0.000")}" + (gain.Overspends ? " overspent" : ""));
                    }
                    table.Rows.Add(cells.ToArray());
                }
            }
        return Trim(table, manyPoints, pointColumn: 1);
    }

    /// <summary>The point column says nothing when every run used one method setting.</summary>
    private static TextTable Trim(TextTable table, bool keepPoint, int pointColumn = 0)
        => keepPoint ? table : table with { Header = Without(table.Header, pointColumn), Rows = table.Rows.Select(r => Without(r, pointColumn)).ToList() };

    private static string[] Without(string[] cells, int column) => [.. cells[..column], .. cells[(column + 1)..]];

    private static string Markdown(PoolReport report, IReadOnlyList<ExperimentRunFolder> runs, string commandLine, IReadOnlyList<string> figures,
        Comparison? comparison)
    {
        var b = new StringBuilder("# Experiment runs pooled over plants\n\nCommand:\n\n```\n").Append(commandLine).Append("\n```\n\n");
        b.Append("Within a run, each strategy and budget is paired with the run's offline model trial by trial (same stream order), ")
            .Append("on harmonic means over machine types. Across runs the unit is the run (a plant): a mean with its Student-t 95% interval ")
            .Append("over runs says how the figure varies from plant to plant. A run is *below offline* when its mean paired gain is ")
            .Append($"negative; *overspent* when a machine type's realised rate, averaged over trials, exceeds b + {F(BudgetTolerance.Overspend, "0.00")}. ")
            .Append(PrintedInterval.Note.Replace("the CSVs", "pooled.csv and the other CSVs", StringComparison.Ordinal)).Append(' ')
            .Append(IntervalGaps(report, runs) is { } gaps ? gaps : "").Append("\n\n");
        b.Append("| run | folder | machine types | trials | result rows |\n|---|---|---|---|---|\n");
        foreach (var run in runs)
            b.Append($"| {run.Name} | {run.Folder} | {run.Results.Select(r => r.Machine).Distinct().Count()} | {run.Results.Select(r => r.Trial).Distinct().Count()} | {run.Results.Count} |\n");
        if (comparison is not null)
            b.Append("\nCompared plant by plant with the `--against` runs: ")
                .AppendJoin(", ", comparison.Scores[0].Plants.Select(p => $"{p.Run} with {p.Against}")).Append(".\n")
                .Append(comparison.OtherData is { } otherData ? $"\n**{otherData}**\n" : "");
        foreach (var table in Tables(report, comparison).Append(PerRun(report)))
        {
            b.Append("\n## ").Append(table.Title).Append("\n\n| ").AppendJoin(" | ", table.Header).Append(" |\n|")
                .Append(string.Concat(Enumerable.Repeat("---|", table.Header.Length))).Append('\n');
            foreach (var row in table.Rows)
                b.Append("| ").AppendJoin(" | ", row).Append(" |\n");
        }
        if (figures.Count > 0)
        {
            b.Append("\n## Figures: gain over the offline model against the budget (mean, 95% CI over runs)\n\n");
            foreach (var figure in figures)
                b.Append($"![{Path.GetFileNameWithoutExtension(figure)}]({figure.Replace('\\', '/')})\n");
        }
        return b.ToString();
    }

    /// <summary>Where an interval needs two values and has one: a run of one trial, or a pool of one run; null where none.</summary>
    private static string? IntervalGaps(PoolReport report, IReadOnlyList<ExperimentRunFolder> runs)
    {
        var oneTrial = runs.Where(r => r.Results.Select(x => x.Trial).Distinct().Count() == 1).Select(r => r.Name).ToList();
        var gaps = new List<string>();
        if (oneTrial.Count > 0)
            gaps.Add($"{string.Join(", ", oneTrial)} had one trial, which gives no interval over trials: its per-run cells show the mean alone and its rows of pooled.csv hold NaN in the ci95 columns.");
        if (report.Runs.Count == 1)
            gaps.Add("One run gives no interval over runs: the pooled cells show the mean alone and the pooled rows of pooled.csv and pooled_alerts.csv hold NaN in the ci95 columns.");
        return gaps.Count == 0 ? null : string.Join(' ', gaps);
    }

    private static string Csv(PoolReport report)
    {
        var b = new StringBuilder("run,strategy,budget,gamma,alpha,window,v,scoring,budget_start,offline_auc,offline_pauc,auc_gain,auc_gain_ci95_low,auc_gain_ci95_high,pauc_gain,pauc_gain_ci95_low,pauc_gain_ci95_high,realised_budget,labels,target_labels,normal_labels,forced_labels,random_labels,declined\n");
        void Row(string run, SweepPoint p, QueryStrategyKind strategy, double budget, RunOffline? offline, MeanInterval auc, MeanInterval pauc, double realised, long labels, long target, long normal, long forced, long random, long declined)
            => b.AppendJoin(',', run, strategy.ToName(), R(budget), R(p.Gamma), R(p.Alpha), p.Window, R(p.V), p.Scoring.ToName(), p.BudgetStart.ToName(),
                offline is null ? "" : R(offline.Auc), offline is null ? "" : R(offline.PartialAuc),
                R(auc.Mean), R(auc.Low), R(auc.High), R(pauc.Mean), R(pauc.Low), R(pauc.High), R(realised), labels, target, normal, forced, random, declined).Append('\n');
        foreach (var g in report.Gains)
        {
            var offline = report.Offline.First(o => o.Point == g.Point);
            foreach (var r in g.Runs)
                Row(r.Run, g.Point, g.Strategy, g.Budget, offline.Runs.FirstOrDefault(o => o.Run == r.Run), r.AucGain, r.PartialAucGain, r.Realised, r.Labels, r.TargetLabels, r.NormalLabels, r.ForcedLabels, r.RandomLabels, r.Declined);
            // The pooled row: its interval is over runs, not trials.
            Row("pooled", g.Point, g.Strategy, g.Budget, null, g.AucGain, g.PartialAucGain, g.Runs.Average(r => r.Realised), g.Labels,
                ExperimentPool.KnownSum(g.Runs, r => r.TargetLabels), g.Runs.Sum(r => r.NormalLabels), ExperimentPool.KnownSum(g.Runs, r => r.ForcedLabels),
                ExperimentPool.KnownSum(g.Runs, r => r.RandomLabels), g.Declined);
        }
        return b.ToString();
    }

    private static string AgainstCsv(IReadOnlyList<MethodDifference> comparison)
    {
        var b = new StringBuilder("run,against,strategy,budget,auc_difference,pauc_difference,ci95_low_auc,ci95_high_auc,ci95_low_pauc,ci95_high_pauc\n");
        foreach (var d in comparison)
        {
            string strategy = d.Strategy is { } s ? s.ToName() : "offline";
            foreach (var p in d.Plants)
                b.AppendJoin(',', p.Run, p.Against, strategy, R(d.Budget), R(p.Auc), R(p.PartialAuc), "", "", "", "").Append('\n');
            b.AppendJoin(',', "pooled", "pooled", strategy, R(d.Budget), R(d.Auc.Mean), R(d.PartialAuc.Mean), R(d.Auc.Low), R(d.Auc.High), R(d.PartialAuc.Low), R(d.PartialAuc.High)).Append('\n');
        }
        return b.ToString();
    }

    /// <summary>Each run's mean over its machine types per share, the pooled mean with its interval over runs, and, with
    /// --against, each plant's difference and the pooled difference.</summary>
    private static string AlertsCsv(PooledAlerts alerts, IReadOnlyList<AlertDifference>? differences)
    {
        var b = new StringBuilder("run,against,measure,value,ci95_low,ci95_high\n");
        foreach (var (name, _, share) in AlertRates.Measures)
        {
            foreach (var run in alerts.Runs)
                b.AppendJoin(',', run.Run, "", name, R(run.Mean(share)), "", "").Append('\n');
            var pooled = alerts.Of(share);
            b.AppendJoin(',', "pooled", "", name, R(pooled.Mean), R(pooled.Low), R(pooled.High)).Append('\n');
        }
        foreach (var d in differences ?? [])
        {
            foreach (var p in d.Plants)
                b.AppendJoin(',', p.Run, p.Against, d.Measure + "_difference", R(p.A - p.B), "", "").Append('\n');
            b.AppendJoin(',', "pooled", "pooled", d.Measure + "_difference", R(d.Difference.Mean), R(d.Difference.Low), R(d.Difference.High)).Append('\n');
        }
        return b.ToString();
    }

    private static void Print(IAnsiConsole console, IEnumerable<TextTable> tables)
    {
        foreach (var table in tables)
        {
            console.WriteLine();
            var t = new Table().Title(Markup.Escape(table.Title)).Border(TableBorder.Simple);
            t.AddColumns(table.Header.Select(h => new TableColumn(Markup.Escape(h))).ToArray());
            foreach (var row in table.Rows)
                t.AddRow(row.Select(c => new Text(c)));
            console.Write(t);
        }
    }

    /// <summary>A bounded value (AUC, pAUC, a share of clips): its printed interval clipped to [0, 1] (<see cref="PrintedInterval"/>).</summary>
    private static string Cell(MeanInterval value, string format) => Interval(value.Mean, PrintedInterval.Bounded(value.Low, value.High), format);

    /// <summary>A difference of two bounded values: its printed interval clipped to [−1, 1].</summary>
    private static string Gain(MeanInterval value, string format) => Interval(value.Mean, PrintedInterval.Difference(value.Low, value.High), format);

    private static string Interval(double mean, (double Low, double High) interval, string format)
        => double.IsNaN(interval.Low) ? F(mean, format) : $"{F(mean, format)} [{F(interval.Low, format)}, {F(interval.High, format)}]";

    private static string Lowest(double value, string run) => $"{F(value, "0.000")} ({run})";

    /// <summary>Labels over labels, pooled over runs, with the lowest and highest run's share.</summary>
    private static string Share(double? share, (double Low, double High)? range)
        => share is double s && range is var (low, high) ? $"{F(100 * s, "0.0")} % ({F(100 * low, "0")}–{F(100 * high, "0")})" : "—";

    private static string Signed(double value, string format) => value.ToString($"+{format};−{format};{format}", CultureInfo.InvariantCulture);

    private static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);

    private static string R(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
