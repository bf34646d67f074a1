using AsdOrleans.Abstractions;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace AsdOrleans.Grains;

/// <summary>
/// The head record of a score history: the open page (the newest points, fewer than
/// <see cref="MachineScoreHistory.PageSize"/>) and its sequence number. Before paging (<see cref="Format"/> 0) it held
/// every point; such a record is split into pages on its first activation.
/// </summary>
[GenerateSerializer]
public sealed class ScoreHistoryState
{
    [Id(0)] public List<ScorePoint> Points { get; set; } = [];
    /// <summary>Sequence number of the open page; the sealed pages kept are the <see cref="MachineScoreHistory.SealedPagesKept"/> before it.</summary>
    [Id(1)] public long OpenPage { get; set; }
    /// <summary>0: every point in <see cref="Points"/> (written before paging); 1: paged.</summary>
    [Id(2)] public int Format { get; set; }
    /// <summary>Clip ids of this history's alerts that the alert index has not yet confirmed written
    /// (<c>Telemetry.AlertOutbox</c>), oldest first: stored with their points, so a machine back from a crash sends them
    /// again. Ids only: the points are in the history (a head of the open page only stays small).</summary>
    [Id(3)] public List<string> UnindexedAlerts { get; set; } = [];
    /// <summary>Label outcomes this history has marked (its machine's <c>MachineGrainState.RequestsClosed</c> when all are
    /// here): marks are written behind, so one the machine's state counts and this does not was lost in a crash.</summary>
    [Id(4)] public long OutcomesRecorded { get; set; }
}

/// <summary>A sealed page of <see cref="MachineScoreHistory.PageSize"/> points, stored once in its own record.</summary>
[GenerateSerializer]
public sealed class ScoreHistoryPage
{
    [Id(0)] public long Sequence { get; set; } = -1;
    [Id(1)] public List<ScorePoint> Points { get; set; } = [];
}

/// <summary>
/// One machine's score history (what <see cref="IScoreHistoryGrain"/> answers), held by its <see cref="MachineGrain"/>
/// in records of its own, so a clip never rewrites the history with the machine's state. Points are written behind, at
/// the machine's next flush tick (at most <see cref="FlushInterval"/> later) and on deactivation, and none while the
/// machine is quiet. The history is paged: the newest points (the open page, fewer than <see cref="PageSize"/>) are the
/// head record that a flush rewrites, and every full page is written once to its own record (one of
/// <see cref="SealedPagesKept"/> + 1 slots, reused in turn) — so a flush writes at most a page (≈ 7 KB) however long
/// the history. Sealed pages are read only when asked for (Get, a label for an older clip) and dropped from memory at
/// the next flush. A crash loses at most the last interval's points, as with the machine's per-clip budget state.
/// Until 2026-12 the history was a grain of its own (<see cref="LegacyGrainType"/>): its records are adopted on the
/// machine's first activation that finds none of its own (docs/decisions.md, "the score history inside the machine grain").
/// </summary>
public sealed class MachineScoreHistory
{
    public const int Capacity = 1_000;
    public const int PageSize = 100;
    /// <summary>Sealed pages kept besides the open one: with them the history holds at least <see cref="Capacity"/> points.</summary>
    public const int SealedPagesKept = Capacity / PageSize;
    private const int Slots = SealedPagesKept + 1; // a page being sealed never overwrites one still kept
    public static readonly TimeSpan FlushInterval = MachineGrain.FlushInterval;
    /// <summary>The head record's state name; the sealed pages are <c>scores-page-0</c> … <c>-10</c>.</summary>
    public const string HeadStateName = "scores";
    /// <summary>The grain type that held histories before they moved into the machine grain (same key, same state names).</summary>
    public const string LegacyGrainType = "scorehistory";

    private readonly IPersistentState<ScoreHistoryState> _head;
    private readonly IGrainStorage _storage;
    private readonly GrainId _owner;
    /// <summary>Sets the owner's next flush tick (which calls <see cref="Flush"/>).</summary>
    private readonly Action _arm;
    private readonly ILogger _logger;
    /// <summary>Each slot's record as last read or written (its ETag), null until needed.</summary>
    private readonly IGrainState<ScoreHistoryPage>?[] _slots = new IGrainState<ScoreHistoryPage>?[Slots];
    /// <summary>Sealed pages in memory by sequence: those read for a Get or a label, and those not yet written.</summary>
    private readonly SortedDictionary<long, ScoreHistoryPage> _pages = [];
    private readonly HashSet<long> _unwritten = [];
    private bool _allSealedInMemory;
    private bool _headDirty;
    /// <summary>Labels for clips on sealed pages, applied when the pages are next in memory.</summary>
    private List<(string ClipId, LabelRequestOutcome Outcome, string? By)>? _sealedMarks;
    /// <summary>Removals of the old history grain's records, adopted and to be removed once written here.</summary>
    private List<Func<Task>>? _legacyRemovals;

