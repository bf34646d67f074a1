using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using AsdOrleans.Abstractions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Silo.Tests;

/// <summary>The embedded default keeps machines and their enrollment across a silo restart (SQLite under the data directory).</summary>
public sealed class SiloRestartTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-restart-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<(WebApplication App, HttpClient Http)> Start()
    {
        var app = SiloApp.Build([], builder =>
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Asd:DataDirectory"] = Path.Combine(_dir, "data"),
                ["Asd:SiloPort"] = FreePort().ToString(),
                ["Asd:GatewayPort"] = FreePort().ToString(),
                ["Asd:ApiKeys:Operator:0"] = "op",
            });
        });
        await app.StartAsync();
        var http = new HttpClient { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()) };
        http.DefaultRequestHeaders.Add("X-Api-Key", "op");
        return (app, http);
    }

    [Fact]
    public async Task Configuration_enrollment_and_the_registry_survive_a_restart()
    {
        var random = new Random(3);
        float[] Vector() => Enumerable.Range(0, 16).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var enrollment = new EnrollmentRequest(Enumerable.Range(0, 40).Select(i => new EnrollmentClip(Vector(), i % 10 == 0)).ToList(), "enc-restart");

        var (app, http) = await Start();
        Assert.Equal(HttpStatusCode.OK, (await http.PutAsJsonAsync("/api/machines/restart.m1", new MachineSettings { Strategy = "random", Budget = 0.3, Seed = 8 })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsJsonAsync("/api/machines/restart.m1/enrollment", enrollment)).StatusCode);
        string before = await http.GetStringAsync("/api/machines/restart.m1");
        string list = await http.GetStringAsync("/api/machines");
        await app.StopAsync();
        await app.DisposeAsync();
        http.Dispose();

        (app, http) = await Start();
        Assert.Equal(before, await http.GetStringAsync("/api/machines/restart.m1"));
        Assert.Equal(list, await http.GetStringAsync("/api/machines"));
        Assert.Contains("\"enrolled\":true", before);
        await app.StopAsync();
        await app.DisposeAsync();
        http.Dispose();
        Assert.True(File.Exists(Path.Combine(_dir, "data", "grains.db")));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
