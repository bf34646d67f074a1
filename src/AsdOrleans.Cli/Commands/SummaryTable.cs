using System.Globalization;
using AsdOrleans.Cli.Experiments;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Strategies;
using Spectre.Console;

namespace AsdOrleans.Cli.Commands;

/// <summary>Prints an experiment summary: the harmonic-mean table with 95% intervals, then AUC/pAUC per machine.</summary>
public static class SummaryTable
{
    public static void Print(IAnsiConsole console, IReadOnlyList<SummaryRow> summary, IReadOnlyList<TrialResult> results, EmbeddingTable table,
        ExperimentSettings settings, BaselineRun? baseline = null)
    {
        foreach (var point in settings.Points)
            Print(console, summary.Where(r => r.Point == point).ToList(), results.Where(r => r.Point == point).ToList(), table, settings,
                settings.Points.Count > 1 ? $" ({settings.NameOf(point)})" : "", baseline);
        console.WriteLine(settings.Trials == 1 ? PrintedInterval.OneTrialNote : PrintedInterval.Note);
    }

    private static void Print(IAnsiConsole console, IReadOnlyList<SummaryRow> summary, IReadOnlyList<TrialResult> results, EmbeddingTable table,
        ExperimentSettings settings, string suffix, BaselineRun? baseline)
    {
        var lookup = summary.ToDictionary(r => (r.Machine, r.Strategy, r.Budget, r.Metric));
        int machines = table.Machines.Count;
        console.WriteLine();
        string trials = settings.Trials == 1 ? "1 trial, no CI" : $"mean [95% CI] over {settings.Trials} trials";
        var hmean = new Table().Title(Markup.Escape($"Harmonic mean over {machines} machine type{(machines == 1 ? "" : "s")}, {trials}{suffix}")).Border(TableBorder.Simple);
        hmean.AddColumns("strategy", "budget", "AUC", "pAUC", "AUC (source)", "AUC (target)", "official score", "asked (mean rate)");
        foreach (var strategy in settings.Strategies)
            foreach (var budget in settings.Budgets)
            {
                string Cell(string metric) => Interval(lookup[(ExperimentSummary.HarmonicMeanMachine, strategy, budget, metric)]);
                var runs = results.Where(r => r.Strategy == strategy && r.Budget == budget).ToList();
                AddRow(hmean, strategy.ToName(), F(budget, "0.###"), Cell("auc"), Cell("pauc"), Cell("auc_source"), Cell("auc_target"),
                    Cell(ExperimentSummary.OfficialScore), Labelled(lookup[(ExperimentSummary.HarmonicMeanMachine, strategy, budget, "realised_budget")].Mean, runs));
            }
        if (baseline is not null)
        {
            string Cell(string metric) => Interval(baseline[ExperimentSummary.HarmonicMeanMachine, metric]);
            AddRow(hmean, Embedders.BaselineLabel, "0", Cell("auc"), Cell("pauc"), Cell("auc_source"), Cell("auc_target"), Cell(ExperimentSummary.OfficialScore), "0.000");
        }
        console.Write(hmean);
        console.WriteLine("asked: the realised label rate (requests per clip, a declined request counted as spent), arithmetic mean over machine types and trials. " + Overspending.Unit);
        console.WriteLine(Overspending.Sentence(results, markdown: false));

        var perMachine = new Table().Title(Markup.Escape($"Per machine: mean AUC / pAUC over trials{suffix}")).Border(TableBorder.Simple);
        perMachine.AddColumn("machine");
        perMachine.AddColumn("strategy");
        foreach (var budget in settings.Budgets)
            perMachine.AddColumn("b = " + F(budget, "0.###"));
        foreach (var machine in table.Machines)
            foreach (var strategy in settings.Strategies)
            {
                var cells = new List<string> { machine, strategy.ToName() };
                foreach (var budget in settings.Budgets)
                    cells.Add($"{F(lookup[(machine, strategy, budget, "auc")].Mean, "0.000")} / {F(lookup[(machine, strategy, budget, "pauc")].Mean, "0.000")}");
                AddRow(perMachine, cells.ToArray());
            }
        if (baseline is not null)
            foreach (var machine in table.Machines)
                AddRow(perMachine, [machine, Embedders.BaselineLabel, .. settings.Budgets.Select((b, i) => i == 0
                    ? $"{F(baseline[machine, "auc"].Mean, "0.000")} / {F(baseline[machine, "pauc"].Mean, "0.000")} (b = 0)" : "")]);
        console.Write(perMachine);
    }

    private static string Labelled(double meanRate, IReadOnlyList<TrialResult> runs)
        => F(meanRate, "0.000") + (Overspending.Count(runs) is > 0 and var n ? $", {n} of {runs.Count} runs overspent" : "");

    /// <summary>Cells as plain text: interval brackets must not be read as Spectre markup.</summary>
    private static void AddRow(Table table, params string[] cells) => table.AddRow(cells.Select(c => new Text(c)));

    private static string Interval(SummaryRow row)
    {
        var (low, high) = PrintedInterval.Bounded(row.Ci95Low, row.Ci95High);
        return double.IsNaN(low) ? F(row.Mean, "0.000") : $"{F(row.Mean, "0.000")} [{F(low, "0.000")}, {F(high, "0.000")}]";
    }

    private static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}
