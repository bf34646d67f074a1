using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using AsdOrleans.Grains.Placement;
using Orleans.Metadata;

namespace AsdOrleans.Silo;

/// <summary>
/// Every grain activation of this silo, so that the ones that lived through a loss of the cluster's store can be dropped
/// (<see cref="DropAllAsync"/>) when the loss ends (<see cref="RedisStoreWatch"/>: accepted, on this silo or another, or
/// Redis restored). An activation that lived through it holds the lost state in memory, and Orleans' version of it (the
/// storage ETag): its next write into the new store fails with <c>InconsistentStateException</c> (a registry shard's,
/// so machines configured again were never listed; a stream pub-sub grain's), or, where the versions happen to agree
/// (a restore), writes lost state back or mixes it with new writes. Dropped, the next call activates the grain anew, and
/// it reads the store as it now is: the simplest correct answer for every grain alike (re-reading and merging would be
/// wrong for a machine, whose lost labels must not come back). Orleans' own <c>IManagementGrain.ForceActivationCollection</c>
/// would not do: it skips activations that are busy, recently used within the age limit or kept alive, and its call
/// answers before they have gone. Orleans tells this class of each activation as it is created
/// (<see cref="IConfigureGrainContextProvider"/>, a public hook of the runtime), and each one's end (its
/// <see cref="IGrainContext.Deactivated"/> task) removes it. Stateless workers (the encoder workers) are left alone: they
/// hold no stored state, and their context's <c>Deactivated</c> is no lifetime. docs/decisions.md, "after an accepted loss,
/// grains reload from the store". The same list serves spreading machines onto a silo that joined (<see cref="MachineSpreader"/>,
/// <see cref="Take{TGrain}"/>): deactivated, each is woken on that silo and reads its state from the store.
/// </summary>
public sealed class StoreLossActivations : IConfigureGrainContextProvider, IConfigureGrainContext
{
    /// <summary>How long a drop waits for the activations to finish what they run and go (Orleans' own deactivation
    /// timeout cuts a stuck one short, one minute by default).</summary>
    public static readonly TimeSpan DropTimeout = TimeSpan.FromSeconds(90);

    private readonly ConcurrentDictionary<IGrainContext, byte> _live = new(ReferenceEqualityComparer.Instance);

    /// <summary>The activations alive now (for tests and the log).</summary>
    public int Count => _live.Count;

    bool IConfigureGrainContextProvider.TryGetConfigurator(GrainType grainType, GrainProperties properties, [NotNullWhen(true)] out IConfigureGrainContext? configurator)
    {
        bool statelessWorker = properties.Properties.TryGetValue(WellKnownGrainTypeProperties.PlacementStrategy, out var placement)
            && placement == "StatelessWorkerPlacement"; // Orleans names the strategy by its (internal) class
        configurator = statelessWorker ? null : this;
        return !statelessWorker;
    }

    void IConfigureGrainContext.Configure(IGrainContext context)
    {
        _live.TryAdd(context, 0);
        context.Deactivated.ContinueWith(static (task, state) =>
        {
            var (live, ended) = ((ConcurrentDictionary<IGrainContext, byte>, IGrainContext))state!;
            live.TryRemove(ended, out _);
        }, (_live, context), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>
    /// Deactivates every activation alive now and waits until all have gone (or <paramref name="timeout"/> passed).
    /// Each finishes the call it runs first; calls that come meanwhile wait for it and then reach a new activation,
    /// which reads its state from the store. Returns how many were dropped and how many had not gone in time.
    /// </summary>
    public Task<(int Dropped, int StillGoing)> DropAllAsync(string why, TimeSpan timeout)
        => DeactivateAsync(_live.Keys.ToList(), why, timeout);

    /// <summary>
    /// Up to <paramref name="count"/> activations of grain class <typeparamref name="TGrain"/> alive now (activated: an
    /// activation still starting has no instance yet), for <see cref="MachineSpreader"/> to move to another silo.
    /// </summary>
    public List<IGrainContext> Take<TGrain>(int count) where TGrain : class
        => _live.Keys.Where(c => c.GrainInstance is TGrain && !c.Deactivated.IsCompleted).Take(Math.Max(0, count)).ToList();

    /// <summary>The activations alive now whose grain class may only live on a silo with <paramref name="role"/>
    /// (<see cref="RequiresSiloRoleAttribute"/>): for the machines role, machines and their registry shards, alert index
    /// and webhook grains.</summary>
    public List<IGrainContext> TakeOfRole(string role)
        => _live.Keys.Where(c => c.GrainInstance is { } grain && RoleOf(grain.GetType()) == role && !c.Deactivated.IsCompleted).ToList();

    private static readonly ConcurrentDictionary<Type, string?> RolesByClass = new();

    private static string? RoleOf(Type grainClass)
        => RolesByClass.GetOrAdd(grainClass, static type => type.GetCustomAttribute<RequiresSiloRoleAttribute>()?.Role);

    /// <summary>
    /// Deactivates <paramref name="contexts"/> (the ordinary path: each flushes in its OnDeactivateAsync and leaves the
    /// grain directory) for the reason <paramref name="code"/>, and waits until all have gone, <paramref name="timeout"/>
    /// passed or <paramref name="cancellation"/> fired; returns how many were asked and how many had not gone by then.
    /// </summary>
    public static async Task<(int Dropped, int StillGoing)> DeactivateAsync(IReadOnlyList<IGrainContext> contexts, string why, TimeSpan timeout,
        DeactivationReasonCode code = DeactivationReasonCode.ApplicationRequested, CancellationToken cancellation = default)
    {
        var reason = new DeactivationReason(code, why);
        foreach (var context in contexts)
            context.Deactivate(reason, CancellationToken.None);
        var all = Task.WhenAll(contexts.Select(c => c.Deactivated));
        try
        {
            await all.WaitAsync(timeout, cancellation).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
        }
        return (contexts.Count, contexts.Count(c => !c.Deactivated.IsCompleted));
    }
}
