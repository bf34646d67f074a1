using System.Collections.Concurrent;
using System.Reflection;
using AsdOrleans.Abstractions;

namespace AsdOrleans.Silo;

/// <summary>
/// The grains' side of <see cref="RequestGate"/>'s refusal of writes while Redis has lost the cluster's store
/// (<see cref="RedisStoreWatch.Problem"/>), or would not keep a write through its own crash (<see cref="RedisDurabilityWatch.Problem"/>,
/// refused with <see cref="ClusterStoreNotDurableException"/>; since stop 57, before which only HTTP writes were refused): a call of a method marked <see cref="StoreWriteAttribute"/> (a machine's
/// configuration, enrollment, clip, label, decline, claim, retirement; the encoder worker's ingest) is refused with
/// <see cref="ClusterStoreLostException"/> before the method runs, so nothing changes, not even in the activation's
/// memory. That is the path of the .NET client (<c>AsdClusterClient</c>, through an Orleans gateway), which the request
/// gate never sees. Every caller is refused alike: the HTTP API's writes stop at the gate before they reach a grain
/// (one that passed it just before the loss was noticed is refused here and answered 503 as the gate would), and the
/// silo's own work never calls these methods (reminders, timers, the registry's listings and accept-loss do not).
/// Reads (the methods without the mark) are taken, as GETs are. docs/decisions.md, stop 56.
/// </summary>
internal sealed class StoreLossWriteFilter(IServiceProvider services) : IIncomingGrainCallFilter
{
    private static readonly ConcurrentDictionary<MethodInfo, bool> Writes = new();
    private RedisStoreWatch? _watch;
    private RedisDurabilityWatch? _durability;
    private bool _looked;

    public Task Invoke(IIncomingGrainCallContext context)
    {
        Look();
        // The watches' problems first: null nearly always, so the method's attributes are read only while one stands.
        bool lost = _watch?.Problem is not null, notDurable = !lost && _durability?.Problem is not null;
        if ((lost || notDurable) && context.InterfaceMethod is { } method && IsWrite(method))
            throw lost ? new ClusterStoreLostException() : new ClusterStoreNotDurableException();
        return context.Invoke();
    }

    /// <summary>The silo's store and durability watches; none in an embedded silo (SQLite), whose calls all pass, and no
    /// durability watch where Asd:RequireDurableRedis is false.</summary>
    private void Look()
    {
        if (_looked) return;
        _watch = services.GetService<RedisStoreWatch>();
        _durability = services.GetService<RedisDurabilityWatch>();
        _looked = true;
    }

    internal static bool IsWrite(MethodInfo method) => Writes.GetOrAdd(method, m => m.IsDefined(typeof(StoreWriteAttribute), inherit: false));
}
