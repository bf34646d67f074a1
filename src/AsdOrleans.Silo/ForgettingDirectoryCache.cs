using System.Collections.Concurrent;
using Orleans.Runtime.GrainDirectory;

namespace AsdOrleans.Silo;

/// <summary>
/// The silo's cache of where grains live (Orleans' grain directory cache, a public extension point), which spreading
/// machines (<see cref="MachineSpreader"/>) can make forget a machine. Orleans keeps a silo's cached address of a grain
/// after that grain's activation on another silo has gone, and a message sent by it creates the activation again on the
/// silo it names, without placement: a machine woken on the silo that joined went back to the silo it left (57 of 58 in
/// the test, where the new silo had cached them). Forgotten on the silo that wakes it, the wake call asks the directory,
/// finds it in none, and is placed by the placement hint. Other silos' stale addresses are then harmless: a message
/// they send to the old silo finds the machine registered on its new one and is forwarded there, and the sender's cache
/// corrected (Orleans' own mechanism). Bounded like Orleans' own cache (GrainDirectoryOptions.CacheSize): when full,
/// a new address is not kept, and a call asks the directory instead.
/// </summary>
public sealed class ForgettingDirectoryCache(int capacity) : IGrainDirectoryCache
{
    private readonly ConcurrentDictionary<GrainId, (GrainAddress Address, int Version)> _entries = new();

    public void AddOrUpdate(GrainAddress value, int version)
    {
        if (_entries.Count < capacity || _entries.ContainsKey(value.GrainId))
            _entries[value.GrainId] = (value, version);
    }

    public bool Remove(GrainId key) => _entries.TryRemove(key, out _);

    public bool Remove(GrainAddress key)
        => _entries.TryGetValue(key.GrainId, out var entry) && entry.Address.Matches(key)
           && _entries.TryRemove(new KeyValuePair<GrainId, (GrainAddress, int)>(key.GrainId, entry));

    public void Clear() => _entries.Clear();

    public bool LookUp(GrainId key, out GrainAddress result, out int version)
    {
        if (_entries.TryGetValue(key, out var entry))
        {
            (result, version) = entry;
            return true;
        }
        result = default!;
        version = default;
        return false;
    }

    public IEnumerable<(GrainAddress ActivationAddress, int Version)> KeyValues => _entries.Values;
}
