using System.Globalization;
using System.Text;
using AsdOrleans.Method.Budget;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Io;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Metrics;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Cli.Experiments;

/// <summary>How a run came about, for report.md.</summary>
public sealed record RunDescription(string CommandLine, string Source, string? ModelVersion, EmbeddingCacheReport? Embedding,
    TimeSpan Loop, string Mode, int ComputedRuns, IReadOnlyList<string> Figures)
{
    /// <summary>The training-free baseline's offline run on the same clips, shown beside the model's (issue 11).</summary>
    public BaselineRun? Baseline { get; init; }
    /// <summary>What labelled anomalies could change per machine (<see cref="LabelHeadroomAnalysis"/>).</summary>
    public IReadOnlyList<LabelHeadroom> Headroom { get; init; } = [];
    /// <summary>Where the offline model's alerts fall, per machine type (<see cref="AlertRateAnalysis"/>).</summary>
    public IReadOnlyList<AlertRates> Alerts { get; init; } = [];
    /// <summary>Per machine, what N starts with from the source training clips (all of them, or k-means centres and why).</summary>
    public IReadOnlyList<SourceReferenceUse> SourceReferences { get; init; } = [];
}

/// <summary>
/// report.md (settings, exact command, the Table 1 analogue, harmonic-mean and per-machine tables, the sweeps and the
/// figures) and table1.csv (the offline model per machine type: AUC over source, target and mixed test clips, and pAUC).
/// </summary>
public static class ExperimentReport
{
    public const string HeadroomFile = "label_headroom.csv";

    private static readonly (string Metric, string Label)[] TableOneMetrics =
        [("auc_source", "AUC (source)"), ("auc_target", "AUC (target)"), ("auc", "AUC (mixed)"), ("pauc", "pAUC")];

