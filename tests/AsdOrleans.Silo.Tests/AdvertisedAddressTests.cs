using System.Net;
using System.Net.Http.Json;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using AsdOrleans.Abstractions;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// Silos in containers advertise a routable address (Asd:AdvertisedAddress) instead of 127.0.0.1, or silos on
/// different hosts could not reach each other. Two silos advertise this host's non-loopback IPv4 address.
/// </summary>
public sealed class AdvertisedAddressTests
{
    [Fact]
    public void Empty_means_loopback_an_ip_is_taken_as_is_and_a_host_name_is_resolved()
    {
        Assert.Equal(IPAddress.Loopback, SiloApp.ResolveAdvertisedAddress(""));
        Assert.Equal(IPAddress.Parse("10.1.2.3"), SiloApp.ResolveAdvertisedAddress("10.1.2.3"));
        Assert.True(IPAddress.IsLoopback(SiloApp.ResolveAdvertisedAddress("localhost")));
        var error = Assert.Throws<SiloConfigurationException>(() => SiloApp.ResolveAdvertisedAddress("no-such-host.invalid"));
        Assert.Contains("no-such-host.invalid", error.Message);
    }

    [Fact]
    public async Task Silos_advertising_a_routable_address_register_it_and_serve_each_others_grains()
    {
        var hostAddress = NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(u => u.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
        if (hostAddress is null) Assert.Skip("this host has no non-loopback IPv4 address");

        string dir = Directory.CreateTempSubdirectory("asd-advertised-").FullName;
        await using var redis = await RedisServer.StartAsync(dir);
        var silos = new List<(Microsoft.AspNetCore.Builder.WebApplication App, HttpClient Http)>();
        try
        {
            string connection = redis.Connection;
            var siloPorts = new List<int>();
            for (int i = 0; i < 2; i++)
            {
                int siloPort = SiloApp.FreeLoopbackPort();
                siloPorts.Add(siloPort);
                var (app, address) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
                {
                    ["Asd:Redis"] = connection,
                    ["Asd:ClusterId"] = "advertised",
                    ["Asd:AdvertisedAddress"] = hostAddress.ToString(),
                    ["Asd:SiloPort"] = siloPort.ToString(),
                    ["Asd:DataDirectory"] = Path.Combine(dir, "shared"),
                    ["Asd:ApiKeys:Operator:0"] = "op",
                });
                var http = new HttpClient { BaseAddress = address };
                http.DefaultRequestHeaders.Add("X-Api-Key", "op");
                silos.Add((app, http));
            }

            // Each silo listens on the advertised address, not only on loopback.
            foreach (int port in siloPorts)
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(hostAddress, port);
            }
            // Membership in Redis names the advertised address, so other hosts can reach the silos.
            using (var multiplexer = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(connection))
            {
                var server = multiplexer.GetServers()[0];
                var entries = new List<string>();
                foreach (var key in server.Keys())
                    if (await multiplexer.GetDatabase().KeyTypeAsync(key) == StackExchange.Redis.RedisType.Hash)
                        entries.AddRange((await multiplexer.GetDatabase().HashGetAllAsync(key)).Select(e => $"{e.Name} {e.Value}"));
                foreach (int port in siloPorts)
                    Assert.Contains(entries, e => e.Contains($"{hostAddress}:{port}"));
                Assert.DoesNotContain(entries, e => e.Contains($"127.0.0.1:{siloPorts[0]}"));
            }
            // Grains placed on either silo answer through the other one.
            var (_, a) = silos[0];
            var (_, b) = silos[1];
            for (int m = 0; m < 8; m++)
                Assert.Equal(HttpStatusCode.OK, (await a.PutAsJsonAsync($"/api/machines/adv.m{m}", new MachineSettings { Seed = (ulong)m })).StatusCode);
            for (int m = 0; m < 8; m++)
                Assert.Equal(await a.GetStringAsync($"/api/machines/adv.m{m}"), await b.GetStringAsync($"/api/machines/adv.m{m}"));
        }
        finally
        {
            foreach (var (app, http) in silos)
            {
                http.Dispose();
                await app.StopAsync();
                await app.DisposeAsync();
            }
            Directory.Delete(dir, recursive: true);
        }
    }
}