    private MachineScoreHistory(IPersistentState<ScoreHistoryState> head, IGrainStorage storage, GrainId owner, Action arm, ILogger logger)
    {
        _head = head;
        _storage = storage;
        _owner = owner;
        _arm = arm;
        _logger = logger;
    }

    private List<ScorePoint> Open => _head.State.Points;
    private long OldestKept => Math.Max(0, _head.State.OpenPage - SealedPagesKept);

    /// <summary>The history of the machine <paramref name="owner"/>, whose head <paramref name="head"/> has been read.</summary>
    public static async Task<MachineScoreHistory> OpenAsync(IPersistentState<ScoreHistoryState> head, IGrainStorage storage, GrainId owner, Action arm, ILogger logger)
    {
        var history = new MachineScoreHistory(head, storage, owner, arm, logger);
        if (!head.RecordExists)
            await history.AdoptLegacyRecords();
        if (head.State.Format == 0 && history.Open.Count > 0)
            history.SplitIntoPages();
        head.State.Format = 1;
        if (history._headDirty) arm();
        return history;
    }

    /// <summary>Clip ids of the alerts the alert index has not confirmed written, as last stored or set.</summary>
    public IReadOnlyList<string> UnindexedAlerts => _head.State.UnindexedAlerts;

    /// <summary>Replaces <see cref="UnindexedAlerts"/>; written with the head at the next flush.</summary>
    public void SetUnindexedAlerts(List<string> alerts)
    {
        if (alerts.SequenceEqual(_head.State.UnindexedAlerts, StringComparer.Ordinal)) return; // no head write for nothing
        _head.State.UnindexedAlerts = alerts;
        _headDirty = true;
        _arm();
    }

    /// <summary>Appends a scored clip; written at the next flush.</summary>
    public void Record(ScorePoint point)
    {
        ArgumentNullException.ThrowIfNull(point);
        Open.Add(point);
        _headDirty = true;
        _arm();
        if (Open.Count >= PageSize)
        {
            long sequence = _head.State.OpenPage;
            _pages[sequence] = new ScoreHistoryPage { Sequence = sequence, Points = [.. Open] };
            _unwritten.Add(sequence);
            Open.Clear();
            _head.State.OpenPage = sequence + 1;
            ForgetPagesBefore(OldestKept);
        }
    }

    /// <summary>Marks a clip of the history with how its label request ended (its label, or declined, expired,
    /// withdrawn). A clip older than the open page is marked when its page is next read (a Get, or the next flush), so
    /// closing a request never waits for a page read.</summary>
    /// <returns>The clip's point as marked, when it is on the open page; null when it is marked later.</returns>
    public ScorePoint? RecordOutcome(string clipId, LabelRequestOutcome outcome, string? by = null)
    {
        var marked = Mark(Open, clipId, outcome, by);
        if (marked is not null)
        {
            _head.State.OutcomesRecorded++; // with its mark, in the head's next write
            _headDirty = true;
        }
        else
            (_sealedMarks ??= []).Add((clipId, outcome, by));
        _arm();
        return marked;
    }

    /// <summary>Applies the labels waiting for their sealed page, once every kept page is in memory (a clip on none of
    /// them has left the history).</summary>
    private void ApplySealedMarks()
    {
        if (_sealedMarks is null || !_allSealedInMemory) return;
        foreach (var (clipId, outcome, by) in _sealedMarks)
        {
            foreach (var page in _pages.Values.Reverse())
            {
                if (Mark(page.Points, clipId, outcome, by) is null) continue;
                _unwritten.Add(page.Sequence);
                break;
            }
        }
        // Counted once applied: the head is written after the pages (WritePagesAndHead), so it never counts a mark that is
        // not on storage.
        _head.State.OutcomesRecorded += _sealedMarks.Count;
        _headDirty = true;
        _sealedMarks = null;
    }

    /// <summary>
    /// Restores the label outcomes a crash lost (marks are written behind, the machine's state at once): when
    /// <paramref name="requestsClosed"/>, the machine's count, differs from <see cref="ScoreHistoryState.OutcomesRecorded"/>,
    /// every kept point that asked for a label and has no outcome, the newest of its clip id, is marked with
    /// <paramref name="closureOf"/>'s answer (null: still open, or not known), with who closed it where that is known, and
    /// the count is taken over. Reads the sealed pages only then.
    /// </summary>
    /// <returns>The points marked.</returns>
    public async Task<IReadOnlyList<ScorePoint>> RestoreLostOutcomesAsync(long requestsClosed, Func<string, RequestClosure?> closureOf)
    {
        if (_head.State.OutcomesRecorded == requestsClosed) return [];
        await LoadSealedPages();
        ApplySealedMarks();
        var restored = new List<ScorePoint>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        // Newest first, and only a clip id's newest point: a device may reuse an id, and the state's memories answer for
        // its latest request (as a label marks the newest point).
        foreach (var (points, sequence) in _pages.Values.Reverse().Select(p => (p.Points, (long?)p.Sequence)).Prepend((Open, null)))
        {
            for (int i = points.Count - 1; i >= 0; i--)
            {
                if (!seen.Add(points[i].ClipId)) continue;
                if (points[i] is not { LabelRequested: true, RequestOutcome: null, Label: null } point || closureOf(point.ClipId) is not { } closure)
                    continue;
                restored.Add(points[i] = point.Closed(closure.Outcome, closure.By));
                if (sequence is { } page) _unwritten.Add(page);
            }
        }
        _head.State.OutcomesRecorded = requestsClosed;
        _headDirty = true;
        _arm();
        return restored;
    }