    public static void Write(string runFolder, IReadOnlyList<TrialResult> results, IReadOnlyList<SummaryRow> summary, ExperimentSettings settings, RunDescription run)
    {
        var lookup = summary.ToDictionary(r => (r.Point, r.Machine, r.Strategy, r.Budget, r.Metric));
        var machines = summary.Select(r => r.Machine).Where(m => m != ExperimentSummary.HarmonicMeanMachine).Distinct().Order(StringComparer.Ordinal).ToList();
        var point0 = settings.Points[0];
        var offline = settings.OfflineKey;
        WriteTableOneCsv(Path.Combine(runFolder, "table1.csv"), machines, k => lookup[(point0, k.Machine, offline.Strategy, offline.Budget, k.Metric)]);

        var md = new StringBuilder();
        md.AppendLine("# Prequential active-learning experiment").AppendLine();
        md.AppendLine("Command:").AppendLine().AppendLine("```").AppendLine(run.CommandLine).AppendLine("```").AppendLine();
        md.AppendLine("| setting | value |").AppendLine("|---|---|");
        md.AppendLine($"| data | {run.Source} |");
        if (run.ModelVersion is not null) md.AppendLine($"| encoder model | {run.ModelVersion} |");
        md.AppendLine($"| machine types | {machines.Count}: {string.Join(", ", machines)} |");
        md.AppendLine($"| strategies | {string.Join(", ", settings.Strategies.Select(s => s.ToName()))} |");
        md.AppendLine($"| budgets b | {string.Join(", ", settings.Budgets.Select(F))} (0 = the offline model) |");
        md.AppendLine($"| trials | {settings.Trials} (seed {settings.Seed}) |");
        md.AppendLine($"| γ | {string.Join(", ", settings.GammaValues.Select(F))} |");
        md.AppendLine($"| α | {string.Join(", ", settings.AlphaValues.Select(F))} |");
        md.AppendLine($"| w | {string.Join(", ", settings.WindowValues)} |");
        md.AppendLine($"| v | {string.Join(", ", settings.RandomShareValues.Select(F))} |");
        md.AppendLine($"| scoring | {string.Join(", ", settings.ScoringValues.Select(v => v.ToName()))} |");
        md.AppendLine($"| budget start | {string.Join(", ", settings.BudgetStartValues.Select(v => v.ToName()))} |");
        md.AppendLine(settings.Labeller.UnsureRate == 0
            ? "| labeller | truthful on every clip asked about |"
            : $"| labeller | cannot tell {settings.Labeller.UnsureRate.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)} of the clips asked about (the same clips for every strategy and budget), and answers those: {settings.Labeller.Unsure.ToName()} |");
        if (run.SourceReferences.Count > 0)
            md.AppendLine($"| source references in N | {string.Join("; ", run.SourceReferences.Select(r => r.Describe()))}"
                + (run.SourceReferences.Any(r => !r.KeepsEveryClip) ? "; k-means is seeded per trial, so the offline model differs between trials" : "") + " |");
        md.AppendLine($"| decision quantile | {F(settings.Method.DecisionQuantile)} |");
        md.AppendLine($"| state caps N, A, M; set precision | {Cap(settings.Method.ReferenceCap)}, {Cap(settings.Method.AnomalyCap)}, {Cap(settings.Method.ScoreCap)}; {settings.Method.EmbeddingPrecision.ToName()} |");
        md.AppendLine($"| decision thresholds φ | {settings.Method.DecisionThresholds.ToName()} |");
        md.AppendLine($"| runs | {run.Mode}; {run.ComputedRuns} streams computed (offline streams are shared by every strategy, budget 0 and sweep point) |");
        if (run.Embedding is { } e)
            md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| embedding | {e.Clips} clips, {e.FromCache} from the cache, {e.Embedded} embedded, {e.Elapsed.TotalSeconds:F1} s |"));
        md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| prequential loop | {run.Loop.TotalSeconds:F1} s |")).AppendLine();
        md.AppendLine("Every value is the mean over trials with its Student-t 95% confidence interval in brackets. Harmonic means are taken")
          .AppendLine("across machine types within a trial (as the DCASE evaluator does), then averaged over trials.")
          .AppendLine(settings.Trials == 1 ? PrintedInterval.OneTrialNote : PrintedInterval.Note).AppendLine();

        md.AppendLine("## Table 1 analogue: the offline model").AppendLine();
        md.AppendLine("| machine type | " + string.Join(" | ", TableOneMetrics.Select(m => m.Label)) + " |");
        md.AppendLine("|---|" + string.Concat(TableOneMetrics.Select(_ => "---|")));
        foreach (var machine in machines.Append(ExperimentSummary.HarmonicMeanMachine))
            md.AppendLine($"| {(machine == ExperimentSummary.HarmonicMeanMachine ? "harmonic mean" : machine)} | "
                + string.Join(" | ", TableOneMetrics.Select(m => Interval(lookup[(point0, machine, offline.Strategy, offline.Budget, m.Metric)]))) + " |");
        if (run.Baseline is { } baseline)
            md.AppendLine($"| {Embedders.BaselineLabel}, harmonic mean | "
                + string.Join(" | ", TableOneMetrics.Select(m => Interval(baseline[ExperimentSummary.HarmonicMeanMachine, m.Metric]))) + " |");
        md.AppendLine().AppendLine(run.Baseline is null
            ? $"(also in table1.csv; the offline model does not depend on γ, α, w, v or the budget start; scoring {point0.Scoring.ToName()})"
            : $"(the model's rows also in table1.csv, the baseline's in baseline.csv; the offline model does not depend on γ, α, w, v or the budget start; scoring {point0.Scoring.ToName()})").AppendLine();
        if (run.Baseline is { } b0)
        {
            md.AppendLine($"### {Embedders.BaselineLabel}").AppendLine();
            md.AppendLine("The same clips and trials, embedded without training: per clip the mean and standard deviation over time")
              .AppendLine($"of a 128-band log-mel spectrogram (1024-point FFT, hop 512), standardised per machine on its training clips ({b0.Version}).")
              .AppendLine("Score: 1 − max cosine to the machine's training clips, whatever the model's method (Eq. 1 against every training clip;")
              .AppendLine("`--embedder baseline --method paper --clusters N`, N ≥ the source clips). Offline (b = 0). Also in baseline.csv.").AppendLine();
            md.AppendLine("| machine type | " + string.Join(" | ", TableOneMetrics.Select(m => m.Label)) + " |");
            md.AppendLine("|---|" + string.Concat(TableOneMetrics.Select(_ => "---|")));
            foreach (var machine in machines.Append(ExperimentSummary.HarmonicMeanMachine))
                md.AppendLine($"| {(machine == ExperimentSummary.HarmonicMeanMachine ? "harmonic mean" : machine)} | "
                    + string.Join(" | ", TableOneMetrics.Select(m => Interval(b0[machine, m.Metric]))) + " |");
            md.AppendLine();
        }

        foreach (var point in settings.Points)
        {
            string suffix = settings.Points.Count > 1 ? $" — {settings.NameOf(point)}" : "";
            md.AppendLine($"## Harmonic mean over machine types{suffix}").AppendLine();
            md.AppendLine("| strategy | b | AUC | pAUC | AUC (source) | AUC (target) | official score | asked (mean rate) |").AppendLine("|---|---|---|---|---|---|---|---|");
            foreach (var strategy in settings.Strategies)
                foreach (var budget in settings.Budgets)
                {
                    string Cell(string metric) => Interval(lookup[(point, ExperimentSummary.HarmonicMeanMachine, strategy, budget, metric)]);
                    var runs = results.Where(r => r.Point == point && r.Strategy == strategy && r.Budget == budget).ToList();
                    md.AppendLine($"| {strategy.ToName()} | {F(budget)} | {Cell("auc")} | {Cell("pauc")} | {Cell("auc_source")} | {Cell("auc_target")} | "
                        + $"{Cell(ExperimentSummary.OfficialScore)} | {M(lookup[(point, ExperimentSummary.HarmonicMeanMachine, strategy, budget, "realised_budget")].Mean)}"
                        + $"{(Overspending.Count(runs) is > 0 and var n ? $" **{n} of {runs.Count} runs overspent**" : "")} |");
                }
            if (run.Baseline is { } b1)
            {
                string Cell(string metric) => Interval(b1[ExperimentSummary.HarmonicMeanMachine, metric]);
                md.AppendLine($"| {Embedders.BaselineLabel} | 0 | {Cell("auc")} | {Cell("pauc")} | {Cell("auc_source")} | {Cell("auc_target")} | {Cell(ExperimentSummary.OfficialScore)} | 0.000 |");
            }
            md.AppendLine();
            md.AppendLine("*asked* is the realised label rate: requests per clip, a request the labeller declined counted as spent, averaged arithmetically over machine types and trials (the harmonic mean is for the "
                + "detection metrics; summary.csv's `hmean` row of `realised_budget` holds this arithmetic mean and says so in `across_machines`). "
                + Overspending.Unit).AppendLine();
            md.AppendLine(Overspending.Sentence(results.Where(r => r.Point == point).ToList(), markdown: true));
            md.AppendLine();
            var labelled = results.Where(r => r.Point == point && r.Queries > 0).GroupBy(r => (r.Strategy, r.Budget)).ToList();
            if (labelled.Count > 0)
            {
                // Where the budget went: a label's effect depends on its class and domain (docs/results.md, "where each strategy spends its labels").
                md.AppendLine("Where the labels went, over all machine types and trials: " + string.Join("; ", labelled.Select(g =>
                {
                    long queries = g.Sum(r => r.Queries), declined = g.Sum(r => r.Declined), given = queries - declined;
                    // Labels are counted as given (a guess as answered); declined requests are spent budget that taught nothing.
                    string labels = declined == 0
                        ? $"{given} labels, {Percent(g.Sum(r => r.NormalLabels), given)} normal, {Percent(g.Sum(r => r.TargetLabels), queries)} on target-domain clips"
                        : $"{queries} requests, {given} labels given ({(given == 0 ? "none" : Percent(g.Sum(r => r.NormalLabels), given) + " normal")}) and {declined} declined, "
                          + $"{Percent(g.Sum(r => r.TargetLabels), queries)} of the requests on target-domain clips";
                    return $"{g.Key.Strategy.ToName()} at b = {F(g.Key.Budget)}: {labels}"
                        + (g.Key.Strategy == QueryStrategyKind.Hybrid ? $", {g.Sum(r => r.RandomLabels)} by its random branch" : "")
                        + (point.BudgetStart == BudgetManagerKind.Paced ? $", {g.Sum(r => r.ForcedLabels)} forced by the budget's floor" : "");
                })) + ".");
                md.AppendLine();
            }
            md.AppendLine($"## Per machine type: AUC / pAUC{suffix}").AppendLine();
            md.AppendLine("| machine type | strategy | " + string.Join(" | ", settings.Budgets.Select(b => "b = " + F(b))) + " |");
            md.AppendLine("|---|---|" + string.Concat(settings.Budgets.Select(_ => "---|")));
            foreach (var machine in machines)
                foreach (var strategy in settings.Strategies)
                    md.AppendLine($"| {machine} | {strategy.ToName()} | " + string.Join(" | ", settings.Budgets.Select(b =>
                        $"{M(lookup[(point, machine, strategy, b, "auc")].Mean)} / {M(lookup[(point, machine, strategy, b, "pauc")].Mean)}")) + " |");
            md.AppendLine();
            AppendPairedDifferences(md, results, settings, point, suffix);
            // A figure's name ends in its point's name (one point's name can be the start of another's: v0.1 and v0.15).
            var figures = run.Figures.Where(f => settings.Points.Count == 1 || f.EndsWith("_" + settings.NameOf(point) + ".png", StringComparison.Ordinal)).ToList();
            if (figures.Count > 0)
            {
                md.AppendLine($"## Figures{suffix}").AppendLine();
                foreach (var figure in figures)
                    md.AppendLine($"![{Path.GetFileNameWithoutExtension(figure)}]({figure.Replace('\\', '/')})");
                md.AppendLine();
            }
        }

        if (run.Alerts.Count > 0)
            AppendAlerts(md, run.Alerts, settings);
        if (run.Headroom.Count > 0)
            AppendHeadroom(md, run.Headroom);

        foreach (var axis in settings.SweptAxes)
        {
            md.AppendLine($"## Sweep over {axis}").AppendLine();
            md.AppendLine($"Harmonic-mean AUC / pAUC; the other parameters at each listed value.").AppendLine();
            md.AppendLine($"| {axis} | other parameters | strategy | " + string.Join(" | ", settings.Budgets.Select(b => "b = " + F(b))) + " |");
            md.AppendLine("|---|---|---|" + string.Concat(settings.Budgets.Select(_ => "---|")));
            foreach (var point in settings.Points.OrderBy(p => AxisValue(p, axis)))
                foreach (var strategy in settings.Strategies)
                    md.AppendLine($"| {AxisText(point, axis)} | {settings.NameOf(point)} | {strategy.ToName()} | " + string.Join(" | ", settings.Budgets.Select(b =>
                        $"{Interval(lookup[(point, ExperimentSummary.HarmonicMeanMachine, strategy, b, "auc")])} / {Interval(lookup[(point, ExperimentSummary.HarmonicMeanMachine, strategy, b, "pauc")])}")) + " |");
            md.AppendLine();
        }

        md.AppendLine("## Files").AppendLine();
        md.AppendLine("- `results.csv`: one row per machine type × strategy × budget × sweep point × trial; `target_labels` counts the labels asked on target-domain clips; `normal_labels` and `anomalous_labels` count the labels given (as answered), `declined` the requests closed without one.");
        md.AppendLine("- `summary.csv`: mean and 95% interval (as computed, not clipped) per machine type (and `hmean`) × strategy × budget × sweep point × metric; "
            + "`across_machines` says how an `hmean` row averages the machine types: `harmonic` for AUC, pAUC and the official score, `arithmetic` for `realised_budget`.");
        md.AppendLine("- `table1.csv`: the offline model (Table 1 analogue).");
        if (run.Baseline is not null)
            md.AppendLine($"- `{BaselineRun.FileName}`: the training-free baseline's offline run, in table1.csv's columns plus the official score.");
        md.AppendLine($"- `{EvaluatorFiles.Folder}/`: per trial the official evaluator's `anomaly_score_*` and `decision_result_*` files and, in "
            + $"`{EvaluatorFiles.Folder}/{EvaluatorFiles.GroundTruthFolder}/`, the ground truth in its layout. Score one trial with");
        md.AppendLine($"  `asd metrics --dcase {EvaluatorFiles.Folder}/…/trial_00 --ground-truth {EvaluatorFiles.Folder}/{EvaluatorFiles.GroundTruthFolder}`.");
        md.AppendLine($"- `{ExperimentFigures.Folder}/`: AUC and pAUC against budget (the paper's Figures 3 and 4).");
        if (run.Headroom.Count > 0)
            md.AppendLine($"- `{HeadroomFile}`: the label headroom table.");
        if (run.Alerts.Count > 0)
            md.AppendLine($"- `{AlertRateAnalysis.FileName}`: the alerts table, which `asd pool` pools over plants.");
        AtomicFile.WriteAllText(Path.Combine(runFolder, "report.md"), md.ToString());
    }

