namespace AsdOrleans.Client;

/// <summary>
/// How <see cref="AsdClusterClient"/> finds the cluster: the embedded silo's gateway on this host
/// (<see cref="GatewayPort"/>), or, when <see cref="Redis"/> is set, the gateways of a Redis-clustered deployment
/// (the same Redis, <see cref="ClusterId"/> and <see cref="ServiceId"/> as the silos' <c>Asd</c> settings).
/// </summary>
public sealed class AsdClientOptions
{
    /// <summary>Redis connection string of a cluster deployment; null or empty for the embedded silo on this host.</summary>
    public string? Redis { get; set; }

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
