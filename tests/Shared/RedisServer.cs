using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace AsdOrleans.Tests;

/// <summary>(Linked into the test projects that run silos.) A real redis-server on a free loopback port, with the durability settings of docs/design.md §2, in its own folder.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly Process _process;
    /// <summary>The redis-server process's id (a test freezes it with SIGSTOP: a Redis that hangs with its connections open).</summary>
    public int ProcessId => _process.Id;
    public string Directory { get; }
    public int Port { get; }
    /// <summary>StackExchange.Redis connection string, as `asd silo --cluster` takes it.</summary>
    public string Connection { get; }

    private RedisServer(Process process, string directory, int port, string connection) => (_process, Directory, Port, Connection) = (process, directory, port, connection);

    /// <param name="durable">false starts Redis as Debian's default configuration does: no append-only file.</param>
    /// <param name="port">A port to reuse (a restart of a stopped server over its own folder); default a free one.</param>
    public static async Task<RedisServer> StartAsync(string directory, bool durable = true, int? port = null)
    {
        port ??= AsdOrleans.Silo.SiloApp.FreeLoopbackPort();
        string[] persistence = durable ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"];
        var start = new ProcessStartInfo("redis-server",
            ["--port", port.Value.ToString(), "--bind", "127.0.0.1", "--dir", directory, .. persistence, "--save", "",
             "--logfile", Path.Combine(directory, "redis-server.log")]); // a redirected stream nobody reads would stall it once the pipe fills
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
            try { using var client = new TcpClient(); await client.ConnectAsync(IPAddress.Loopback, port.Value); break; }
            catch (SocketException) { await Task.Delay(50); }
        }
        return new RedisServer(process, directory, port.Value, $"127.0.0.1:{port},abortConnect=false");
    }

    private bool _stopped;

    /// <summary>Kills the server (as a crash would); a second call does nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopped) return;
        _stopped = true;
        _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