    private static void AppendAlerts(StringBuilder md, IReadOnlyList<AlertRates> alerts, ExperimentSettings settings)
    {
        md.AppendLine("## Alerts at φ").AppendLine();
        var scoring = settings.Points[0].Scoring; // the alerts are the first sweep point's (AlertRateAnalysis.Offline)
        md.AppendLine((settings.Points.Count > 1 ? $"At the first sweep point ({settings.NameOf(settings.Points[0])}), the" : "The")
            + $" offline model's alerts (score above φ, the {F(settings.Method.DecisionQuantile)} quantile of a Gamma fit to the enrollment scores; "
            + (settings.Method.DecisionThresholds != DecisionThresholdKind.PerDomain ? "one φ for both domains (`--decision-thresholds single`)"
                : scoring == AsdOrleans.Method.Scoring.ScoringKind.Domain ? "one φ per domain, the clip's nearest reference's"
                : "one φ for both domains: only the `domain` scoring keeps one per domain")
            + "), mean over trials: the share of normal clips that raised one")
          .AppendLine($"(false alerts; {F(1 - settings.Method.DecisionQuantile)} is what φ intends), of anomalous clips that did (recall), and the official F1 at the test set's share of anomalies.").AppendLine();
        md.AppendLine("| machine type | false alerts, source | false alerts, target | recall, source | recall, target | F1, source | F1, target |")
          .AppendLine("|---|---|---|---|---|---|---|");
        // The columns are AlertRates.Measures, in the order alerts.csv and `asd pool` use.
        foreach (var a in alerts)
            md.AppendLine($"| {a.Machine} | {string.Join(" | ", AlertRates.Measures.Select(m => Share(m.Value(a))))} |");
        if (alerts.Count > 1)
            md.AppendLine($"| mean | {string.Join(" | ", AlertRates.Measures.Select(m => Share(alerts.Average(m.Value))))} |");
        md.AppendLine();
        // Said where it happens, not left for a reader to notice in a column: φ then flags nearly every clip.
        double intended = 1 - settings.Method.DecisionQuantile;
        double falseAlerts = alerts.Average(a => (a.FalseAlertsSource + a.FalseAlertsTarget) / 2);
        if (AlertNote(settings) is { } paperNote)
            md.AppendLine($"**{char.ToUpperInvariant(paperNote[0])}{paperNote[1..]}** Here {Share(falseAlerts)} of the normal clips raised an alert, against the {F(intended)} φ intends; "
                + "AUC and pAUC do not depend on φ; alerts, and queries that compare a score with h, do.").AppendLine();
        else if (falseAlerts > Math.Max(3 * intended, intended + 0.2))
            md.AppendLine($"**φ sits below most normal clips here**: {Share(falseAlerts)} of them raised an alert, against the {F(intended)} φ intends. "
                + "φ (and h) come from the enrollment clips' scores, and "
                + (scoring == AsdOrleans.Method.Scoring.ScoringKind.Domain
                    ? "these scores sit lower than new clips' do."
                    : $"under the `{scoring.ToName()}` scoring one φ serves both domains: target-domain normals, with fewer references in N, score higher "
                      + $"than source ones (false alerts {Share(alerts.Average(a => a.FalseAlertsSource))} source, {Share(alerts.Average(a => a.FalseAlertsTarget))} target). "
                      + "The `domain` scoring scales each domain's distances and keeps one φ per domain.")
                + " AUC and pAUC do not depend on φ; alerts, and queries that compare a score with h, do.").AppendLine();
    }

