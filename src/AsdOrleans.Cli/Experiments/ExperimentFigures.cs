using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Strategies;
using ScottPlot;

namespace AsdOrleans.Cli.Experiments;

/// <summary>
/// The paper's Figures 3 and 4: AUC and pAUC against the label budget, one line per strategy with its 95%
/// confidence interval as error bars; one PNG per machine type and one for the harmonic mean, per sweep point.
/// Budget 0 is the offline model, the common start of every line.
/// </summary>
public static class ExperimentFigures
{
    public const string Folder = "figures";
    public static readonly (string Metric, string Label)[] Metrics = [("auc", "AUC"), ("pauc", "pAUC")];

    /// <summary>Writes the figures and returns their paths relative to the run folder.</summary>
    public static IReadOnlyList<string> Write(string runFolder, IReadOnlyList<SummaryRow> summary, ExperimentSettings settings)
    {
        var written = new List<string>();
        var lookup = summary.ToDictionary(r => (r.Point, r.Machine, r.Strategy, r.Budget, r.Metric));
        var machines = summary.Select(r => r.Machine).Where(m => m != ExperimentSummary.HarmonicMeanMachine).Distinct().Order(StringComparer.Ordinal)
            .Prepend(ExperimentSummary.HarmonicMeanMachine).ToList();
        var strategies = settings.Strategies.Where(s => s != QueryStrategyKind.None).ToList();
        if (strategies.Count == 0) strategies = [QueryStrategyKind.None];
        var budgets = settings.Budgets.Order().ToList();
        bool sweeping = settings.Points.Count > 1;
        foreach (var point in settings.Points)
            foreach (var (metric, label) in Metrics)
            {
                var panels = new List<string>();
                foreach (var machine in machines)
                {
                    string name = $"{metric}_{machine}" + (sweeping ? "_" + settings.NameOf(point) : "") + ".png";
                    string title = (machine == ExperimentSummary.HarmonicMeanMachine ? $"{label}, harmonic mean over {machines.Count - 1} machine types" : $"{label}, {machine}")
                        + (sweeping ? $" ({settings.NameOf(point)})" : "");
                    var lines = strategies.Select(s => new FigureLine(s.ToName(), budgets.Select(b => FigurePoint.Of(lookup[(point, machine, s, b, metric)])).ToList())).ToList();
                    Render(Path.Combine(runFolder, Folder, name), title, $"{label} (mean, 95% CI)", budgets, lines, unitInterval: true);
                    written.Add(Path.Combine(Folder, name));
                    panels.Add(Path.Combine(runFolder, Folder, name));
                }
                // The paper's Figures 3 and 4 put every machine type side by side: the same panels in one image.
                string grid = $"{metric}_panels" + (sweeping ? "_" + settings.NameOf(point) : "") + ".png";
                Compose(Path.Combine(runFolder, Folder, grid), panels);
                written.Add(Path.Combine(Folder, grid));
            }
        return written;
    }

    /// <summary>
    /// Pooled over plants (`asd pool`): each strategy's gain over the offline model against the budget, mean with its 95%
    /// interval over runs, from 0 at b = 0; one PNG per metric and sweep point. Returns paths relative to the folder.
    /// </summary>
    public static IReadOnlyList<string> WritePooled(string folder, PoolReport report)
    {
        var written = new List<string>();
        bool sweeping = report.Offline.Count > 1;
        foreach (var offline in report.Offline)
        {
            var gains = report.Gains.Where(g => g.Point == offline.Point).ToList();
            if (gains.Count == 0) continue;
            var budgets = gains.Select(g => g.Budget).Distinct().Order().Prepend(0).ToList();
            foreach (var (metric, label) in Metrics)
            {
                // Every line starts at 0 at b = 0; a strategy measured at fewer budgets than another draws only its own.
                var lines = gains.GroupBy(g => g.Strategy).OrderBy(g => g.Key).Select(g => new FigureLine(g.Key.ToName(),
                    g.OrderBy(x => x.Budget).Select(x => FigurePoint.Of(x.Budget, metric == "auc" ? x.AucGain : x.PartialAucGain))
                        .Prepend(new FigurePoint(0, 0, double.NaN, double.NaN)).ToList())).ToList();
                string pointName = report.NameOf(offline.Point);
                string name = $"{metric}_gain" + (sweeping ? "_" + pointName : "") + ".png";
                string title = $"{label} − offline, mean over {offline.Runs.Count} runs" + (sweeping ? $" ({pointName})" : "");
                Render(Path.Combine(folder, Folder, name), title, $"{label} − offline (mean, 95% CI over runs)", budgets, lines, unitInterval: false);
                written.Add(Path.Combine(Folder, name));
            }
        }
        return written;
    }

