namespace AsdOrleans.Method.Budget;

/// <summary>
/// A budget manager in scikit-activeml's sense (skactiveml.stream.budgetmanager): it owns how much of the label
/// budget b is left, apart from the query strategy, which only says how useful a clip is. <see cref="MaySpend"/>
/// is pure; <see cref="Commit"/> applies one clip's decision. Every manager also keeps Žliobaitė's spent-budget
/// estimate b̂ ← ((w−1)·b̂ + λ)/w, which status reports and the printed hybrid reading uses (η &gt; b̂/b).
/// </summary>
public abstract class BudgetManager
{
    protected BudgetManager(double spentEstimate) => SpentEstimate = spentEstimate;

    public abstract BudgetManagerKind Kind { get; }

    /// <summary>b̂: Žliobaitė's estimate of the share of recent clips that were queried (window w).</summary>
    public double SpentEstimate { get; protected set; }

    /// <summary>Whether the next clip may be queried under budget <paramref name="budget"/>. Pure.</summary>
    public abstract bool MaySpend(double budget);

    /// <summary>
    /// Whether the next clip must be queried whatever the strategy says: the budget's floor, so that a machine whose
    /// strategy asks for less than b still spends b. Pure. The paper's manager: never.
    /// </summary>
    public virtual bool MustSpend(double budget) => false;

    /// <summary>
    /// How the machine's spending stands against b for the next clip: 1 on pace, above 1 when budget was saved (fewer
    /// labels than b so far), below 1 when it ran ahead. Random draws (the random strategy, hybrid's random branch) scale
    /// their rate by it, so that wishes the manager refused are made up later (without it, random spent 0.47 at b = 0.5);
    /// hybrid scales how often it takes its random branch by it, and QBC's quantile filter takes its quantile at b · pace.
    /// The paper's manager: 1.
    /// </summary>
    public virtual double Pace(double budget) => 1;

    /// <summary>Applies one clip: <paramref name="queried"/> is whether it was queried.</summary>
    public virtual void Commit(bool queried, double budget, int window)
        => SpentEstimate = ((window - 1) * SpentEstimate + (queried ? 1 : 0)) / window;

    public abstract BudgetManager Clone();

    /// <summary>The manager's own section of the machine state (after its kind byte).</summary>
    internal abstract void Write(BinaryWriter writer);

    /// <summary>A fresh manager for a newly enrolled machine.</summary>
    public static BudgetManager Create(BudgetManagerKind kind, double budget) => kind switch
    {
        BudgetManagerKind.Paper => new EstimatedBudget(0),
        BudgetManagerKind.Paced => PacedBudget.Start(budget),
        _ => throw new ArgumentException($"unknown budget manager {(int)kind}"),
    };

    /// <summary>
    /// The manager of <paramref name="kind"/> continuing from <paramref name="previous"/>: the same kind carries its
    /// state over; another kind takes over b̂ (a paced manager starting from it with a fresh token allowance).
    /// </summary>
    public static BudgetManager Continue(BudgetManagerKind kind, BudgetManager previous, double budget)
    {
        if (previous.Kind == kind) return previous.Clone();
        return kind switch
        {
            BudgetManagerKind.Paper => new EstimatedBudget(previous.SpentEstimate),
            BudgetManagerKind.Paced => new PacedBudget(previous.SpentEstimate, PacedBudget.InitialTokens(budget)),
            _ => throw new ArgumentException($"unknown budget manager {(int)kind}"),
        };
    }

    internal static BudgetManager Read(BudgetManagerKind kind, double spent, Func<double> readDouble) => kind switch
    {
        BudgetManagerKind.Paper => new EstimatedBudget(spent),
        BudgetManagerKind.Paced => new PacedBudget(spent, readDouble()),
        _ => throw new InvalidDataException($"machine state has unknown budget manager {(int)kind}"),
    };
}

/// <summary>
/// The paper's budget (docs/design.md §1): Žliobaitė's estimate b̂, started at 0; no query while b̂ ≥ b. Started at 0 it
/// queries in a burst (22 of the first 30 clips at b = 0.1, w = 200) — kept, as `paper`, for reproduction.
/// </summary>
public sealed class EstimatedBudget(double spentEstimate) : BudgetManager(spentEstimate)
{
    public override BudgetManagerKind Kind => BudgetManagerKind.Paper;
    public override bool MaySpend(double budget) => SpentEstimate < budget;
    public override BudgetManager Clone() => new EstimatedBudget(SpentEstimate);
    internal override void Write(BinaryWriter writer) { }
}

/// <summary>
/// `paced`: a token bucket. Each clip earns b tokens; a query costs one and is allowed only while a whole token is
/// available. A new machine starts with 2 − b tokens, so after n clips it has queried at most 2 + b·(n − 1) of them: the
/// realised rate never exceeds b + (2 − b)/n, however willing the strategy. Its floor: a clip that finds
/// <see cref="SpendLevel"/> tokens available is queried whatever the strategy says, so a machine never holds 3 tokens
/// after a clip and has queried more than b·n − 1 − b of n clips: the realised rate never falls below b − (1 + b)/n,
/// however unwilling the strategy. Both bounds are within b ± 0.02 on any stream of 100 clips or more, from its first
/// clip on. The floor is a backstop: random draws (random, hybrid's random branch) scale their rate by
/// <see cref="Pace"/>, and hybrid's random-branch share and QBC's quantile (taken at b · pace) follow it too, so saved
/// tokens are mostly spent on clips the strategy chose.
/// b̂ is kept beside it (started at b) for status and the printed hybrid reading.
/// </summary>
public sealed class PacedBudget(double spentEstimate, double tokens) : BudgetManager(spentEstimate)
{
    /// <summary>
    /// Tokens available at which the next clip is queried whatever the strategy says. At most 4 − b keeps the floor
    /// within b − 0.02 by 100 clips; 3 does for every b and leaves a strategy one token beyond a new machine's two to
    /// save for a run of wishes.
    /// </summary>
    public const double SpendLevel = 3;

    /// <summary>The most tokens a machine's state may hold: under the floor it never holds <see cref="SpendLevel"/>; states written before the floor held up to 5.</summary>
    public const double Capacity = 5;

    public double Tokens { get; private set; } = tokens;

    public override BudgetManagerKind Kind => BudgetManagerKind.Paced;

    public static PacedBudget Start(double budget) => new(budget, InitialTokens(budget));

    public static double InitialTokens(double budget) => 2 - budget;

    private double Available(double budget) => Math.Min(Capacity, Tokens + budget);

    /// <summary>The tokens available for the next clip over those a new machine has (2): 1 at the start.</summary>
    public override double Pace(double budget) => Available(budget) / (InitialTokens(budget) + budget);

    // A tiny tolerance: b = 0.1 earns 0.1 per clip in binary floating point, and ten of them must make a whole token.
    public override bool MaySpend(double budget) => budget > 0 && Available(budget) >= 1 - 1e-9;

    public override bool MustSpend(double budget) => budget > 0 && Available(budget) >= SpendLevel - 1e-9;

    public override void Commit(bool queried, double budget, int window)
    {
        base.Commit(queried, budget, window);
        Tokens = Math.Max(0, Available(budget) - (queried ? 1 : 0));
    }

    public override BudgetManager Clone() => new PacedBudget(SpentEstimate, Tokens);

    internal override void Write(BinaryWriter writer) => writer.Write(Tokens);
}