    /// <summary>
    /// Why a `paper`-scored run alerts on nearly every clip, for report.md's alerts and the console; null under another
    /// scoring. The method is the paper's and is kept (docs/design.md §1); the note only says where φ comes from.
    /// </summary>
    public static string? AlertNote(ExperimentSettings settings)
        => settings.Points[0].Scoring != AsdOrleans.Method.Scoring.ScoringKind.Paper ? null
            : "under the `paper` scoring, M, h and φ come from the enrollment normals' in-sample scores, as the paper defines M (docs/design.md §1): "
              + "each clip is scored against an N that holds it or a k-means centre fitted on it, so φ sits below most test scores and many clips raise an "
              + "alert (on whitened `spectral` features or with k-means centres in N, nearly every clip); the default method's φ comes from held-out scores.";

    private static void AppendHeadroom(StringBuilder md, IReadOnlyList<LabelHeadroom> headroom)
    {
        md.AppendLine("## Label headroom").AppendLine();
        md.AppendLine("What labelled anomalies could change, from the whole stream's ground truth and the offline model (first sweep point, trial 0).")
          .AppendLine("An anomaly is *within reach* when another anomaly of the stream is nearer to it than its nearest normal reference, so")
          .AppendLine("that one, labelled, could raise it. *Outscores* is the mean share of normal test clips an anomaly already scores above")
          .AppendLine("offline. Within-reach anomalies that already outscore nearly every normal leave labels little to gain; out-of-reach")
          .AppendLine("ones can only be helped by labelled normals or a better embedding.").AppendLine();
        md.AppendLine("| machine type | anomalies | within reach | within reach: outscores | out of reach: outscores |").AppendLine("|---|---|---|---|---|");
        foreach (var h in headroom)
            md.AppendLine($"| {h.Machine} | {h.Anomalies} | {h.WithinReach} ({M((double)h.WithinReach / h.Anomalies)}) | {Share(h.WithinReachOutscore)} | {Share(h.OutOfReachOutscore)} |");
        md.AppendLine();
    }

