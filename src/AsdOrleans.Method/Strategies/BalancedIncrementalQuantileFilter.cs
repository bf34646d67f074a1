namespace AsdOrleans.Method.Strategies;

/// <summary>
/// State of scikit-activeml's BalancedIncrementalQuantileFilter (Kottke et al., 2015): the last w
/// utilities plus how many clips were seen and queried. <see cref="WouldQuery"/> is pure;
/// <see cref="Record"/> applies one clip.
/// </summary>
public sealed class BalancedIncrementalQuantileFilter
{
    private readonly Queue<double> _window = new();
    // The window's utilities in ascending order, kept beside the queue so a decision needs no sort or allocation.
    private readonly List<double> _sorted = [];
    private double[] _buffer = [];

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
    public bool WouldQuery(double utility, double budget) => WouldQuery(utility, budget, budget);

    /// <summary>
    /// As <see cref="WouldQuery(double, double)"/>, with θ at the (1 − <paramref name="quantileBudget"/>) quantile and
    /// the balancing term still against b: a paced manager's budget (b · pace) lets the filter spend what it saved.
    /// </summary>
    public bool WouldQuery(double utility, double budget, double quantileBudget)
    {
        if (double.IsNaN(utility))
            return false;
        // The window as it would be with u: the oldest left out when full, u merged in, ascending.
        int count = Math.Min(_window.Count + 1, Window);
        if (_buffer.Length < count) _buffer = new double[Window + 1];
        bool dropOldest = _window.Count + 1 > count;
        double oldest = dropOldest ? _window.Peek() : 0;
        int n = 0;
        bool inserted = false;
        foreach (double v in _sorted)
        {
            if (dropOldest && v == oldest) { dropOldest = false; continue; }
            if (!inserted && utility < v) { _buffer[n++] = utility; inserted = true; }
            _buffer[n++] = v;
        }
        if (!inserted) _buffer[n++] = utility;
        var values = _buffer.AsSpan(0, n);
        double min = values[0], max = values[^1];
        double theta = QuantileR7(values, 1 - quantileBudget);
        double acquisitionsLeft = budget * (Observed + 1) - Queried;
        double balanced = theta - (max - min) * (acquisitionsLeft / ToleranceWindow);
        return utility >= balanced;
    }

    /// <summary>The linear (R type 7) quantile of ascending values, computed as MathNet's ArrayStatistics does, so decisions match it bit for bit.</summary>
    private static double QuantileR7(ReadOnlySpan<double> sorted, double tau)
    {
        if (tau == 0d || sorted.Length == 1) return sorted[0];
        if (tau == 1d) return sorted[^1];
        double h = (sorted.Length - 1) * tau + 1d;
        int hf = (int)h;
        double lower = sorted[Math.Clamp(hf - 1, 0, sorted.Length - 1)];
        double upper = sorted[Math.Clamp(hf, 0, sorted.Length - 1)];
        return lower + (h - hf) * (upper - lower);
    }

    /// <summary>Applies one clip: NaN utilities are dropped before the window, but the clip still counts as seen.</summary>
    public void Record(double utility, bool queried)
    {
        if (!double.IsNaN(utility))
        {
            _window.Enqueue(utility);
            Insert(utility);
            while (_window.Count > Window)
                Remove(_window.Dequeue());
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
        _sorted.Clear();
        _sorted.AddRange(_window);
        _sorted.Sort();
        Observed = observed;
        Queried = queried;
    }

    private void Insert(double utility)
    {
        int at = _sorted.BinarySearch(utility);
        _sorted.Insert(at < 0 ? ~at : at, utility);
    }

    private void Remove(double utility) => _sorted.RemoveAt(_sorted.BinarySearch(utility));
}
