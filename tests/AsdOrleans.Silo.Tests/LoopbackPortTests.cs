using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;

namespace AsdOrleans.Silo.Tests;

/// <summary>A silo started on free ports survives another process taking one of them before the silo binds it.</summary>
public sealed class LoopbackPortTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-ports-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_port_taken_between_choosing_and_binding_is_chosen_again()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int takenPort = ((IPEndPoint)taken.LocalEndpoint).Port;
        int choices = 0;
        int Choose() => ++choices == 1 ? takenPort : SiloApp.FreeLoopbackPort(); // the first silo port is the taken one

        var (app, address) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?> { ["Asd:DataDirectory"] = _dir }, Choose);
        await using (app)
        {
            Assert.Equal(4, choices); // silo and gateway port, twice
            using var http = new HttpClient { BaseAddress = address };
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz", TestContext.Current.CancellationToken)).StatusCode);
        }
    }

    [Fact]
    public async Task Ports_the_caller_named_are_not_chosen_again()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        string port = ((IPEndPoint)taken.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

        await Assert.ThrowsAnyAsync<Exception>(() => SiloApp.StartOnLoopbackAsync(
            new Dictionary<string, string?> { ["Asd:DataDirectory"] = _dir, ["Asd:SiloPort"] = port }));
    }
}
