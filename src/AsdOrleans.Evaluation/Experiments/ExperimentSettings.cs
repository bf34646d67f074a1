using System.Globalization;
using AsdOrleans.Method.Budget;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Evaluation.Experiments;

/// <summary>One point of a method sweep: the γ, α, w, v, scoring and budget start a run uses.</summary>
public readonly record struct SweepPoint(double Gamma, double Alpha, int Window, double V,
    ScoringKind Scoring = ScoringKind.Paper, BudgetManagerKind BudgetStart = BudgetManagerKind.Paper)
{
    /// <summary>
    /// A folder- and id-safe name such as <c>g0.5_a0.01_w200_v0.1_domain_paced</c>; the scoring and budget start are
    /// named only where they are not the paper's, so the paper method's names are those of earlier versions. An id only:
    /// what a reader sees is <see cref="NameAmong"/>, which also names a swept paper value.
    /// </summary>
    public string Label => Name(scoringSwept: false, budgetStartSwept: false);

    /// <summary>
    /// The point's name among the points of a run (or of pooled runs), for tables, figures and evaluator/ folders: as
    /// <see cref="Label"/>, but a swept scoring or budget start is always named, so no point's name leaves out a value
    /// that another point's states (g0_a0.01_w200_v0.1_paper_paper, not g0_a0.01_w200_v0.1, beside …_domain_paced).
    /// A run that sweeps neither keeps <see cref="Label"/>.
    /// </summary>
    public string NameAmong(IEnumerable<SweepPoint> points)
    {
        var all = points.ToList();
        return Name(all.Select(p => p.Scoring).Distinct().Count() > 1, all.Select(p => p.BudgetStart).Distinct().Count() > 1);
    }

    private string Name(bool scoringSwept, bool budgetStartSwept)
        => string.Create(CultureInfo.InvariantCulture, $"g{Gamma:R}_a{Alpha:R}_w{Window}_v{V:R}")
            + (scoringSwept || Scoring != ScoringKind.Paper ? "_" + Scoring.ToName() : "")
            + (budgetStartSwept || BudgetStart != BudgetManagerKind.Paper ? "_" + BudgetStart.ToName() : "");

    public MachineConfig Apply(MachineConfig method)
        => method with { Gamma = Gamma, Alpha = Alpha, BudgetWindow = Window, RandomShare = V, Scoring = Scoring, BudgetManager = BudgetStart };
}

/// <summary>What to run: every machine × strategy × budget × sweep point × trial, with shared method parameters.</summary>
public sealed record ExperimentSettings
{
    public IReadOnlyList<QueryStrategyKind> Strategies { get; init; } =
        [QueryStrategyKind.None, QueryStrategyKind.Random, QueryStrategyKind.VariableUncertainty, QueryStrategyKind.Hybrid, QueryStrategyKind.Qbc];
    public IReadOnlyList<double> Budgets { get; init; } = [0, 0.05, 0.1, 0.2];
    public int Trials { get; init; } = 10;
    public ulong Seed { get; init; }
    /// <summary>The method's parameters; Strategy, Budget and Seed are set per run, and the swept ones per point.</summary>
    public MachineConfig Method { get; init; } = new();
    /// <summary>Swept values of γ, α, w and v; null means the single value in <see cref="Method"/>.</summary>
    public IReadOnlyList<double>? Gammas { get; init; }
    public IReadOnlyList<double>? Alphas { get; init; }
    public IReadOnlyList<int>? Windows { get; init; }
    public IReadOnlyList<double>? RandomShares { get; init; }
    /// <summary>Swept scorings and budget starts; null means the single value in <see cref="Method"/>.</summary>
    public IReadOnlyList<ScoringKind>? Scorings { get; init; }
    public IReadOnlyList<BudgetManagerKind>? BudgetStarts { get; init; }
    public int MaxDegreeOfParallelism { get; init; } = Environment.ProcessorCount;
    /// <summary>Who answers the label requests: truthful by default; see <see cref="SimulatedLabeller"/>.</summary>
    public SimulatedLabeller Labeller { get; init; } = SimulatedLabeller.Truthful;

