using System.Text.Json;
using System.Text.RegularExpressions;
using StackExchange.Redis;

namespace AsdOrleans.Silo;

/// <summary>A silo that cannot start as configured; the message says what to change.</summary>
public sealed class SiloConfigurationException(string message, Exception? inner = null) : InvalidOperationException(message, inner);

/// <summary>
/// What a cluster silo checks in Redis before it starts, over one connection:
/// <list type="bullet">
/// <item>Redis answers and takes a write (always: also with Asd:RequireDurableRedis = false, else Orleans fails later with
/// stack traces): not a read-only replica, not full, the credentials accepted, an ACL user's rights enough
/// (<see cref="RedisWriteProbe"/>; <see cref="RedisRefusals"/> names each);</item>
/// <item>durability: cluster silos acknowledge a label once Redis has it, which survives a Redis crash only with the
/// append-only file fsynced on every write (docs/design.md §2), unless told that is the Redis provider's business
/// (Asd:RequireDurableRedis = false);</item>
/// <item>no live silo of another cluster id of this service: grain state keys carry the service id only, so two cluster
/// ids over one service would each activate the same machine and lose writes on version conflicts;</item>
/// <item>a service id with no data where other services have some (a typo gives an empty cluster): a warning only,
/// since a new service on a shared Redis is legitimate.</item>
/// </list>
/// </summary>
public static partial class RedisStartupChecks
{
    /// <summary>What the address must look like, for the messages that refuse one.</summary>
    public const string AddressForm = "Asd:Redis (--cluster, Asd__Redis) is host:port[,options], a StackExchange.Redis configuration string, not a redis:// URL";

    /// <summary>A URL's user and password replaced by "…": the refusal is printed and logged.</summary>
    public static string WithoutCredentials(string url)
    {
        // The last '@' ends the credentials: a password may hold '@' or '/' itself.
        int scheme = url.IndexOf("://", StringComparison.Ordinal);
        int at = scheme < 0 ? -1 : url.LastIndexOf('@');
        return at < scheme + 3 ? url : url[..(scheme + 3)] + "…" + url[at..];
    }

    /// <summary>Throws <see cref="SiloConfigurationException"/> for a refusal; returns a warning for stderr, or null.</summary>
    /// <param name="staleAfter">How long an Active membership entry may go without an IAmAlive before it counts as a dead
    /// silo's (Orleans' ClusterMembershipOptions.AllowedIAmAliveMissPeriod).</param>
    public static string? Check(string connection, bool requireDurable, string clusterId, string serviceId, TimeSpan staleAfter)
    {
        if (connection.Contains("://", StringComparison.Ordinal))
            throw new SiloConfigurationException($"Redis address '{WithoutCredentials(connection)}' is a URL: {AddressForm} (e.g. 127.0.0.1:6379 or redis:6379,password=…)");
        var options = ConfigurationOptions.Parse(connection);
        options.AllowAdmin = true; // CONFIG GET is an admin command
        options.AbortOnConnectFail = true; // fail here, once, rather than retry in the background
        options.ConnectTimeout = 10_000;
        string endpoint = options.EndPoints.FirstOrDefault()?.ToString() ?? connection;
        try
        {
            using var redis = ConnectionMultiplexer.Connect(options);
            var server = Primary(redis, endpoint);
            // A full Redis, or one refusing the silo's user, is named now, not in Orleans' first failed membership write.
            RedisWriteProbe.ProveAsync(redis.GetDatabase(), serviceId, "startup").GetAwaiter().GetResult();
            if (requireDurable)
                RequireDurable(server, endpoint);
            RequireNoLiveSiloOfAnotherCluster(redis, server, endpoint, clusterId, serviceId, staleAfter);
            return OtherServicesOnly(server, endpoint, serviceId);
        }
        catch (RedisException e) when (RedisRefusals.Of(e) is { } refusal)
        {
            throw new SiloConfigurationException($"Redis at '{endpoint}' {RedisRefusals.ProblemIn(refusal, e)}", e);
        }
        catch (RedisConnectionException e)
        {
            throw new SiloConfigurationException($"cannot reach Redis at '{endpoint}' to join the cluster: {WithoutAbortConnectAdvice(e.Message)} ({AddressForm})", e);
        }
        catch (RedisTimeoutException e)
        {
            throw new SiloConfigurationException($"Redis at '{endpoint}' did not answer in time while the silo checked it: {WithoutAbortConnectAdvice(e.Message.Split(',')[0])}", e);
        }
    }

