using AsdOrleans.Abstractions;
using AsdOrleans.Grains.Placement;

namespace AsdOrleans.Grains;

/// <summary>What a score history grain persists: the last <see cref="ScoreHistoryGrain.Capacity"/> points, oldest first.</summary>
[GenerateSerializer]
public sealed class ScoreHistoryState
{
    [Id(0)] public List<ScorePoint> Points { get; set; } = [];
}

/// <summary>
/// One machine's score history (<see cref="IScoreHistoryGrain"/>), in its own grain and its own storage record, so the
/// machine grain's per-clip work never writes it. Points arrive one-way and are written behind: at most every
/// <see cref="FlushInterval"/> and on deactivation — one write of ≤ <see cref="Capacity"/> points (≈ 70 KB) per
/// interval however many clips came, and none while the machine is quiet. A crash loses at most the last interval's
/// points, as with the machine's per-clip budget state.
/// </summary>
[RequiresSiloRole(SiloRoles.Machines)]
public sealed class ScoreHistoryGrain(
    [PersistentState("scores", MachineGrain.StorageName)] IPersistentState<ScoreHistoryState> state) : Grain, IScoreHistoryGrain
{
    public const int Capacity = 1_000;
    public static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(5);
    private bool _dirty;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        this.RegisterGrainTimer(Flush, FlushInterval, FlushInterval);
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) => Flush(cancellationToken);

    public Task Record(ScorePoint point)
    {
        ArgumentNullException.ThrowIfNull(point);
        var points = state.State.Points;
        points.Add(point);
        if (points.Count > Capacity)
            points.RemoveRange(0, points.Count - Capacity);
        _dirty = true;
        return Task.CompletedTask;
    }

    public Task RecordLabel(string clipId, ClipLabelValue label)
    {
        var points = state.State.Points;
        for (int i = points.Count - 1; i >= 0; i--)
        {
            if (points[i].ClipId != clipId) continue;
            points[i] = points[i] with { Label = label };
            _dirty = true;
            break;
        }
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<ScorePoint>> Get(DateTimeOffset? since, int limit)
    {
        if (limit < 1) throw new ArgumentException($"limit must be at least 1, got {limit}");
        IEnumerable<ScorePoint> points = state.State.Points;
        if (since is { } from) points = points.Where(p => p.At >= from);
        var list = points.ToList();
        IReadOnlyList<ScorePoint> result = list.Count > limit ? list.GetRange(list.Count - limit, limit) : list;
        return Task.FromResult(result);
    }

    private async Task Flush(CancellationToken cancellation)
    {
        if (!_dirty) return;
        _dirty = false;
        try
        {
            await state.WriteStateAsync(cancellation);
        }
        catch
        {
            _dirty = true; // try again at the next tick
            throw;
        }
    }
}
