namespace AsdOrleans.Grains;

/// <summary>
/// A persisted set of ids changed by many concurrent callers with one write per batch: changes that arrive while a write
/// is in flight wait for the next one, which holds all of them (the last change to an id wins). The set is only changed
/// between writes, never while one of it is in flight. A caller's task completes when a write holding its change did;
/// a failed write fails those callers and their changes go with the next write.
/// </summary>
internal sealed class GroupCommittedIds(Func<SortedSet<string>> persisted, Func<Task> write)
{
    private readonly Dictionary<string, bool> _unwritten = new(StringComparer.Ordinal);
    private TaskCompletionSource? _nextWrite;
    private bool _writing;

    /// <summary>Adds (<paramref name="member"/> true) or removes the ids; completes at once when the set already says
    /// so of each, unless <paramref name="writeAnyway"/> (a write that also marks the set as written).</summary>
    public Task Set(IReadOnlyList<string> ids, bool member, bool writeAnyway = false)
    {
        bool changed = false;
        foreach (var id in ids)
        {
            if (!_unwritten.ContainsKey(id) && persisted().Contains(id) == member)
                continue;
            _unwritten[id] = member;
            changed = true;
        }
        return changed || writeAnyway ? Touch() : Task.CompletedTask;
    }

    /// <summary>Writes the set once more (with any changes waiting); completes when that write did.</summary>
    private Task Touch()
    {
        _nextWrite ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var written = _nextWrite.Task;
        if (!_writing)
            _ = WriteBatches();
        return written;
    }

    /// <summary>How many ids <see cref="Current"/> holds.</summary>
    public int Count
    {
        get
        {
            var ids = persisted();
            return ids.Count + _unwritten.Sum(c => c.Value == ids.Contains(c.Key) ? 0 : c.Value ? 1 : -1);
        }
    }

    /// <summary>Whether <see cref="Current"/> holds <paramref name="id"/>, without copying the set.</summary>
    public bool Contains(string id) => _unwritten.TryGetValue(id, out bool member) ? member : persisted().Contains(id);

    /// <summary>The set as the callers so far asked for it: the persisted ids with the changes not yet written.</summary>
    public List<string> Current()
    {
        var ids = new SortedSet<string>(persisted(), StringComparer.Ordinal);
        foreach (var (id, member) in _unwritten)
            if (member) ids.Add(id); else ids.Remove(id);
        return [.. ids];
    }

    private async Task WriteBatches()
    {
        _writing = true;
        try
        {
            while (_nextWrite is { } batch)
            {
                _nextWrite = null;
                var changes = _unwritten.ToList();
                var set = persisted();
                foreach (var (id, member) in changes)
                    if (member) set.Add(id); else set.Remove(id);
                try
                {
                    await write();
                    foreach (var (id, member) in changes)
                        if (_unwritten.TryGetValue(id, out bool latest) && latest == member)
                            _unwritten.Remove(id); // a later change to the same id waits for the next write
                    batch.SetResult();
                }
                catch (Exception e)
                {
                    batch.SetException(e);
                }
            }
        }
        finally
        {
            _writing = false;
        }
    }
}
