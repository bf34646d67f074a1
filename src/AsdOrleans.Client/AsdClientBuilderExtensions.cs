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
        if (string.IsNullOrWhiteSpace(options.Redis))
        {
            if (options.GatewayPort is < 1 or > 65535)
                throw new ArgumentException($"gateway port must be in 1..65535, got {options.GatewayPort}");
            client.UseLocalhostClustering(options.GatewayPort);
        }
        else
        {
            if (string.IsNullOrWhiteSpace(options.ClusterId) || string.IsNullOrWhiteSpace(options.ServiceId))
                throw new ArgumentException("a Redis cluster needs its ClusterId and ServiceId (the silos' Asd:ClusterId and Asd:ServiceId)");
            client.Configure<ClusterOptions>(c => { c.ClusterId = options.ClusterId; c.ServiceId = options.ServiceId; });
            client.UseRedisClustering(options.Redis);
        }
        client.Configure<ClientMessagingOptions>(m => m.ResponseTimeout = options.ResponseTimeout);
        client.AddMemoryStreams(MachineEventStreams.ProviderName);
        return client;
    }
}