    /// <summary>StackExchange.Redis advises abortConnect=false on a failed connect; the silo sets it back (it must fail
    /// at start), so the advice would do nothing.</summary>
    private static string WithoutAbortConnectAdvice(string message) => AbortConnectAdvice().Replace(message, "").Trim();

    [GeneratedRegex(@"\s*To allow this multiplexer to continue retrying[^.]*\.(\s*in your code\.)?|\s*[^.]*abortConnect=false[^.]*\.", RegexOptions.IgnoreCase)]
    private static partial Regex AbortConnectAdvice();

    /// <summary>The server the silo writes to; a configuration of read-only replicas only is refused (Orleans would fail
    /// its first membership write with stack traces).</summary>
    private static IServer Primary(ConnectionMultiplexer redis, string endpoint)
    {
        var servers = redis.GetServers();
        if (servers.FirstOrDefault(s => !s.IsReplica) is { } primary)
            return primary;
        string primaryAddress = servers[0].Role() is Role.Replica replica ? $"; its primary is {replica.MasterIp}:{replica.MasterPort}" : "";
        throw new SiloConfigurationException($"Redis at '{endpoint}' {RedisRefusals.ReadOnlyReplica.Problem}{primaryAddress}");
    }

    private static void RequireDurable(IServer server, string endpoint)
    {
        KeyValuePair<string, string>[] settings;
        try
        {
            settings = server.ConfigGet(DurabilitySettings);
        }
        catch (RedisServerException e)
        {
            string grant = RedisRefusals.Of(e) == RedisRefusals.NoPermission ? "grant the silo's ACL user +config|get, or, " : "";
            throw new SiloConfigurationException(
                $"cannot read Redis's durability settings (CONFIG GET: {e.Message}); {grant}if the Redis service itself guarantees that acknowledged " +
                "writes survive a crash (append-only file fsynced on every write), start the silo with Asd:RequireDurableRedis=false", e);
        }
        if (DurabilityProblem(endpoint, settings) is { } problem)
            throw new SiloConfigurationException(problem + ", or start the silo with Asd:RequireDurableRedis=false to accept that risk");
    }

    /// <summary>Why Redis's append-only settings could lose acknowledged writes, or null; the start-up check and the running
    /// silo's <see cref="RedisDurabilityWatch"/> say it in the same words.</summary>
    public static string? DurabilityProblem(string endpoint, IEnumerable<KeyValuePair<string, string>> settings)
    {
        var read = settings.ToDictionary(p => p.Key, p => p.Value, StringComparer.OrdinalIgnoreCase);
        return DurabilityProblem(endpoint, read.GetValueOrDefault("appendonly", "?"), read.GetValueOrDefault("appendfsync", "?"));
    }

    /// <summary>The CONFIG GET pattern that <see cref="DurabilityProblem(string, IEnumerable{KeyValuePair{string, string}})"/> reads.</summary>
    public const string DurabilitySettings = "append*";

    private static string? DurabilityProblem(string endpoint, string appendOnly, string appendFsync)
        => appendOnly == "yes" && appendFsync == "always" ? null
            : $"Redis at '{endpoint}' has appendonly {appendOnly} and appendfsync {appendFsync}: a crash of Redis could lose " +
              "acknowledged labels. Run it with 'appendonly yes' and 'appendfsync always' in redis.conf (redis-cli CONFIG SET appendonly yes; " +
              "CONFIG SET appendfsync always; then CONFIG REWRITE, or a restart of Redis undoes them)";

