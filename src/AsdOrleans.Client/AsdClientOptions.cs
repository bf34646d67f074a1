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
    /// second, e.g. while the silo starts) before it gives up.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one grain call may take. Long, as on the silos: enrolling a machine from its training audio
    /// waits for the encoder to embed every clip.</summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Events a subscription buffers for a reader that falls behind; beyond this, delivery to that
    /// subscription waits for the reader.</summary>
    public int SubscriptionBuffer { get; set; } = 10_000;
}
