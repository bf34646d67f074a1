using System.Text.Json;
using AsdOrleans.Abstractions;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace AsdOrleans.Silo;

/// <summary>
/// /healthz: the process answers (liveness, no checks). /readyz: this silo can take work, so 503 while the data
/// directory cannot be written, its grain state store (SQLite embedded, Redis in a cluster) cannot take a write,
/// Redis has lost the cluster's store (<see cref="RedisStoreWatch"/>), or the cluster does not answer. Every silo of a cluster shares the Redis, so a Redis refusing writes makes all of
/// them not ready together: intended (docs/deploy.md, Readiness).
/// </summary>
public static class SiloHealthChecks
{
    private static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(5);
    /// <summary>A write and a delete take milliseconds; under the chart's 5 s probe timeout, so that a Redis that hangs
    /// is named in the answer rather than the probe timing out.</summary>
    private static readonly TimeSpan RedisCheckTimeout = TimeSpan.FromSeconds(3);
    /// <summary>Within the check's own timeout, how long Redis may take to answer before the check says it does not (the
    /// framework's timeout would answer "A timeout occurred while running check.", naming nothing).</summary>
    private static readonly TimeSpan RedisAnswerTimeout = TimeSpan.FromSeconds(2.5);

    /// <summary>How long a write Redis took stands for readiness: a refusal shows within this (plus the probe's period).</summary>
    internal static readonly TimeSpan RedisWriteProofLifetime = TimeSpan.FromSeconds(5);

    public static void AddSiloHealthChecks(this IServiceCollection services, SiloOptions options)
    {
        var checks = services.AddHealthChecks()
            .AddCheck<DataDirectoryCheck>("data-directory", timeout: CheckTimeout)
            .AddCheck<ClusterCheck>("cluster", timeout: CheckTimeout);
        if (string.IsNullOrWhiteSpace(options.Redis))
            checks.AddCheck<SqliteCheck>("sqlite", timeout: CheckTimeout);
        else
        {
            services.AddSingleton<RedisCheck>();
            checks.AddCheck<RedisCheck>("redis", timeout: RedisCheckTimeout);
            AddWatch<RedisStoreWatch>(services, checks, "redis-store", watch => watch.Problem);
            if (options.RequireDurableRedis)
                AddWatch<RedisDurabilityWatch>(services, checks, "redis-durability", watch => watch.Problem);
        }
    }

    /// <summary>A background watch of Redis (one instance: the request gate asks it too) and the readiness check that
    /// reports its last finding: unhealthy with the watch's problem while it has one.</summary>
    private static void AddWatch<TWatch>(IServiceCollection services, IHealthChecksBuilder checks, string name, Func<TWatch, string?> problem)
        where TWatch : class, IHostedService
    {
        services.AddSingleton<TWatch>();
        services.AddHostedService(provider => provider.GetRequiredService<TWatch>());
        checks.Add(new HealthCheckRegistration(name, provider => new WatchCheck(() => problem(provider.GetRequiredService<TWatch>())),
            failureStatus: null, tags: null, timeout: CheckTimeout));
    }

