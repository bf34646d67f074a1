using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AsdOrleans.Silo.Tests;

/// <summary>A silo that lets a connection's unacknowledged data wait at most 3 s (Asd:DeadClientSeconds).</summary>
public sealed class ShortDeadClientSilo() : LoopbackSilo("asd-deadclient-", modelSeed: 7, SiloFixture.Plan, SiloFixture.DeviceKey, SiloFixture.LabellerKey, SiloFixture.OperatorKey,
    new Dictionary<string, string?>
    {
        ["Logging:LogLevel:Default"] = "Warning",
        ["Asd:DeadClientSeconds"] = "3",
    })
{
    public ConsoleEventHub Hub => App.Services.GetRequiredService<ConsoleEventHub>();
    protected override Task Started() => Hub.Subscribed.WaitAsync(TimeSpan.FromSeconds(60));
}

public sealed class DeadClientTimeoutTests(ShortDeadClientSilo silo) : IClassFixture<ShortDeadClientSilo>
{
    [Fact]
    public void The_silos_connections_carry_the_timeout_from_its_listening_socket()
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("TCP_USER_TIMEOUT is Linux's");
        // Kestrel's own factory, as the silo configured it: the accepted connection inherits the option.
        var transport = silo.App.Services.GetRequiredService<IOptions<SocketTransportOptions>>().Value;
        using var listener = transport.CreateBoundListenSocket!(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint!);
        using var accepted = listener.Accept();
        Assert.Equal(3_000, DeadClientTimeout.ReadMilliseconds(accepted));
        Assert.Equal(0, DeadClientTimeout.ReadMilliseconds(client)); // made without it: the kernel's default

        using var plain = DeadClientTimeout.CreateListenSocket(new IPEndPoint(IPAddress.Loopback, 0), seconds: 0);
        Assert.Equal(0, DeadClientTimeout.ReadMilliseconds(plain));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(3601)]
    public void A_timeout_out_of_range_stops_the_start(int seconds)
        => Assert.Equal($"Asd:DeadClientSeconds (Asd__DeadClientSeconds) must be 0 (the kernel's default) to 3600 seconds, got {seconds}",
            SiloStartupChecks.Problem(new SiloOptions { DeadClientSeconds = seconds }));

    /// <summary>
    /// A console whose machine vanished: no reset ever comes, its packets stop. Done with the firewall (root and iptables;
    /// skipped elsewhere): the client's port is dropped both ways on loopback, then the client is killed.
    /// </summary>
    [Fact]
    public async Task A_vanished_listener_gives_back_its_place_within_the_timeout_and_a_keep_alive()
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root" || Run("iptables", "-w -L INPUT -n") != 0)
            Assert.Skip("needs Linux, root and iptables (apt-get install iptables) to make a client vanish");
        await Waiting.Until(() => silo.Hub.OpenStreams == 0, "no stream open", seconds: 30);
        using var vanishing = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        vanishing.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int port = ((IPEndPoint)vanishing.LocalEndPoint!).Port;
        await vanishing.ConnectAsync(silo.Http.BaseAddress!.Host, silo.Http.BaseAddress.Port);
        await vanishing.SendAsync(Encoding.ASCII.GetBytes(
            $"GET /api/events HTTP/1.1\r\nHost: {silo.Http.BaseAddress.Authority}\r\nX-Api-Key: {SiloFixture.LabellerKey}\r\n\r\n"));
        await Waiting.Until(() => silo.Hub.OpenStreams == 1, "the stream to open", seconds: 20);
        string[] rules = [$"INPUT -i lo -p tcp --dport {port} -j DROP", $"INPUT -i lo -p tcp --sport {port} -j DROP"];
        try
        {
            foreach (var rule in rules) Assert.Equal(0, Run("iptables", "-w -A " + rule));
            vanishing.Close(0); // its reset is dropped: the silo never hears of it
            var since = Stopwatch.StartNew();
            // Found at the next keep-alive (15 s) plus the 3 s timeout; the kernel alone would take about 15 minutes.
            await Waiting.Until(() => silo.Hub.OpenStreams == 0, "the vanished client's place to be given back",
                seconds: (int)EventsApi.Heartbeat.TotalSeconds + 3 + 20);
            Console.WriteLine($"vanished listener let go after {since.Elapsed.TotalSeconds:F1} s");
        }
        finally
        {
            foreach (var rule in rules) Run("iptables", "-w -D " + rule);
        }
    }

    private static int Run(string file, string arguments)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            process.StandardOutput.ReadToEnd();
            process.StandardError.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return -1; // not installed
        }
    }
}
