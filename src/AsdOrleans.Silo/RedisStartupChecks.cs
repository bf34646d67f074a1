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
/// since a new service on a shared Redis is legitimate;</item>
/// <item>Redis's store marker against the data directory's (<see cref="RedisStoreIdentity"/>), and its store clock
/// (<see cref="RedisStoreClock"/>): a Redis that lost its data, or went back to an older copy of it, is handed to <see cref="RedisStoreWatch"/>, which keeps the silo not ready and refusing writes.</item>
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
    /// <param name="dataDirectory">This silo's data directory, whose clip audio every silo of the cluster must share
    /// (<see cref="SharedClipVolume"/>); null skips that check.</param>
    public static string? Check(string connection, bool requireDurable, string clusterId, string serviceId, TimeSpan staleAfter, string? dataDirectory = null)
        => Check(connection, requireDurable, clusterId, serviceId, staleAfter, dataDirectory, out _);

    /// <param name="store">With a data directory: Redis's store marker compared with the directory's, a fresh store marked
    /// (<see cref="RedisStoreIdentity"/>); a lost store is not refused here but handed to <see cref="RedisStoreWatch"/>, so
    /// that the silo runs, says it on /readyz and takes the operator's acceptance.</param>
    public static string? Check(string connection, bool requireDurable, string clusterId, string serviceId, TimeSpan staleAfter, string? dataDirectory,
        out RedisStoreIdentity.Verdict? store)
    {
        store = null;
        if (connection.Contains("://", StringComparison.Ordinal))
            throw new SiloConfigurationException($"Redis address '{WithoutCredentials(connection)}' is a URL: {AddressForm} (e.g. 127.0.0.1:6379 or redis:6379,password=…)");
        var options = ConfigurationOptions.Parse(connection);
        options.AllowAdmin = true; // CONFIG GET is an admin command
        options.AbortOnConnectFail = true; // fail here, once, rather than retry in the background
        options.ConnectTimeout = 10_000;
        string endpoint = EndpointOf(options, connection);
        try
        {
            using var redis = ConnectionMultiplexer.Connect(options);
            var server = Primary(redis, endpoint);
            // A full Redis, or one refusing the silo's user, is named now, not in Orleans' first failed membership write.
            RedisWriteProbe.ProveAsync(redis.GetDatabase(), serviceId, "startup").GetAwaiter().GetResult();
            if (requireDurable)
                RequireDurable(server, endpoint);
            RequireNoLiveSiloOfAnotherCluster(redis, server, endpoint, clusterId, serviceId, staleAfter);
            if (dataDirectory is not null)
                store = RedisStoreIdentity.JudgeAsync(redis.GetDatabase(), endpoint, serviceId, dataDirectory, seen: null, mark: true,
                    new RedisStoreClock.Look(Seen: null, Advance: true)).GetAwaiter().GetResult();
            string? volume = dataDirectory is null ? null : SharedClipVolume(redis.GetDatabase(), serviceId, dataDirectory);
            string? others = OtherServicesOnly(server, endpoint, serviceId);
            return volume is null ? others : others is null ? volume : others + Environment.NewLine + volume;
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

    /// <summary>Redis's address as the checks name it (the first endpoint of the configuration).</summary>
    public static string EndpointOf(string connection) => EndpointOf(ConfigurationOptions.Parse(connection), connection);

    private static string EndpointOf(ConfigurationOptions options, string connection) => options.EndPoints.FirstOrDefault()?.ToString() ?? connection;

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

    /// <summary>The file in a data directory that names the clip volume it is (a GUID), and the Redis key that names the
    /// cluster's.</summary>
    public const string VolumeFile = "clip-volume.id";
    public static string VolumeKey(string serviceId) => $"{serviceId}/clip-volume";

    /// <summary>
    /// Whether this silo's data directory is the one the cluster's silos share. Queried clips' audio is stored by the silo
    /// that took the upload, and a label request is played, moved and deleted by whichever silo serves the labeller or
    /// holds the machine, so every silo must see one volume (docs/deploy.md). The first silo to find no volume named in
    /// Redis names it: a GUID written to <see cref="VolumeFile"/> (created only if absent, so silos starting together on
    /// one volume agree) and then set in Redis if absent. A silo whose directory holds another GUID, or none while Redis
    /// names one, does not share it: a warning (not a refusal: a one-silo trial on an emptyDir is fine, and a wiped volume
    /// says the same), since its labellers would get 404 for requests stored on the others, and the others 404 for its own.
    /// </summary>
    public static string? SharedClipVolume(IDatabase db, string serviceId, string dataDirectory)
    {
        string directory = Path.GetFullPath(dataDirectory);
        string file = Path.Combine(directory, VolumeFile);
        string? named = db.StringGet(VolumeKey(serviceId));
        string? here = ReadVolumeFile(file);
        if (named is null)
        {
            if (here is null)
            {
                try
                {
                    Directory.CreateDirectory(directory);
                    using (var created = new FileStream(file, FileMode.CreateNew, FileAccess.Write))
                    using (var writer = new StreamWriter(created))
                        writer.Write(Guid.NewGuid().ToString("N"));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // Another silo on this volume named it first; or the directory cannot be written, which the silo's
                    // data directory check reports on its own.
                }
                here = ReadVolumeFile(file);
            }
            if (here is null) return null; // unreadable: the data directory check reports the directory itself
            db.StringSet(VolumeKey(serviceId), here, when: When.NotExists);
            named = db.StringGet(VolumeKey(serviceId));
        }
        if (named == here) return null;
        return $"warning: this silo's data directory '{directory}' is not the one the cluster's other silos use "
            + (here is null ? $"(it has no {VolumeFile}, which the first silo wrote to the shared one)" : $"({VolumeFile} names another volume)")
            + ": queried clips' audio is kept where the silo that took the upload stores it, so labellers asking this silo for a clip "
            + "another silo stored (and the others for this one's) get 404, and requests of machines that move between silos lose their audio. "
            + "Give every silo of a cluster the same shared volume as its data directory (docs/deploy.md, \"Volume\"); "
            + $"if the shared volume itself was replaced, remove the Redis key '{VolumeKey(serviceId)}' and restart the silos";
    }

    /// <summary>The id a marker file of the data directory holds (<see cref="VolumeFile"/>, <see cref="RedisStoreIdentity"/>'s);
    /// null when it is absent, empty or unreadable (the data directory check reports the directory itself).</summary>
    internal static string? ReadVolumeFile(string file)
    {
        try
        {
            return File.ReadAllText(file).Trim() is { Length: > 0 } text ? text : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
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