    public static void MapSiloHealthChecks(this WebApplication app)
    {
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = Write });
        app.MapHealthChecks("/readyz", new HealthCheckOptions { ResponseWriter = Write });
    }

    private static Task Write(HttpContext http, HealthReport report)
    {
        http.Response.ContentType = "application/json";
        if (report.Status == HealthStatus.Unhealthy) http.Response.Headers.RetryAfter = "10";
        return http.Response.WriteAsync(JsonSerializer.Serialize(new
        {
            status = report.Status == HealthStatus.Healthy ? "ok" : report.Status.ToString().ToLowerInvariant(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString().ToLowerInvariant(), description = e.Value.Description ?? e.Value.Exception?.Message }),
        }));
    }

    /// <summary>Writes, flushes and deletes a probe file in the data directory and in the clip audio folder.</summary>
    private sealed class DataDirectoryCheck(IOptions<SiloOptions> options, ClipAudioStore audio) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellation)
        {
            foreach (var folder in new[] { Path.GetFullPath(options.Value.DataDirectory), audio.Root })
            {
                string probe = Path.Combine(folder, ".ready-probe-" + Guid.NewGuid().ToString("N"));
                try
                {
                    Directory.CreateDirectory(folder);
                    await using (var file = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.WriteThrough))
                        await file.WriteAsync(new byte[4096], cancellation);
                    File.Delete(probe);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    return HealthCheckResult.Unhealthy($"{folder} cannot be written: {e.Message}", e);
                }
            }
            return HealthCheckResult.Healthy();
        }
    }

    /// <summary>Takes SQLite's write lock on the grain database and lets go (fails when it is read-only or locked). A file
    /// the storage found damaged (its check after opening, or a read) is "degraded": still 200, since the machines on
    /// sound pages are served, but the answer names the damage for the operator.</summary>
    private sealed class SqliteCheck(IOptions<SiloOptions> options, IServiceProvider services) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellation)
        {
            string path = Path.Combine(Path.GetFullPath(options.Value.DataDirectory), "grains.db");
            if (services.GetKeyedService<Orleans.Storage.IGrainStorage>(AsdOrleans.Grains.MachineGrain.StorageName) is AsdOrleans.Storage.Sqlite.SqliteGrainStorage { Damage: { } damage })
                return HealthCheckResult.Degraded($"{path} is damaged ({damage}); {AsdOrleans.Storage.Sqlite.SqliteGrainStorageCorruptException.Remedy}");
            try
            {
                await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWrite, DefaultTimeout = 2 }.ToString());
                await connection.OpenAsync(cancellation);
                await using var command = connection.CreateCommand();
                command.CommandText = "BEGIN IMMEDIATE; ROLLBACK;";
                await command.ExecuteNonQueryAsync(cancellation);
                return HealthCheckResult.Healthy();
            }
            catch (SqliteException e)
            {
                return HealthCheckResult.Unhealthy($"{path}: {e.Message}", e);
            }
        }
    }

    /// <summary>
    /// Redis takes a write of the service's (<see cref="RedisWriteProbe"/>), over the silo's one connection (<see cref="SiloRedisConnection"/>, the providers' too): a
    /// Redis that answers PING but is full, a read-only replica (a failover demoted it) or refuses the silo's ACL user would
    /// fail every write, every label included, so the silo is not ready, and the result names the refusal as
    /// <see cref="RedisRefusals"/> does. A write is proven at most every <see cref="RedisWriteProofLifetime"/>, so that a probe
    /// every second does not write every second; between proofs a PING still tells at once that Redis stopped answering.
    /// Without a connection (Redis stopped, or refusing the reconnections: a changed password), a fresh one tells which
    /// (<see cref="UnreachableRedisDiagnosis"/>).
    /// With no API traffic reaching a not-ready silo, its log says why: a refusal is logged when it starts and ends.
    /// </summary>
    private sealed class RedisCheck(IOptions<SiloOptions> options, SiloRedisConnection connection, UnreachableRedisDiagnosis unreachable, ILoggerFactory loggers) : IHealthCheck
    {
        private readonly ILogger _logger = loggers.CreateLogger("AsdOrleans.Silo.Readiness");
        private readonly Lock _gate = new();
        private Task<string?>? _proof; // the refusal's line for an operator, null once the write was taken
        private long _proofStarted;
        private string? _reported;

        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellation)
        {
            using var answer = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            answer.CancelAfter(RedisAnswerTimeout);
            try
            {
                var redis = await connection.ConnectAsync().WaitAsync(answer.Token); // the silo's one connection, the providers' too
                if (!redis.IsConnected) // a command would wait for a connection past this check's timeout
                    return await Unreachable(null, cancellation);
                var db = redis.GetDatabase();
                var (proof, earlier) = WriteProof(db);
                if (await proof.WaitAsync(answer.Token) is { } refused)
                    return HealthCheckResult.Unhealthy($"Redis {refused}");
                if (earlier)
                    await db.PingAsync().WaitAsync(answer.Token);
                return HealthCheckResult.Healthy();
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                return await Unreachable(e, cancellation);
            }
            catch (OperationCanceledException) when (answer.IsCancellationRequested)
            {
                // Stopped just now, or hanging: the connection has not noticed yet, and a command waits. Also where the
                // check's own timeout (or the request's end) came first: the 2.5 s fired too, but its continuation can wait
                // past 3 s for a thread on loaded cores, and rethrowing would give the framework's bare timeout text again.
                return HealthCheckResult.Unhealthy($"Redis does not answer: no reply within {RedisAnswerTimeout.TotalSeconds:0.#} s");
            }
        }

        /// <summary>Not ready: the refusal a fresh connection meets, else Redis does not answer.</summary>
        private async Task<HealthCheckResult> Unreachable(Exception? failure, CancellationToken cancellation)
        {
            if (await unreachable.RefusalAsync().WaitAsync(cancellation) is { } refusal)
            {
                Report(refusal.Problem);
                return HealthCheckResult.Unhealthy($"Redis {refusal.Problem}", failure);
            }
            return HealthCheckResult.Unhealthy($"Redis does not answer: {failure?.Message ?? "the silo has no connection to it"}", failure);
        }

        /// <summary>The proof under way or younger than <see cref="RedisWriteProofLifetime"/> (<c>Earlier</c>), else a new one;
        /// a proof that failed without Redis's refusal (unreachable, timed out) is not kept.</summary>
        private (Task<string?> Proof, bool Earlier) WriteProof(IDatabase db)
        {
            lock (_gate)
            {
                if (_proof is { IsFaulted: false, IsCanceled: false } kept && Environment.TickCount64 - _proofStarted < RedisWriteProofLifetime.TotalMilliseconds)
                    return (kept, true);
                _proofStarted = Environment.TickCount64;
                return (_proof = Prove(db), false);
            }
        }

        private async Task<string?> Prove(IDatabase db)
        {
            string? refused = null;
            try
            {
                await RedisWriteProbe.ProveAsync(db, options.Value.ServiceId, "ready");
            }
            catch (RedisException e) when (RedisRefusals.Of(e) is { } refusal)
            {
                refused = RedisRefusals.ProblemIn(refusal, e);
            }
            Report(refused);
            return refused;
        }

        /// <summary>Logs a refusal when it starts (error) and when Redis takes writes again (information).</summary>
        private void Report(string? refused)
        {
            lock (_gate)
            {
                if (refused == _reported) return;
                _reported = refused;
            }
            if (refused is not null)
                _logger.LogError("not ready: Redis {Problem}", refused);
            else
                _logger.LogInformation("ready again: Redis takes writes");
        }
    }

    /// <summary>A watch's last finding (<see cref="RedisDurabilityWatch"/>: the append-only file fsynced on every write;
    /// <see cref="RedisStoreWatch"/>: Redis holds the cluster's store).</summary>
    private sealed class WatchCheck(Func<string?> problem) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellation)
            => Task.FromResult(problem() is { } found ? HealthCheckResult.Unhealthy(found) : HealthCheckResult.Healthy());
    }

    /// <summary>The machine registry answers through Orleans (the cluster is up and this silo is part of it).</summary>
    private sealed class ClusterCheck(IClusterClient client) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellation)
        {
            try
            {
                await client.GetGrain<IMachineRegistryGrain>(0).Count().WaitAsync(cancellation); // every registry shard answers
                return HealthCheckResult.Healthy();
            }
            catch (Exception e) when (ApiFaults.Classify(e) is not null)
            {
                return HealthCheckResult.Unhealthy($"the cluster does not answer: {e.Message}", e);
            }
            catch (Exception e) when (ApiFaults.IsStorageDamage(e))
            {
                // The cluster answered; the registry's row lies on a damaged page, which the sqlite check names.
                return HealthCheckResult.Healthy("the cluster answers; the registry's stored state is damaged");
            }
        }
    }
}