    /// <summary>One point of a line: a mean at a budget with its 95% interval (NaN bounds: no whisker).</summary>
    private readonly record struct FigurePoint(double Budget, double Mean, double Low, double High)
    {
        public static FigurePoint Of(SummaryRow row) => new(row.Budget, row.Mean, row.Ci95Low, row.Ci95High);
        public static FigurePoint Of(double budget, MeanInterval value) => new(budget, value.Mean, value.Low, value.High);
    }

    private sealed record FigureLine(string Name, IReadOnlyList<FigurePoint> Points);

    /// <param name="unitInterval">The values are AUCs in [0, 1] (whiskers and axis stop there); otherwise differences,
    /// drawn with a line at 0.</param>
    private static void Render(string path, string title, string yLabel, IReadOnlyList<double> budgets,
        IReadOnlyList<FigureLine> lines, bool unitInterval)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        double span = budgets.Count > 1 ? budgets[^1] - budgets[0] : 1;
        for (int i = 0; i < lines.Count; i++)
        {
            // Strategies are nudged apart along x so their error bars do not hide each other.
            double nudge = (i - (lines.Count - 1) / 2.0) * span * 0.006;
            double[] xs = lines[i].Points.Select(p => p.Budget + nudge).ToArray();
            double[] ys = lines[i].Points.Select(p => p.Mean).ToArray();
            // AUC and pAUC live in [0, 1]: a Student-t interval over few trials can reach past either end, so the
            // whiskers stop at the bounds (the interval in summary.csv is left as computed).
            double top = unitInterval ? 1 : double.PositiveInfinity, bottom = unitInterval ? 0 : double.NegativeInfinity;
            double[] up = lines[i].Points.Select(p => double.IsNaN(p.High) ? 0 : Math.Max(0, Math.Min(p.High, top) - p.Mean)).ToArray();
            double[] down = lines[i].Points.Select(p => double.IsNaN(p.Low) ? 0 : Math.Max(0, p.Mean - Math.Max(p.Low, bottom))).ToArray();
            var color = palette.GetColor(i);
            var bars = plot.Add.ErrorBar(xs, ys, up);
            bars.YErrorPositive = up;
            bars.YErrorNegative = down;
            bars.Color = color;
            var scatter = plot.Add.Scatter(xs, ys);
            scatter.Color = color;
            scatter.LineWidth = 2;
            scatter.MarkerSize = 7;
            scatter.LegendText = lines[i].Name;
        }
        if (!unitInterval)
        {
            var zero = plot.Add.HorizontalLine(0);
            zero.Color = Colors.Gray;
            zero.LinePattern = LinePattern.Dashed;
        }
        plot.Title(title);
        plot.XLabel("label budget b (0 = offline model)");
        plot.YLabel(yLabel);
        plot.ShowLegend(unitInterval ? Alignment.LowerRight : Alignment.UpperLeft);
        plot.Axes.AutoScale();
        if (unitInterval)
        {
            var limits = plot.Axes.GetLimits();
            plot.Axes.SetLimitsY(Math.Max(limits.Bottom, 0), Math.Min(limits.Top, 1));
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        plot.SavePng(path, 800, 560);
    }

    /// <summary>Lays the panel PNGs out row by row, two or three to a row, into one PNG.</summary>
    private static void Compose(string path, IReadOnlyList<string> panels)
    {
        var images = panels.Select(SkiaSharp.SKBitmap.Decode).ToList();
        try
        {
            int columns = images.Count <= 4 ? 2 : 3;
            int rows = (images.Count + columns - 1) / columns;
            int width = images[0].Width, height = images[0].Height;
            using var surface = SkiaSharp.SKSurface.Create(new SkiaSharp.SKImageInfo(columns * width, rows * height));
            surface.Canvas.Clear(SkiaSharp.SKColors.White);
            for (int i = 0; i < images.Count; i++)
                surface.Canvas.DrawBitmap(images[i], i % columns * width, i / columns * height);
            using var snapshot = surface.Snapshot();
            using var png = snapshot.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
            using var file = File.Create(path);
            png.SaveTo(file);
        }
        finally
        {
            foreach (var image in images) image.Dispose();
        }
    }
}
