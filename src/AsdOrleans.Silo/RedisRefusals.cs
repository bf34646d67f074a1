using StackExchange.Redis;

namespace AsdOrleans.Silo;

/// <summary>
/// Redis answering, but refusing the silo's commands for a reason a retry does not get past: an operator must act.
/// <paramref name="ClientDetail"/> is in an API client's terms; <paramref name="Problem"/> tells an operator what is wrong
/// and what to do, after "Redis" or "Redis at 'host:port'" (it never holds the connection string, so never the password).
/// </summary>
public sealed record RedisRefusal(string Kind, string ClientDetail, string Problem);

/// <summary>
/// Recognises a <see cref="RedisRefusal"/> by Redis's error code (the first word of its error reply), wherever the reply
/// arrives: a StackExchange.Redis exception, or the message of Orleans' Redis storage and clustering exceptions, which
/// keep only the inner exception's type name and message (read by <see cref="OrleansRedisErrorText"/>).
/// </summary>
public static class RedisRefusals
{
    /// <summary>Named by the start-up check; under a running silo, StackExchange.Redis reports its refused reconnections as
    /// no connection available, and <see cref="UnreachableRedisDiagnosis"/> names them.</summary>
    public static readonly RedisRefusal CredentialsRefused = new("credentials refused",
        "the cluster's store (Redis) refuses the silo's credentials; an operator must correct the silo's Redis password",
        "refuses the silo's credentials (NOAUTH or WRONGPASS): check the password in Asd:Redis (password=…, with user=… " +
        "for an ACL user) against Redis's requirepass or ACL user");

    /// <summary>StackExchange.Redis reports a failed TLS handshake with the failure type of refused credentials; the
    /// handshake's own exception inside tells them apart.</summary>
    public static readonly RedisRefusal TlsRefused = new("TLS handshake failed",
        "the silo's TLS connection to the cluster's store (Redis) fails; an operator must correct the silo's or Redis's TLS settings",
        "fails the TLS handshake (a certificate not trusted or for another name, or TLS on one side only): check ssl=true and " +
        "sslHost=… in Asd:Redis against Redis's tls-port and certificate, and that this host trusts the certificate's issuer");

    public static readonly RedisRefusal OutOfMemory = new("out of memory",
        "the cluster's store (Redis) is full and refuses writes; an operator must give it more memory",
        "is full (OOM: its used memory is over maxmemory) and refuses writes: raise maxmemory (CONFIG SET maxmemory, and in " +
        "redis.conf) or give Redis more memory, and keep maxmemory-policy noeviction (an evicting policy would drop stored machine state)");

    public static readonly RedisRefusal ReadOnlyReplica = new("read-only replica",
        "the cluster's store (Redis) is a read-only replica; an operator must point the cluster at the primary",
        "is a read-only replica (READONLY) and refuses writes: point Asd:Redis at the primary (after a failover, " +
        "the promoted replica), or run REPLICAOF NO ONE on this Redis if it is meant to be the primary");

    public static readonly RedisRefusal WrongType = new("wrong key type",
        "a key in the cluster's store (Redis) holds data of another kind; an operator must give the cluster a Redis database of its own",
        "holds a value of another type in a key the cluster uses (WRONGTYPE): something other than this cluster writes under its " +
        "service id; give the cluster a Redis (or database: defaultDatabase=N in Asd:Redis) of its own, and remove the foreign key");

    /// <summary>What the silo's Redis ACL user needs, after its keys (<c>~&lt;service id&gt;/*</c>): the commands of Orleans'
    /// membership, grain state and reminders providers (hashes, sorted sets, Lua scripts), of StackExchange.Redis's
    /// handshake (CLIENT SETNAME, INFO), and CONFIG GET for the start-up durability check. Found by trial with an ACL
    /// user (RedisRefusalTests runs a silo as one); StackExchange.Redis goes on without its optional CLUSTER NODES,
    /// tie-break key and SUBSCRIBE.</summary>
    public const string SiloAclCommands = "+@read +@write +@scripting +@connection -@dangerous +info +config|get";

    public static readonly RedisRefusal NoPermission = new("permission refused",
        "the cluster's store (Redis) refuses the silo's user a command or key; an operator must grant the silo's Redis user the rights it needs",
        "refuses the silo's ACL user a command or key (NOPERM): grant it the service's keys and the commands the silo runs, " +
        $"ACL SETUSER <user> ~<service id>/* {SiloAclCommands} (Asd:ServiceId, default asd-orleans; +config|get is for " +
        "Asd:RequireDurableRedis=true); Redis's ACL LOG names what it refused");

    private static readonly Dictionary<string, RedisRefusal> ByErrorCode = new(StringComparer.Ordinal)
    {
        ["NOAUTH"] = CredentialsRefused,
        ["WRONGPASS"] = CredentialsRefused,
        ["OOM"] = OutOfMemory,
        ["READONLY"] = ReadOnlyReplica,
        ["WRONGTYPE"] = WrongType,
        ["NOPERM"] = NoPermission,
    };

    /// <summary>The refusal in <paramref name="exception"/> itself (not its inner exceptions), or null.</summary>
    public static RedisRefusal? Of(Exception exception) => exception switch
    {
        RedisConnectionException { FailureType: ConnectionFailureType.AuthenticationFailure } failed
            => failed.InnerException is System.Security.Authentication.AuthenticationException ? TlsRefused : CredentialsRefused,
        _ => ReplyOf(exception) is { } reply ? FromReply(reply) : null,
    };

    /// <summary><paramref name="refusal"/>'s <see cref="RedisRefusal.Problem"/>, and for NOPERM Redis's reply, which names
    /// the refused command ("… to run the 'set' command"); the other replies say no more than the problem does.</summary>
    public static string ProblemIn(RedisRefusal refusal, Exception exception)
        => refusal == NoPermission && ReplyOf(exception) is { } reply ? $"{refusal.Problem} (Redis: {reply.Split('\n')[0].Trim()})" : refusal.Problem;

    /// <summary>Redis's error reply carried by <paramref name="exception"/> itself, or null.</summary>
    private static string? ReplyOf(Exception exception) => exception switch
    {
        RedisServerException server => server.Message,
        _ => OrleansRedisErrorText.ServerReply(exception.Message),
    };

    private static RedisRefusal? FromReply(string reply)
    {
        int end = reply.IndexOf(' ', StringComparison.Ordinal);
        return ByErrorCode.GetValueOrDefault(end < 0 ? reply : reply[..end])
            ?? (ScriptAclDenials.Any(denial => reply.StartsWith(denial, StringComparison.Ordinal)) ? NoPermission : null);
    }

    /// <summary>Inside a Lua script (Orleans' grain state, membership and reminder writes) Redis reports an ACL refusal as
    /// ERR, not NOPERM: 7.0 with these words, 7.2 on with "ACL failure in script: … no permissions …".</summary>
    private static readonly string[] ScriptAclDenials = ["ERR The user executing the script can't ", "ERR ACL failure in script: "];
}
