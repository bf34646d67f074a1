using System.Globalization;
using AsdOrleans.Cli.Experiments;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Strategies;
using Spectre.Console;

namespace AsdOrleans.Cli.Commands;

/// <summary>Prints an experiment summary: the harmonic-mean table with 95% intervals, then AUC/pAUC per machine.</summary>
public static class SummaryTable
{
    public static void Print(IAnsiConsole console, IReadOnlyList<SummaryRow> summary, EmbeddingTable table, ExperimentSettings settings, BaselineRun? baseline = null)
    {
        foreach (var point in settings.Points)
            Print(console, summary.Where(r => r.Point == point).ToList(), table, settings, settings.Points.Count > 1 ? $" ({point.Label})" : "", baseline);
    }

    private static void Print(IAnsiConsole console, IReadOnlyList<SummaryRow> summary, EmbeddingTable table, ExperimentSettings settings, string suffix, BaselineRun? baseline)
    {
        var lookup = summary.ToDictionary(r => (r.Machine, r.Strategy, r.Budget, r.Metric));
        int machines = table.Machines.Count;
        console.WriteLine();
        var hmean = new Table().Title(Markup.Escape($"Harmonic mean over {machines} machines, mean [95% CI] over {settings.Trials} trials{suffix}")).Border(TableBorder.Simple);
        hmean.AddColumns("strategy", "budget", "AUC", "pAUC", "AUC (source)", "AUC (target)", "official score", "labelled");
        foreach (var strategy in settings.Strategies)
            foreach (var budget in settings.Budgets)
            {
                string Cell(string metric) => Interval(lookup[(ExperimentSummary.HarmonicMeanMachine, strategy, budget, metric)]);
                AddRow(hmean, strategy.ToName(), F(budget, "0.###"), Cell("auc"), Cell("pauc"), Cell("auc_source"), Cell("auc_target"),
                    Cell(ExperimentSummary.OfficialScore), Labelled(lookup[(ExperimentSummary.HarmonicMeanMachine, strategy, budget, "realised_budget")].Mean, budget));
            }
        if (baseline is not null)
        {
            string Cell(string metric) => Interval(baseline[ExperimentSummary.HarmonicMeanMachine, metric]);
            AddRow(hmean, Embedders.BaselineLabel, "0", Cell("auc"), Cell("pauc"), Cell("auc_source"), Cell("auc_target"), Cell(ExperimentSummary.OfficialScore), "0.000");
        }
        console.Write(hmean);
        var overspent = summary.Where(r => r.Metric == "realised_budget" && r.Machine != ExperimentSummary.HarmonicMeanMachine && ExperimentSummary.Overspends(r.Budget, r.Mean)).ToList();
        if (overspent.Count > 0)
            console.WriteLine($"overspent: {overspent.Count} machine × strategy × budget rows label more than b + {F(ExperimentSummary.OverspendTolerance, "0.00")} of their clips on average ("
                + string.Join(", ", overspent.GroupBy(r => (r.Strategy, r.Budget)).Select(g => $"{g.Key.Strategy.ToName()} at b = {F(g.Key.Budget, "0.###")}: up to {F(g.Max(r => r.Mean), "0.000")}")) + ")");

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

    private static string Labelled(double realised, double budget)
        => F(realised, "0.000") + (ExperimentSummary.Overspends(budget, realised) ? " overspent" : "");

    /// <summary>Cells as plain text: interval brackets must not be read as Spectre markup.</summary>
    private static void AddRow(Table table, params string[] cells) => table.AddRow(cells.Select(c => new Text(c)));

    private static string Interval(SummaryRow row)
        => double.IsNaN(row.Ci95Low) ? F(row.Mean, "0.000") : $"{F(row.Mean, "0.000")} [{F(row.Ci95Low, "0.000")}, {F(row.Ci95High, "0.000")}]";

    private static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}
