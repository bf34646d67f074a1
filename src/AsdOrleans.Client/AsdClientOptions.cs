using Microsoft.Extensions.Logging;

namespace AsdOrleans.Client;

/// <summary>
/// How <see cref="AsdClusterClient"/> finds the cluster: the embedded silo's gateway on this host
/// (<see cref="GatewayPort"/>), or, when <see cref="Redis"/> is set, the gateways of a Redis-clustered deployment
/// (the same Redis, <see cref="ClusterId"/> and <see cref="ServiceId"/> as the silos' <c>Asd</c> settings).
/// </summary>
public sealed class AsdClientOptions
{
    /// <summary>Redis connection string of a cluster deployment; null or empty for the embedded silo on this host.
    /// An ACL user goes in it (<c>user=…,password=…</c>) and needs far less than the silos' (<see cref="RedisAclCommands"/>).</summary>
    public string? Redis { get; set; }

    /// <summary>What a Redis ACL user of the client needs, after its keys (<c>~&lt;service id&gt;/members/*</c>, the
    /// membership hash the gateways are listed in): HGETALL to read it, HSETNX because Orleans' gateway list provider
    /// makes sure the hash has its version field, and StackExchange.Redis's handshake (ECHO, CLIENT SETNAME, INFO). Found by
    /// trial (RedisClusterClientTests connects as such a user); without HSETNX or the key the client cannot connect.
    /// StackExchange.Redis goes on without CONFIG GET, CLUSTER NODES, its tie-break GET and SUBSCRIBE, and of its
    /// handshake needs only ECHO: <c>+echo +hgetall +hsetnx</c> is the least that works.</summary>
    public const string RedisAclCommands = "+@connection +info +hgetall +hsetnx";

    /// <summary>Cluster id of a Redis deployment (silo setting <c>Asd:ClusterId</c>).</summary>
    public string ClusterId { get; set; } = "asd";

    /// <summary>Service id of a Redis deployment (silo setting <c>Asd:ServiceId</c>).</summary>
    public string ServiceId { get; set; } = "asd-orleans";

    /// <summary>Orleans gateway port of the embedded silo on localhost (silo setting <c>Asd:GatewayPort</c>).</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>How long <see cref="AsdClusterClient.ConnectAsync"/> keeps trying to reach a gateway (retrying every
    /// second, e.g. while the silo starts) before it gives up: positive and at most a day, or
    /// <see cref="Timeout.InfiniteTimeSpan"/> to retry until cancelled.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one grain call may take. Long, as on the silos: enrolling a machine from its training audio
    /// waits for the encoder to embed every clip.</summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Events a subscription buffers for a reader (or callback) that falls behind, at least 1; one more ends
    /// that subscription with a <see cref="SubscriptionOverflowException"/> (delivery never waits, so the client's
    /// other subscriptions go on).</summary>
    public int SubscriptionBuffer { get; set; } = 10_000;

    /// <summary>Where the client's logs go (its own: failed callbacks, ended subscriptions; and Orleans'); null: nowhere.
    /// The host does not dispose it. Pass the application's, e.g. from its service provider.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>The longest <see cref="ConnectTimeout"/> other than infinite.</summary>
    public static readonly TimeSpan MaxConnectTimeout = TimeSpan.FromDays(1);

    /// <summary>Throws <see cref="ArgumentException"/> (its ParamName the option's name) for an option out of range,
    /// before anything is built or connected.</summary>
    internal void Validate()
    {
        if (ResponseTimeout <= TimeSpan.Zero)
            throw new ArgumentException($"the response timeout must be positive, got {ResponseTimeout}", nameof(ResponseTimeout));
        if (ConnectTimeout != Timeout.InfiniteTimeSpan && (ConnectTimeout <= TimeSpan.Zero || ConnectTimeout > MaxConnectTimeout))
            throw new ArgumentException($"the connect timeout must be positive and at most {MaxConnectTimeout.TotalDays:0} day, or infinite; got {ConnectTimeout}",
                nameof(ConnectTimeout));
        if (SubscriptionBuffer < 1)
            throw new ArgumentException($"the subscription buffer must hold at least one event, got {SubscriptionBuffer}", nameof(SubscriptionBuffer));
        if (string.IsNullOrWhiteSpace(Redis))
        {
            if (GatewayPort is < 1 or > 65535)
                throw new ArgumentException($"gateway port must be in 1..65535, got {GatewayPort}", nameof(GatewayPort));
            return;
        }
        if (string.IsNullOrWhiteSpace(ClusterId))
            throw new ArgumentException("a Redis cluster needs its ClusterId (the silos' Asd:ClusterId)", nameof(ClusterId));
        if (string.IsNullOrWhiteSpace(ServiceId))
            throw new ArgumentException("a Redis cluster needs its ServiceId (the silos' Asd:ServiceId)", nameof(ServiceId));
        StackExchange.Redis.ConfigurationOptions parsed;
        try
        {
            parsed = StackExchange.Redis.ConfigurationOptions.Parse(Redis);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or NotSupportedException)
        {
            throw new ArgumentException($"the Redis connection string cannot be read: {e.Message}", nameof(Redis), e);
        }
        if (parsed.EndPoints.Count == 0)
            throw new ArgumentException("the Redis connection string names no host", nameof(Redis));
    }
}