    /// <summary>Orleans' Redis membership table: one hash per cluster, "{ServiceId}/members/{ClusterId}", a field
    /// "Version" and one field per silo address holding its MembershipEntry as JSON (Newtonsoft: Status a number).</summary>
    private static string MembersPrefix(string serviceId) => $"{serviceId}/members/";

    private static void RequireNoLiveSiloOfAnotherCluster(ConnectionMultiplexer redis, IServer server, string endpoint, string clusterId, string serviceId, TimeSpan staleAfter)
    {
        string prefix = MembersPrefix(serviceId);
        var db = redis.GetDatabase();
        var now = DateTimeOffset.UtcNow;
        foreach (var key in server.Keys(pattern: GlobEscape(prefix) + "*", pageSize: 1000))
        {
            string other = key.ToString()[prefix.Length..];
            if (other == clusterId || db.KeyType(key) != RedisType.Hash) continue;
            var live = db.HashGetAll(key)
                .Where(f => f.Name != "Version")
                .Select(f => LiveSince(f.Value, now - staleAfter))
                .Where(alive => alive is not null)
                .ToList();
            if (live.Count == 0) continue; // dead or stale silos of an old cluster id: nothing runs there
            var latest = live.Max()!.Value;
            throw new SiloConfigurationException(
                $"Redis at '{endpoint}' holds {live.Count} live silo(s) of cluster '{other}' of service '{serviceId}' (last alive {(now - latest).TotalSeconds:0} s ago), "
                + $"and this silo's cluster id is '{clusterId}' (Asd:ClusterId, Asd__ClusterId): two clusters over one service's stored state would both "
                + $"activate the same machines and lose writes. Give every silo of the service the same cluster id ('{other}'), or stop cluster '{other}' first");
        }
    }

    /// <summary>The entry's last sign of life when it is Active and not older than <paramref name="notBefore"/>; else null
    /// (also for an entry this check cannot read: it must not block a start).</summary>
    internal static DateTimeOffset? LiveSince(RedisValue entry, DateTimeOffset notBefore)
    {
        try
        {
            var json = JsonDocument.Parse(entry.ToString()).RootElement;
            var status = json.GetProperty("Status");
            bool active = status.ValueKind == JsonValueKind.Number ? status.GetInt32() == (int)Orleans.Runtime.SiloStatus.Active
                : status.GetString() == nameof(Orleans.Runtime.SiloStatus.Active);
            if (!active) return null;
            DateTimeOffset Time(string name) => json.TryGetProperty(name, out var t) && t.TryGetDateTimeOffset(out var value) ? value : DateTimeOffset.MinValue;
            var alive = Time("IAmAliveTime") > Time("StartTime") ? Time("IAmAliveTime") : Time("StartTime");
            return alive >= notBefore ? alive : null;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            return null;
        }
    }

    private static string? OtherServicesOnly(IServer server, string endpoint, string serviceId)
    {
        if (server.Keys(pattern: GlobEscape(MembersPrefix(serviceId)) + "*", pageSize: 1000).Any()) return null;
        var others = server.Keys(pattern: "*/members/*", pageSize: 1000)
            .Select(k => k.ToString()).Select(k => k[..k.IndexOf("/members/", StringComparison.Ordinal)])
            .Distinct().Order(StringComparer.Ordinal).Take(5).ToList();
        if (others.Count == 0) return null;
        return $"warning: Redis at '{endpoint}' holds the data of service(s) {string.Join(", ", others.Select(o => $"'{o}'"))} and none of this silo's service id "
            + $"'{serviceId}' (Asd:ServiceId, Asd__ServiceId): this silo starts a new, empty service, whose machines must be enrolled again. "
            + $"If it should join {(others.Count == 1 ? $"'{others[0]}'" : "one of them")}, stop it and give it that service id";
    }

    private static string GlobEscape(string text) => GlobSpecial().Replace(text, @"\$0");

    [GeneratedRegex(@"[*?\[\]\\^]")]
    private static partial Regex GlobSpecial();
}