    public static void WriteHeadroomCsv(string path, IReadOnlyList<LabelHeadroom> headroom)
    {
        var csv = new StringBuilder("machine,anomalies,within_reach,within_reach_outscore,out_of_reach_outscore\n");
        foreach (var h in headroom)
            csv.Append(CultureInfo.InvariantCulture, $"{h.Machine},{h.Anomalies},{h.WithinReach},{Csv(h.WithinReachOutscore)},{Csv(h.OutOfReachOutscore)}\n");
        AtomicFile.WriteAllText(path, csv.ToString());
    }

    private static string Share(double value) => double.IsNaN(value) ? "—" : M(value);
    private static string Csv(double value) => double.IsNaN(value) ? "" : R(value);

    /// <summary>
    /// Differences within a trial (same stream order and seeds), harmonic mean across machine types per trial, then
    /// mean and 95% interval over trials: each strategy's AUC and pAUC against the offline model, and hybrid's pAUC
    /// against every other strategy.
    /// </summary>
    private static void AppendPairedDifferences(StringBuilder md, IReadOnlyList<TrialResult> results, ExperimentSettings settings, SweepPoint point, string suffix)
    {
        var offline = settings.OfflineKey;
        var byRun = results.Where(r => r.Point == point).GroupBy(r => (r.Strategy, r.Budget, r.Trial)).ToDictionary(g => g.Key, g => g.ToList());
        double H(QueryStrategyKind strategy, double budget, int trial, Func<TrialResult, double> metric)
            => DetectionMetrics.HarmonicMean(byRun[(strategy, budget, trial)].Select(metric).ToArray());
        string Difference(Func<int, double> perTrial)
        {
            var (mean, low, high) = ExperimentSummary.MeanWithConfidence(Enumerable.Range(0, settings.Trials).Select(perTrial).ToList());
            (low, high) = PrintedInterval.Difference(low, high);
            return double.IsNaN(low) ? Signed(mean) : $"{Signed(mean)} [{Signed(low)}, {Signed(high)}]";
        }
        var strategies = settings.Strategies.Where(s => s != QueryStrategyKind.None).ToList();
        var budgets = settings.Budgets.Where(b => b > 0).ToList();
        if (strategies.Count == 0 || budgets.Count == 0)
            return;
        var columns = new List<(string Header, Func<double, int, double> Value)>();
        foreach (var strategy in strategies)
            columns.Add(($"AUC {strategy.ToName()} − offline", (b, t) => H(strategy, b, t, r => r.Auc) - H(offline.Strategy, offline.Budget, t, r => r.Auc)));
        foreach (var strategy in strategies)
            columns.Add(($"pAUC {strategy.ToName()} − offline", (b, t) => H(strategy, b, t, r => r.PartialAuc) - H(offline.Strategy, offline.Budget, t, r => r.PartialAuc)));
        if (strategies.Contains(QueryStrategyKind.Hybrid))
            foreach (var other in strategies.Where(s => s != QueryStrategyKind.Hybrid))
                columns.Add(($"pAUC hybrid − {other.ToName()}", (b, t) => H(QueryStrategyKind.Hybrid, b, t, r => r.PartialAuc) - H(other, b, t, r => r.PartialAuc)));
        md.AppendLine($"## Paired differences{suffix}").AppendLine();
        md.AppendLine("Per trial (same stream order and seeds for every strategy), harmonic mean across machine types, then the difference;")
          .AppendLine("mean [95% CI] over trials. An interval that excludes 0 is a difference these trials resolve.").AppendLine();
        md.AppendLine("| b | " + string.Join(" | ", columns.Select(c => c.Header)) + " |");
        md.AppendLine("|---|" + string.Concat(columns.Select(_ => "---|")));
        foreach (var budget in budgets)
            md.AppendLine($"| {F(budget)} | " + string.Join(" | ", columns.Select(c => Difference(t => c.Value(budget, t)))) + " |");
        md.AppendLine();
    }

