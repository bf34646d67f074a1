using MathNet.Numerics.Statistics;

namespace AsdOrleans.Method.Strategies;

/// <summary>
/// State of scikit-activeml's BalancedIncrementalQuantileFilter (Kottke et al., 2015): the last w
/// utilities plus how many clips were seen and queried. <see cref="WouldQuery"/> is pure;
/// <see cref="Record"/> applies one clip.
/// </summary>
public sealed class BalancedIncrementalQuantileFilter
{
    private readonly Queue<double> _window = new();

    public BalancedIncrementalQuantileFilter(int window, int toleranceWindow)
    {
        if (window < 1) throw new ArgumentOutOfRangeException(nameof(window));
        if (toleranceWindow < 1) throw new ArgumentOutOfRangeException(nameof(toleranceWindow));
        Window = window;
        ToleranceWindow = toleranceWindow;
    }

    public int Window { get; }
    public int ToleranceWindow { get; }
    public long Observed { get; private set; }
    public long Queried { get; private set; }
    public IReadOnlyCollection<double> Utilities => _window;

    /// <summary>
    /// θ = linear (1−b) quantile of the last w utilities including u; θ_bal = θ − range·(b·seen − queried)/w_tol,
    /// where seen counts this clip; query iff u ≥ θ_bal.
    /// </summary>
    public bool WouldQuery(double utility, double budget)
    {
        if (double.IsNaN(utility))
            return false;
        int count = Math.Min(_window.Count + 1, Window);
        var values = new double[count];
        int skip = _window.Count + 1 - count; // the oldest falls out when the window is full
        int i = 0;
        foreach (var u in _window)
        {
            if (skip > 0) { skip--; continue; }
            values[i++] = u;
        }
        values[i] = utility;
        double min = values.Min(), max = values.Max();
        double theta = ArrayStatistics.QuantileCustomInplace(values, 1 - budget, QuantileDefinition.R7);
        double acquisitionsLeft = budget * (Observed + 1) - Queried;
        double balanced = theta - (max - min) * (acquisitionsLeft / ToleranceWindow);
        return utility >= balanced;
    }

    /// <summary>Applies one clip: NaN utilities are dropped before the window, but the clip still counts as seen.</summary>
    public void Record(double utility, bool queried)
    {
        if (!double.IsNaN(utility))
        {
            _window.Enqueue(utility);
            while (_window.Count > Window)
                _window.Dequeue();
        }
        Observed++;
        if (queried) Queried++;
    }

    internal void Restore(IEnumerable<double> utilities, long observed, long queried)
    {
        _window.Clear();
        foreach (var u in utilities)
            _window.Enqueue(u);
        while (_window.Count > Window)
            _window.Dequeue();
        Observed = observed;
        Queried = queried;
    }
}
