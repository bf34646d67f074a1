using AsdOrleans.Method.Vocabulary;

namespace AsdOrleans.Method.Strategies;

/// <summary>
/// Why a machine asked for a clip's label: the strategy's branch that chose it, or the paced budget's floor. A labeller
/// sees it beside the request; an experiment counts each. Numeric values are persisted (a machine's recent verdicts):
/// never renumber.
/// </summary>
public enum QueryReason : byte
{
    /// <summary>No label asked for.</summary>
    None = 0,
    /// <summary>Asked for before machines recorded why (a retry answered from state written by an older build).</summary>
    Unrecorded = 1,
    /// <summary>The score was above the labelling threshold h: variable uncertainty, hybrid's uncertainty branch.</summary>
    Uncertain = 2,
    /// <summary>A random draw within the budget: random, hybrid's random branch, the printed hybrid's draw.</summary>
    Random = 3,
    /// <summary>QBC's committee disagreed more than the filter's quantile.</summary>
    Committee = 4,
    /// <summary>The strategy passed, but the paced budget had reached its spend level (its floor).</summary>
    BudgetFloor = 5,
}

public static class QueryReasonNames
{
    private static readonly KindNames<QueryReason> Names = new("query reason",
        (QueryReason.None, "none"),
        (QueryReason.Unrecorded, "unrecorded"),
        (QueryReason.Uncertain, "uncertain"),
        (QueryReason.Random, "random"),
        (QueryReason.Committee, "committee"),
        (QueryReason.BudgetFloor, "budget-floor"));

    public static string ToName(this QueryReason reason) => Names.ToName(reason);

    public static QueryReason Parse(string name) => Names.Parse(name);

    /// <summary>The name a verdict or a label request carries: null where no label was asked.</summary>
    public static string? NameIfAsked(this QueryReason reason) => reason == QueryReason.None ? null : reason.ToName();

    /// <summary>A verdict's reason read back from its two fields: none where no label was asked, unrecorded where one was
    /// asked before machines recorded why.</summary>
    public static QueryReason OfVerdict(bool labelRequested, string? name)
        => !labelRequested ? QueryReason.None : name is null ? QueryReason.Unrecorded : Parse(name);

    /// <summary><paramref name="reason"/> when <paramref name="query"/>, otherwise <see cref="QueryReason.None"/>.</summary>
    public static QueryReason If(bool query, QueryReason reason) => query ? reason : QueryReason.None;
}
