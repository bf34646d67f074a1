using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace AsdOrleans.Silo;

/// <summary>
/// Compares Redis's store marker with the one the data directory remembers every <see cref="Period"/> while a cluster silo
/// runs (<see cref="RedisStoreIdentity"/>), as the start-up check did once: a Redis restarted without its data, flushed or
/// replaced under running silos is noticed within seconds, not at the next restart. Each look also advances the store
/// clock and compares it with the newest this silo and the data directory saw (<see cref="RedisStoreClock"/>): a Redis
/// gone back to an older copy older than <see cref="Period"/> is reported and refused alike. Redis's run id (INFO server) tells
/// the log whether Redis restarted; a restart or failover that kept the marker is only logged, never a problem. While
/// <see cref="Problem"/> is set, the API refuses writes (503, no Retry-After: an operator must act, and a write into the
/// emptied store would be lost again by a restore from backup) and /readyz is 503 naming it. A Redis that cannot be
/// asked is left to the readiness check's own probe.
/// When a loss ends (accepted on this silo or another, or Redis restored) the silo drops every grain activation that
/// lived through it before it takes writes again (<see cref="StoreLossActivations"/>): they hold the lost state and its
/// versions, and would fail or corrupt their next write. Until the drop is done <see cref="Problem"/> stays set (writes
/// refused, not ready), also on a silo that missed the loss itself and sees only the store's new marker.
/// </summary>
public sealed class RedisStoreWatch(IOptions<SiloOptions> options, ILogger<RedisStoreWatch> logger, RedisStoreWatch.AtStart start, SiloRedisConnection connection,
    StoreLossActivations activations, ILocalSiloDetails? silo = null) : BackgroundService
{
    /// <summary>This silo's membership row, written back when a loss ends (null outside a silo, as in tests of the watch alone).</summary>
    private readonly RedisMembershipRow? _membership = silo is null ? null
        : new RedisMembershipRow(options.Value.ServiceId, options.Value.ClusterId, silo.SiloAddress.ToString());

    /// <summary>What the start-up check found (null when it did not run).</summary>
    public sealed record AtStart(RedisStoreIdentity.Verdict? Verdict);

    public static readonly TimeSpan Period = TimeSpan.FromSeconds(5);

    /// <summary>What an API client is told (Redis's address and the markers are the operator's: /readyz and the log).</summary>
    public const string ClientDetail = "the silo takes no writes now: the cluster's store (Redis) has lost its data (or went back to an older copy of it) or is not the cluster's; "
        + "an operator must restore it from its backup or accept the loss (the silo's log and /readyz say what)";

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly string _endpoint = RedisStartupChecks.EndpointOf(options.Value.Redis!);
    private string? _seen = start.Verdict?.Marker;
    /// <summary>The newest store clock this silo saw, of store <see cref="_seen"/> (kept through a problem: it is what Redis must reach again).</summary>
    private RedisStoreClock.Reading? _clock = start.Verdict?.Clock;
    private string? _runId;
    private string? _judged = start.Verdict?.Problem;
    private volatile string? _problem = start.Verdict?.Problem;

    /// <summary>What was lost and the operator's choices; null while Redis holds the store this silo knows.</summary>
    public string? Problem => _problem;

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        if (_problem is { } atStart)
            logger.LogError("refusing writes: {Problem}", atStart);
        using var timer = new PeriodicTimer(Period);
        do
        {
            try
            {
                await CheckAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A failed watch must not stop the silo (a BackgroundService's failure does); the next tick tries again.
                logger.LogWarning(e, "cannot compare Redis's store marker with the data directory's");
            }
        }
        while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false));
    }

    /// <summary>Judges Redis's marker now (the watch's tick, and after an accepted loss).</summary>
    public async Task CheckAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            var redis = await ConnectionAsync().ConfigureAwait(false);
            if (redis.GetServers().FirstOrDefault(s => s.IsConnected && !s.IsReplica) is not { } server) return;
            string? runId = await RunIdAsync(server).ConfigureAwait(false);
            string? before = _runId;
            _runId = runId ?? before;
            var verdict = await RedisStoreIdentity.JudgeAsync(redis.GetDatabase(), _endpoint, options.Value.ServiceId, options.Value.DataDirectory, _seen, mark: false,
                new RedisStoreClock.Look(_clock, Advance: true)).ConfigureAwait(false);
            // A loss that ends here (a restore, or an acceptance), or a store marked anew that this silo learns of only
            // now (a loss accepted on another silo before this one looked): what lived through it goes first.
            // A loss accepted here (AcceptAsync) is one too, also where this silo's watch had not judged it yet: the
            // acceptance has already set _seen to the new store, so neither test above would see it.
            if (verdict.Problem is null && (_judged is not null || _acceptedHere is not null
                || _seen is not null && verdict.Marker is not null && verdict.Marker != _seen))
                await DropLivedThroughAsync(redis.GetDatabase(), verdict.Marker).ConfigureAwait(false);
            if (verdict.Problem is null && verdict.Marker is not null)
            {
                if (verdict.Marker != _seen) _clock = null; // another store's clock
                _seen = verdict.Marker;
                _clock = verdict.Clock ?? _clock;
            }
            if (verdict.Problem is null && before is not null && runId is not null && runId != before)
                logger.LogInformation("Redis restarted or another server answers (run id {Before} → {After}); the cluster's store {Marker} is intact", before, runId, _seen);
            Set(verdict.Problem, before is null || runId is null ? null : runId != before ? "Redis restarted while this silo ran (its run id changed)"
                : verdict.Rewound is null ? "Redis did not restart (its run id is the same): its keys were flushed, deleted or replaced while this silo ran"
                : "Redis did not restart (its run id is the same): its keys were replaced by older ones while this silo ran");
            if (_problem is null && _membership is not null)
                await _membership.RememberAsync(redis.GetDatabase()).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            // unreachable or refusing: the readiness check's write probe names it; the last answer stands
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Deactivates every grain activation of this silo (<see cref="StoreLossActivations"/>) while writes are still
    /// refused: <see cref="Problem"/> is set for the drop even where this silo never saw the loss. <see cref="LastDrop"/> tells what it did.
    /// </summary>
    private async Task DropLivedThroughAsync(IDatabase redis, string? store)
    {
        bool sawLoss = _judged is not null; // the loss this silo judged; else _problem is set here (or by AcceptAsync) for the drop only
        if (!sawLoss)
            _problem = $"the cluster's store changed from {_acceptedHere ?? _seen} to {store} ({(_acceptedHere is null ? "a loss accepted on another silo" : "a loss accepted here before this silo's watch saw it")}): "
                + "this silo is dropping the grain activations that lived through it, and takes writes again once they have gone";
        var (dropped, stillGoing) = await activations.DropAllAsync(
            $"the cluster's store was lost and is now {store}: reload from it", StoreLossActivations.DropTimeout).ConfigureAwait(false);
        if (stillGoing == 0)
            logger.LogWarning("dropped the {Dropped} grain activations that lived through the loss of the cluster's store (now {Store}); each reloads from it when next called",
                dropped, store);
        else
            logger.LogError("dropped {Dropped} grain activations that lived through the loss of the cluster's store (now {Store}), but {StillGoing} had not gone "
                + "after {Timeout}: their next writes may fail with a version conflict (restart this silo if they do)", dropped, store, stillGoing, StoreLossActivations.DropTimeout);
        _lastDrop = new Drop(dropped, stillGoing);
        await RestoreMembershipRowAsync(redis).ConfigureAwait(false);
        _acceptedHere = null;
        if (!sawLoss)
        {
            _problem = null;
            logger.LogInformation("taking writes again: Redis holds the cluster's store {Marker}", store);
        }
    }

    /// <summary>Writes this silo's membership row (and the table's version) back where the loss took them
    /// (<see cref="RedisMembershipRow"/>). A failure is logged, not thrown: the store itself is sound again, and Orleans'
    /// membership then stays as the loss left it (a restart of the silo re-creates its row).</summary>
    private async Task RestoreMembershipRowAsync(IDatabase redis)
    {
        if (_membership is null) return;
        if (!_membership.Known)
        {
            logger.LogWarning("this silo's row of the membership table was never read, so it cannot be written back after the loss: restart this silo to re-create it");
            return;
        }
        try
        {
            var (row, version) = await _membership.RestoreAsync(redis).ConfigureAwait(false);
            if (row || version)
                logger.LogInformation("wrote back what the loss took from the membership table: {What}",
                    string.Join(" and ", new[] { row ? "this silo's row" : null, version ? "the table's version" : null }.OfType<string>()));
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            logger.LogWarning(e, "could not write this silo's membership row back after the loss; restart this silo to re-create it");
        }
    }

    /// <summary>A drop's activations, and how many of them had not gone in <see cref="StoreLossActivations.DropTimeout"/>.</summary>
    public sealed record Drop(int Dropped, int StillGoing);

    private volatile Drop? _lastDrop;

    /// <summary>The store whose loss was accepted on this silo, until its activations are dropped (<see cref="CheckAsync"/>).</summary>
    private volatile string? _acceptedHere;

    /// <summary>What the last drop of activations did (<see cref="DropLivedThroughAsync"/>), for the accept endpoint's answer.</summary>
    public Drop? LastDrop => _lastDrop;

    /// <summary>An operator's acceptance of the loss of store <paramref name="lost"/> (<see cref="RedisStoreIdentity.AcceptAsync"/>);
    /// answered once this silo has dropped the grain activations that lived through the loss and takes writes again.</summary>
    public async Task<(RedisStoreIdentity.AcceptedLoss? Accepted, string? Refused)> AcceptAsync(string lost, string by)
    {
        var redis = await ConnectionAsync().ConfigureAwait(false);
        var result = await RedisStoreIdentity.AcceptAsync(redis.GetDatabase(), _endpoint, options.Value.ServiceId, options.Value.DataDirectory, _seen, lost, by, _clock)
            .ConfigureAwait(false);
        if (result.Accepted is { } accepted)
        {
            if (accepted.OlderCopy is null)
                logger.LogWarning("the loss of the cluster's store {Lost} was accepted by {By}: Redis's store is now {Store}; machines stored before are gone",
                    accepted.Lost, accepted.By, accepted.Store);
            else
                logger.LogWarning("the loss of what an older copy of the cluster's store {Lost} lacks was accepted by {By} ({OlderCopy}): Redis's store is now {Store}; "
                    + "what was stored after the copy was taken is gone", accepted.Lost, accepted.By, accepted.OlderCopy, accepted.Store);
            // What lived through the loss is dropped (CheckAsync) even where this silo's watch had not judged the loss yet
            // (an acceptance within its Period of the loss, or while its looks failed): writes wait for the drop.
            _acceptedHere = accepted.Lost;
            _problem ??= $"the loss of the cluster's store {accepted.Lost} was accepted here: this silo is dropping the grain activations that lived through it";
            _seen = accepted.Store;
            _clock = null; // the new store's clock is Redis's as it is: adopted at the next look
            await CheckAsync().ConfigureAwait(false);
        }
        return result;
    }

    /// <summary>The silo's one connection (<see cref="SiloRedisConnection"/>: admin commands allowed for INFO).</summary>
    private Task<ConnectionMultiplexer> ConnectionAsync() => connection.ConnectAsync();

    /// <summary>Redis's run id, new at every start of redis-server; null where INFO is refused (a managed Redis may), which
    /// only takes the restart's mention from the log: the marker is what decides.</summary>
    private static async Task<string?> RunIdAsync(IServer server)
    {
        try
        {
            return RunId(await server.InfoRawAsync("server").ConfigureAwait(false));
        }
        catch (RedisServerException)
        {
            return null;
        }
    }

    internal static string? RunId(string? info)
        => info?.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("run_id:", StringComparison.Ordinal))?["run_id:".Length..];

    /// <summary>Logs a problem when it starts (error, with <paramref name="seenWhileRunning"/>) and when it ends (information).</summary>
    private void Set(string? problem, string? seenWhileRunning)
    {
        if (problem == _judged) return;
        _judged = problem;
        _problem = problem is null ? null : seenWhileRunning is null ? problem : $"{problem}. Seen while this silo ran: {seenWhileRunning}";
        if (problem is not null)
            logger.LogError("refusing writes: {Problem}", _problem);
        else
            logger.LogInformation("taking writes again: Redis holds the cluster's store {Marker}", _seen);
    }

    public override void Dispose()
    {
        // The connection is the silo's (SiloRedisConnection), not this watch's; the gate is not disposed: a look that
        // outlived the stop may still release it.
        base.Dispose();
    }
}
