using AsdOrleans.Abstractions;
using AsdOrleans.Grains.Placement;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;

namespace AsdOrleans.Grains;

/// <summary>
/// The head record of a score history: the open page (the newest points, fewer than
/// <see cref="ScoreHistoryGrain.PageSize"/>) and its sequence number. Before paging (<see cref="Format"/> 0) it held
/// every point; such a record is split into pages on its first activation.
/// </summary>
[GenerateSerializer]
public sealed class ScoreHistoryState
{
    [Id(0)] public List<ScorePoint> Points { get; set; } = [];
    /// <summary>Sequence number of the open page; the sealed pages kept are the <see cref="ScoreHistoryGrain.SealedPagesKept"/> before it.</summary>
    [Id(1)] public long OpenPage { get; set; }
    /// <summary>0: every point in <see cref="Points"/> (written before paging); 1: paged.</summary>
    [Id(2)] public int Format { get; set; }
}

/// <summary>A sealed page of <see cref="ScoreHistoryGrain.PageSize"/> points, stored once in its own record.</summary>
[GenerateSerializer]
public sealed class ScoreHistoryPage
{
    [Id(0)] public long Sequence { get; set; } = -1;
    [Id(1)] public List<ScorePoint> Points { get; set; } = [];
}

/// <summary>
/// One machine's score history (<see cref="IScoreHistoryGrain"/>), in its own grain and its own storage records, so the
/// machine grain's per-clip work never writes it. Points arrive one-way and are written behind, at most every
/// <see cref="FlushInterval"/> and on deactivation, and none while the machine is quiet. The history is paged: the
/// newest points (the open page, fewer than <see cref="PageSize"/>) are the head record that a flush rewrites, and every
/// full page is written once to its own record (one of <see cref="SealedPagesKept"/> + 1 slots, reused in turn) — so a
/// flush writes at most a page (≈ 7 KB) however long the history, where one record of all
/// <see cref="Capacity"/> points was ≈ 70 KB per flush. Sealed pages are read only when asked for (Get, a label for an
/// older clip) and dropped from memory at the next flush. A crash loses at most the last interval's points, as with
/// the machine's per-clip budget state.
/// </summary>
[RequiresSiloRole(SiloRoles.Machines)]
public sealed class ScoreHistoryGrain(
    [PersistentState("scores", MachineGrain.StorageName)] IPersistentState<ScoreHistoryState> head) : Grain, IScoreHistoryGrain
{
    public const int Capacity = 1_000;
    public const int PageSize = 100;
    /// <summary>Sealed pages kept besides the open one: with them the history holds at least <see cref="Capacity"/> points.</summary>
    public const int SealedPagesKept = Capacity / PageSize;
    private const int Slots = SealedPagesKept + 1; // a page being sealed never overwrites one still kept
    public static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(5);

    private IGrainStorage _storage = null!;
    /// <summary>Each slot's record as last read or written (its ETag), null until needed.</summary>
    private readonly IGrainState<ScoreHistoryPage>?[] _slots = new IGrainState<ScoreHistoryPage>?[Slots];
    /// <summary>Sealed pages in memory by sequence: those read for a Get or a label, and those not yet written.</summary>
    private readonly SortedDictionary<long, ScoreHistoryPage> _pages = [];
    private readonly HashSet<long> _unwritten = [];
    private bool _allSealedInMemory;
    private bool _headDirty;
    /// <summary>Ticks only after a change: a quiet history costs no timer turns.</summary>
    private ArmedSteadyTimer _flushTimer = null!;

    private List<ScorePoint> Open => head.State.Points;
    private long OldestKept => Math.Max(0, head.State.OpenPage - SealedPagesKept);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _storage = ServiceProvider.GetRequiredKeyedService<IGrainStorage>(MachineGrain.StorageName);
        if (head.State.Format == 0 && Open.Count > 0)
            SplitIntoPages();
        head.State.Format = 1;
        _flushTimer = new ArmedSteadyTimer(this, Flush, FlushInterval);
        if (_headDirty) _flushTimer.Arm();
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) => Flush(cancellationToken);

    public Task Record(ScorePoint point)
    {
        ArgumentNullException.ThrowIfNull(point);
        Open.Add(point);
        _headDirty = true;
        _flushTimer.Arm();
        if (point.Anomalous)
            AlertIndexShards.For(GrainFactory, this.GetPrimaryKeyString()).Add(this.GetPrimaryKeyString(), point).Ignore();
        if (Open.Count >= PageSize)
        {
            long sequence = head.State.OpenPage;
            _pages[sequence] = new ScoreHistoryPage { Sequence = sequence, Points = [.. Open] };
            _unwritten.Add(sequence);
            Open.Clear();
            head.State.OpenPage = sequence + 1;
            ForgetPagesBefore(OldestKept);
        }
        return Task.CompletedTask;
    }

    public async Task RecordLabel(string clipId, ClipLabelValue label)
    {
        AlertIndexShards.For(GrainFactory, this.GetPrimaryKeyString()).MarkLabel(this.GetPrimaryKeyString(), clipId, label).Ignore();
        if (Mark(Open, clipId, label))
        {
            _headDirty = true;
            _flushTimer.Arm();
            return;
        }
        await LoadSealedPages();
        foreach (var page in _pages.Values.Reverse())
        {
            if (!Mark(page.Points, clipId, label)) continue;
            _unwritten.Add(page.Sequence);
            _flushTimer.Arm();
            return;
        }
    }

    public async Task<IReadOnlyList<ScorePoint>> Get(DateTimeOffset? since, int limit)
    {
        if (limit < 1) throw new ArgumentException($"limit must be at least 1, got {limit}");
        // Points arrive in time order: when the open page reaches back past `since`, or holds `limit` points, the
        // sealed pages are not needed (an alert poll for the last minutes reads no page).
        bool openSuffices = since is { } start ? Open.Count > 0 && Open[0].At < start : Open.Count >= limit;
        if (!openSuffices)
            await LoadSealedPages();
        var all = (openSuffices ? Open : _pages.Values.SelectMany(p => p.Points).Concat(Open)).ToList();
        IEnumerable<ScorePoint> points = all.Count > Capacity ? all.GetRange(all.Count - Capacity, Capacity) : all;
        if (since is { } from) points = points.Where(p => p.At >= from);
        var list = points.ToList();
        return list.Count > limit ? list.GetRange(list.Count - limit, limit) : list;
    }

    private static bool Mark(List<ScorePoint> points, string clipId, ClipLabelValue label)
    {
        for (int i = points.Count - 1; i >= 0; i--)
        {
            if (points[i].ClipId != clipId) continue;
            points[i] = points[i] with { Label = label };
            return true;
        }
        return false;
    }

    /// <summary>A record from before paging: its points become sealed pages and an open page, written at the next flush.</summary>
    private void SplitIntoPages()
    {
        var points = Open.Count > Capacity ? Open.GetRange(Open.Count - Capacity, Capacity) : [.. Open];
        int sealedCount = points.Count / PageSize;
        for (int p = 0; p < sealedCount; p++)
        {
            _pages[p] = new ScoreHistoryPage { Sequence = p, Points = points.GetRange(p * PageSize, PageSize) };
            _unwritten.Add(p);
        }
        head.State.Points = points.GetRange(sealedCount * PageSize, points.Count - sealedCount * PageSize);
        head.State.OpenPage = sealedCount;
        _allSealedInMemory = true;
        _headDirty = true;
    }

    /// <summary>Reads the kept sealed pages that are not in memory; a slot holding another sequence (stale, or never written) is skipped.</summary>
    private async Task LoadSealedPages()
    {
        if (_allSealedInMemory) return;
        for (long sequence = OldestKept; sequence < head.State.OpenPage; sequence++)
        {
            if (_pages.ContainsKey(sequence)) continue;
            var slot = await ReadSlot(sequence, content: true);
            if (slot.RecordExists && slot.State?.Sequence == sequence)
                _pages[sequence] = slot.State;
        }
        _allSealedInMemory = true;
        _flushTimer.Arm(); // the next tick drops them from memory again
    }

    /// <summary>The slot of a sequence with its ETag; read from storage unless known (and, for <paramref name="content"/>, still holding its page).</summary>
    private async Task<IGrainState<ScoreHistoryPage>> ReadSlot(long sequence, bool content)
    {
        int index = (int)(sequence % Slots);
        if (_slots[index] is { } known && (!content || known.State?.Sequence == sequence)) return known;
        var slot = _slots[index] ?? new GrainState<ScoreHistoryPage>(new ScoreHistoryPage());
        await _storage.ReadStateAsync(SlotName(index), this.GetGrainId(), slot);
        slot.State ??= new ScoreHistoryPage();
        return _slots[index] = slot;
    }

    private static string SlotName(int index) => $"scores-page-{index}";

    private void ForgetPagesBefore(long oldest)
    {
        foreach (long sequence in _pages.Keys.Where(s => s < oldest).ToList())
        {
            _pages.Remove(sequence);
            _unwritten.Remove(sequence);
        }
    }

    /// <summary>Writes the sealed pages not yet written, then the head (which then names them as kept); drops the rest from memory.</summary>
    private async Task Flush(CancellationToken cancellation)
    {
        try
        {
            await WritePagesAndHead(cancellation);
        }
        catch
        {
            _flushTimer.Arm(); // try again at the next tick
            throw;
        }
        // Sealed pages are read back when asked for; a resident history holds only its open page (and the slots' ETags).
        _pages.Clear();
        _allSealedInMemory = false;
        foreach (var slot in _slots)
            if (slot is { State.Sequence: >= 0 }) slot.State = new ScoreHistoryPage(); // only slots still holding a page
    }

    private async Task WritePagesAndHead(CancellationToken cancellation)
    {
        if (_unwritten.Count > 0) // one flush in a hundred clips seals a page; the rest allocate nothing here
        {
            foreach (long sequence in _unwritten.Order().ToList())
            {
                var slot = await ReadSlot(sequence, content: false);
                slot.State = _pages[sequence];
                await _storage.WriteStateAsync(SlotName((int)(sequence % Slots)), this.GetGrainId(), slot);
                _unwritten.Remove(sequence);
            }
        }
        if (_headDirty)
        {
            _headDirty = false;
            try
            {
                await head.WriteStateAsync(cancellation);
            }
            catch
            {
                _headDirty = true;
                throw;
            }
        }
    }
}