    private static string Signed(double value) => value.ToString("+0.000;−0.000;0.000", CultureInfo.InvariantCulture);

    private static void WriteTableOneCsv(string path, IReadOnlyList<string> machines, Func<(string Machine, string Metric), SummaryRow> row)
    {
        var b = new StringBuilder(ExperimentRunFolder.MachineMetricHeader).Append('\n');
        foreach (var machine in machines.Append(ExperimentSummary.HarmonicMeanMachine))
            foreach (var (metric, _) in TableOneMetrics)
            {
                var r = row((machine, metric));
                b.AppendJoin(',', machine, metric, r.Trials, R(r.Mean), R(r.Ci95Low), R(r.Ci95High)).Append('\n');
            }
        AtomicFile.WriteAllText(path, b.ToString());
    }

    private static double AxisValue(SweepPoint point, string axis) => axis switch
    {
        "gamma" => point.Gamma,
        "alpha" => point.Alpha,
        "window" => point.Window,
        "scoring" => (double)point.Scoring,
        "budget-start" => (double)point.BudgetStart,
        _ => point.V,
    };

    private static string AxisText(SweepPoint point, string axis) => axis switch
    {
        "scoring" => point.Scoring.ToName(),
        "budget-start" => point.BudgetStart.ToName(),
        _ => F(AxisValue(point, axis)),
    };

    private static string Interval(SummaryRow row)
    {
        var (low, high) = PrintedInterval.Bounded(row.Ci95Low, row.Ci95High);
        return double.IsNaN(low) ? row.Mean.ToString("0.000", CultureInfo.InvariantCulture)
            : string.Create(CultureInfo.InvariantCulture, $"{row.Mean:0.000} [{low:0.000}, {high:0.000}]");
    }

    private static string Cap(int cap) => cap == 0 ? "unbounded" : cap.ToString(CultureInfo.InvariantCulture);

    private static string F(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
    private static string M(double value) => value.ToString("0.000", CultureInfo.InvariantCulture);
    private static string Percent(long part, long whole) => (100.0 * part / whole).ToString("0", CultureInfo.InvariantCulture) + " %";
    private static string R(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