    public async Task<IReadOnlyList<ScorePoint>> Get(DateTimeOffset? since, int limit)
    {
        if (limit < 1) throw new ArgumentException($"limit must be at least 1, got {limit}");
        // Points arrive in time order: when the open page reaches back past `since`, or holds `limit` points, the
        // sealed pages are not needed (an alert poll for the last minutes reads no page).
        bool openSuffices = since is { } start ? Open.Count > 0 && Open[0].At < start : Open.Count >= limit;
        if (!openSuffices)
            await LoadSealedPages();
        ApplySealedMarks(); // where the pages were not needed the marks wait for the next flush
        var all = (openSuffices ? Open : _pages.Values.SelectMany(p => p.Points).Concat(Open)).ToList();
        IEnumerable<ScorePoint> points = all.Count > Capacity ? all.GetRange(all.Count - Capacity, Capacity) : all;
        if (since is { } from) points = points.Where(p => p.At >= from);
        var list = points.ToList();
        return list.Count > limit ? list.GetRange(list.Count - limit, limit) : list;
    }

    private static ScorePoint? Mark(List<ScorePoint> points, string clipId, LabelRequestOutcome outcome, string? by)
    {
        for (int i = points.Count - 1; i >= 0; i--)
        {
            if (points[i].ClipId != clipId) continue;
            return points[i] = points[i].Closed(outcome, by);
        }
        return null;
    }

    /// <summary>
    /// The old history grain's head and kept pages (same key, same state names, grain type <see cref="LegacyGrainType"/>)
    /// become this history's, written here at the next flush; the old records are removed after that write.
    /// </summary>
    private async Task AdoptLegacyRecords()
    {
        var legacyId = GrainId.Create(LegacyGrainType, _owner.Key.ToString()!);
        var legacyHead = new GrainState<ScoreHistoryState>(new ScoreHistoryState());
        await _storage.ReadStateAsync(HeadStateName, legacyId, legacyHead);
        if (!legacyHead.RecordExists)
            return;
        _head.State = legacyHead.State ?? new ScoreHistoryState();
        var removals = new List<Func<Task>> { () => _storage.ClearStateAsync(HeadStateName, legacyId, legacyHead) };
        if (_head.State.Format == 1)
        {
            for (int index = 0; index < Slots; index++)
            {
                var slot = new GrainState<ScoreHistoryPage>(new ScoreHistoryPage());
                await _storage.ReadStateAsync(SlotName(index), legacyId, slot);
                if (!slot.RecordExists) continue;
                RestoreFirstPageNumber(slot, index);
                string name = SlotName(index);
                removals.Add(() => _storage.ClearStateAsync(name, legacyId, slot));
                if (slot.State is { } page && page.Sequence >= OldestKept && page.Sequence < _head.State.OpenPage && page.Sequence % Slots == index)
                {
                    _pages[page.Sequence] = page;
                    _unwritten.Add(page.Sequence);
                }
            }
            _allSealedInMemory = true;
        }
        _headDirty = true;
        _legacyRemovals = removals;
        _logger.LogInformation("machine {Machine}: adopted the score history of the former history grain ({Pages} sealed pages)", _owner.Key, _pages.Count);
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
        _head.State.Points = points.GetRange(sealedCount * PageSize, points.Count - sealedCount * PageSize);
        _head.State.OpenPage = sealedCount;
        _allSealedInMemory = true;
        _headDirty = true;
    }

    /// <summary>Reads the kept sealed pages that are not in memory; a slot holding another sequence (stale, or never written) is skipped.</summary>
    private async Task LoadSealedPages()
    {
        if (_allSealedInMemory) return;
        for (long sequence = OldestKept; sequence < _head.State.OpenPage; sequence++)
        {
            if (_pages.ContainsKey(sequence)) continue;
            var slot = await ReadSlot(sequence, content: true);
            if (slot.RecordExists && slot.State?.Sequence == sequence)
                _pages[sequence] = slot.State;
        }
        _allSealedInMemory = true;
        _arm(); // the next tick drops them from memory again
    }

