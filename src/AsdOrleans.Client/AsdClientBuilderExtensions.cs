using AsdOrleans.Abstractions;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;

namespace AsdOrleans.Client;

/// <summary>Orleans client wiring for hosts that run their own Orleans client (<c>UseOrleansClient</c>).</summary>
public static class AsdClientBuilderExtensions
{
    /// <summary>Clustering (localhost gateway or Redis), the machine event stream provider and the response timeout,
    /// as <see cref="AsdClusterClient.ConnectAsync"/> sets them up.</summary>
    public static IClientBuilder ConfigureAsdClient(this IClientBuilder client, AsdClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (string.IsNullOrWhiteSpace(options.Redis))
            client.UseLocalhostClustering(options.GatewayPort);
        else
        {
            client.Configure<ClusterOptions>(c => { c.ClusterId = options.ClusterId; c.ServiceId = options.ServiceId; });
            client.UseRedisClustering(options.Redis);
        }
        client.Configure<ClientMessagingOptions>(m => m.ResponseTimeout = options.ResponseTimeout);
        client.AddMemoryStreams(MachineEventStreams.ProviderName);
        return client;
    }
}
