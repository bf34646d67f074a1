using System.Collections.Concurrent;

namespace AsdOrleans.Grains.Placement;

/// <summary>
/// Silos that said they are stopping (a silo hands its machines over before it leaves the membership): placement puts
/// no new activation there while another candidate is left (<see cref="SiloRoleFilterDirector"/>). Each silo keeps its
/// own list, told over Orleans' control channel; a silo address names one run of a silo (its generation), so a silo
/// that restarts is a new address and is not on it. An entry is dropped when another is added <see cref="KeptFor"/> or
/// more after it (long after its silo has gone from the membership); until then it only costs its bytes.
/// </summary>
public sealed class LeavingSilos(TimeProvider? clock = null)
{
    public static readonly TimeSpan KeptFor = TimeSpan.FromMinutes(30);
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly ConcurrentDictionary<SiloAddress, DateTimeOffset> _since = new();

    public void Add(SiloAddress silo)
    {
        var now = _clock.GetUtcNow();
        _since[silo] = now;
        foreach (var (old, at) in _since)
            if (now - at > KeptFor)
                _since.TryRemove(old, out _);
    }

    public bool Contains(SiloAddress silo) => !_since.IsEmpty && _since.ContainsKey(silo);

    /// <summary>The silos kept, less those leaving, unless that leaves none: a grain placed on a stopping silo moves
    /// again as it stops, which beats a call that fails.</summary>
    public List<SiloAddress> Staying(List<SiloAddress> silos)
    {
        if (_since.IsEmpty) return silos;
        var staying = silos.Where(s => !_since.ContainsKey(s)).ToList();
        return staying.Count > 0 ? staying : silos;
    }
}