    /// <summary>The slot of a sequence with its ETag; read from storage unless known (and, for <paramref name="content"/>, still holding its page).</summary>
    private async Task<IGrainState<ScoreHistoryPage>> ReadSlot(long sequence, bool content)
    {
        int index = (int)(sequence % Slots);
        if (_slots[index] is { } known && (!content || known.State?.Sequence == sequence)) return known;
        var slot = _slots[index] ?? new GrainState<ScoreHistoryPage>(new ScoreHistoryPage());
        await _storage.ReadStateAsync(SlotName(index), _owner, slot);
        slot.State ??= new ScoreHistoryPage();
        RestoreFirstPageNumber(slot, index);
        return _slots[index] = slot;
    }

    private static string SlotName(int index) => $"{HeadStateName}-page-{index}";

    /// <summary>
    /// Page 0 may come back without its number: a storage that writes JSON (Orleans' default grain-storage format, and the
    /// memory storage of test clusters) leaves out a field at its default (0), and reading it back keeps the property's
    /// initializer, −1, which no page has. Slot 0 is the only slot page 0 is written to, and a written slot always holds
    /// points, so such a record is page 0. Without this, a machine's first 100 clips left its history on such a storage
    /// once their page had been written and dropped from memory. The binary format this project configures for SQLite and
    /// Redis writes the 0 (tested both ways).
    /// </summary>
    private static void RestoreFirstPageNumber(IGrainState<ScoreHistoryPage> slot, int index)
    {
        if (index == 0 && slot.RecordExists && slot.State is { Sequence: -1, Points.Count: > 0 } page)
            page.Sequence = 0;
    }

    private void ForgetPagesBefore(long oldest)
    {
        foreach (long sequence in _pages.Keys.Where(s => s < oldest).ToList())
        {
            _pages.Remove(sequence);
            _unwritten.Remove(sequence);
        }
    }

    /// <summary>Removes every record of the history (the machine's retirement): its pages' slots, then its head. The
    /// history holds nothing afterwards and must not be written again.</summary>
    public async Task ClearAsync()
    {
        for (int index = 0; index < Slots; index++)
        {
            var slot = _slots[index] ?? new GrainState<ScoreHistoryPage>(new ScoreHistoryPage());
            if (_slots[index] is null) await _storage.ReadStateAsync(SlotName(index), _owner, slot);
            if (slot.RecordExists) await _storage.ClearStateAsync(SlotName(index), _owner, slot);
            _slots[index] = null;
        }
        if (_head.RecordExists) await _head.ClearStateAsync();
        _head.State = new ScoreHistoryState { Format = 1 };
        _pages.Clear();
        _unwritten.Clear();
        _sealedMarks = null;
        _headDirty = false;
        _allSealedInMemory = false;
    }

    /// <summary>Writes the sealed pages not yet written, then the head (which then names them as kept); drops the rest
    /// from memory. On failure the next tick tries again.</summary>
    public async Task Flush(CancellationToken cancellation)
    {
        try
        {
            await WritePagesAndHead(cancellation);
        }
        catch
        {
            _arm();
            throw;
        }
        // Sealed pages are read back when asked for; a resident history holds only its open page (and the slots' ETags).
        _pages.Clear();
        _allSealedInMemory = false;
        foreach (var slot in _slots)
            if (slot is { State.Sequence: >= 0 }) slot.State = new ScoreHistoryPage(); // only slots still holding a page
        if (_legacyRemovals is not null)
            await RemoveLegacyRecords();
    }

    private async Task WritePagesAndHead(CancellationToken cancellation)
    {
        if (_sealedMarks is not null)
        {
            await LoadSealedPages();
            ApplySealedMarks();
        }
        if (_unwritten.Count > 0) // one flush in a hundred clips seals a page; the rest allocate nothing here
        {
            foreach (long sequence in _unwritten.Order().ToList())
            {
                var slot = await ReadSlot(sequence, content: false);
                slot.State = _pages[sequence];
                await _storage.WriteStateAsync(SlotName((int)(sequence % Slots)), _owner, slot);
                _unwritten.Remove(sequence);
            }
        }
        if (_headDirty)
        {
            _headDirty = false;
            try
            {
                await _head.WriteStateAsync(cancellation);
            }
            catch
            {
                _headDirty = true;
                throw;
            }
        }
    }

    /// <summary>Removes the old history grain's records once their points are written here; tried once (a leftover record is only unused bytes).</summary>
    private async Task RemoveLegacyRecords()
    {
        var removals = _legacyRemovals!;
        _legacyRemovals = null;
        try
        {
            foreach (var remove in removals)
                await remove();
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "machine {Machine}: removing the former history grain's records failed; they stay unused", _owner.Key);
        }
    }
}