    public IReadOnlyList<double> GammaValues => Gammas ?? [Method.Gamma];
    public IReadOnlyList<double> AlphaValues => Alphas ?? [Method.Alpha];
    public IReadOnlyList<int> WindowValues => Windows ?? [Method.BudgetWindow];
    public IReadOnlyList<double> RandomShareValues => RandomShares ?? [Method.RandomShare];
    public IReadOnlyList<ScoringKind> ScoringValues => Scorings ?? [Method.Scoring];
    public IReadOnlyList<BudgetManagerKind> BudgetStartValues => BudgetStarts ?? [Method.BudgetManager];

    /// <summary>Every combination of the swept values, scoring varying slowest, then γ, α, w, v and the budget start.</summary>
    public IReadOnlyList<SweepPoint> Points =>
        (from s in ScoringValues from g in GammaValues from a in AlphaValues from w in WindowValues from v in RandomShareValues from bs in BudgetStartValues
         select new SweepPoint(g, a, w, v, s, bs)).ToList();

    /// <summary>A point's name in this run's tables, figures and evaluator/ folders (<see cref="SweepPoint.NameAmong"/>).</summary>
    public string NameOf(SweepPoint point) => point.NameAmong(Points);

    /// <summary>Names of the parameters that take more than one value.</summary>
    public IReadOnlyList<string> SweptAxes
    {
        get
        {
            var axes = new List<string>();
            if (GammaValues.Count > 1) axes.Add("gamma");
            if (AlphaValues.Count > 1) axes.Add("alpha");
            if (WindowValues.Count > 1) axes.Add("window");
            if (RandomShareValues.Count > 1) axes.Add("v");
            if (ScoringValues.Count > 1) axes.Add("scoring");
            if (BudgetStartValues.Count > 1) axes.Add("budget-start");
            return axes;
        }
    }

    /// <summary>The offline model's run: (none, 0) when run, else any strategy at budget 0, else none at any budget.</summary>
    public (QueryStrategyKind Strategy, double Budget) OfflineKey
        => OfflineKeyOf(Strategies, Budgets) ?? throw new InvalidOperationException("no offline model: list budget 0 or strategy none");

    /// <summary>
    /// The one rule for which runs are the offline model, for the experiment's report and for <c>asd pool</c>, which reads
    /// the strategies and budgets back from results.csv: budget 0 with strategy none where it ran (at budget 0 no strategy
    /// queries, so any other stands in for it), else strategy none at the first budget (it never queries at any budget);
    /// null when neither was run.
    /// </summary>
    public static (QueryStrategyKind Strategy, double Budget)? OfflineKeyOf(IReadOnlyList<QueryStrategyKind> strategies, IReadOnlyList<double> budgets)
    {
        if (budgets.Contains(0))
            return (strategies.Contains(QueryStrategyKind.None) ? QueryStrategyKind.None : strategies[0], 0);
        if (strategies.Contains(QueryStrategyKind.None))
            return (QueryStrategyKind.None, budgets[0]);
        return null;
    }

    public ExperimentSettings Validate()
    {
        if (Strategies.Count == 0) throw new ArgumentException("at least one strategy is needed");
        if (Strategies.Distinct().Count() != Strategies.Count) throw new ArgumentException("a strategy is listed twice");
        if (Budgets.Count == 0) throw new ArgumentException("at least one budget is needed");
        foreach (var b in Budgets)
            if (!(b >= 0 && b <= 1)) throw new ArgumentException($"budget {b} is outside [0, 1]");
        if (Budgets.Distinct().Count() != Budgets.Count) throw new ArgumentException("a budget is listed twice");
        if (Trials < 1) throw new ArgumentException($"trials must be at least 1, got {Trials}");
        if (MaxDegreeOfParallelism < 1) throw new ArgumentException("parallelism must be at least 1");
        RequireDistinct("gamma", GammaValues);
        RequireDistinct("alpha", AlphaValues);
        RequireDistinct("window", WindowValues);
        RequireDistinct("v", RandomShareValues);
        RequireDistinct("scoring", ScoringValues);
        RequireDistinct("budget-start", BudgetStartValues);
        Labeller.Validate();
        Method.Validate();
        foreach (var point in Points)
            point.Apply(Method).Validate();
        return this;
    }

    private static void RequireDistinct<T>(string name, IReadOnlyList<T> values)
    {
        if (values.Count == 0) throw new ArgumentException($"at least one {name} value is needed");
        if (values.Distinct().Count() != values.Count) throw new ArgumentException($"{name}: a value is listed twice");
    }
}
