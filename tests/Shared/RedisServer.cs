using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace AsdOrleans.Tests;

/// <summary>(Linked into the test projects that run silos.) A real redis-server on a free loopback port, with DESIGN's durability settings, in its own folder.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly Process _process;
    public string Directory { get; }
    /// <summary>StackExchange.Redis connection string, as `asd silo --cluster` takes it.</summary>
    public string Connection { get; }

    private RedisServer(Process process, string directory, string connection) => (_process, Directory, Connection) = (process, directory, connection);

    /// <param name="durable">false starts Redis as Debian's default configuration does: no append-only file.</param>
    public static async Task<RedisServer> StartAsync(string directory, bool durable = true)
    {
        int port = AsdOrleans.Silo.SiloApp.FreeLoopbackPort();
        string[] persistence = durable ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"];
        var start = new ProcessStartInfo("redis-server",
            ["--port", port.ToString(), "--bind", "127.0.0.1", "--dir", directory, .. persistence, "--save", ""])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("redis-server is not installed; run ./asd setup", e);
        }
        for (int i = 0; i < 100; i++)
        {
            try { using var client = new TcpClient(); await client.ConnectAsync(IPAddress.Loopback, port); break; }
            catch (SocketException) { await Task.Delay(50); }
        }
        return new RedisServer(process, directory, $"127.0.0.1:{port},abortConnect=false");
    }

    public async ValueTask DisposeAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
