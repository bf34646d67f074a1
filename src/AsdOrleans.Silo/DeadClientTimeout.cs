using System.Net;
using System.Net.Sockets;

namespace AsdOrleans.Silo;

/// <summary>
/// How long data the silo sent over HTTP may go unacknowledged before the connection is closed (Linux TCP_USER_TIMEOUT on
/// the listening socket, which the accepted connections inherit). A client whose machine vanished without a reset (a
/// laptop closed, a cable pulled, a NAT entry dropped) otherwise holds its connection — and an event stream its place
/// under <see cref="SiloOptions.MaxEventStreams"/> — until the kernel stops retransmitting: about 15 minutes with
/// tcp_retries2 = 15. An event stream sends a keep-alive every <see cref="EventsApi.Heartbeat"/>, so a vanished
/// listener is found within this timeout plus one heartbeat. A client that is alive acknowledges at once, even when it
/// reads nothing (that one is <see cref="EventsApi.StuckAfter"/>'s case).
/// </summary>
public static class DeadClientTimeout
{
    public const int DefaultSeconds = 60;

    // Linux: IPPROTO_TCP (6), TCP_USER_TIMEOUT (18), in milliseconds.
    private const int TcpLevel = 6;
    private const int TcpUserTimeoutOption = 18;

    /// <summary>Kestrel's listening socket for <paramref name="endpoint"/>, with the timeout set where the platform has it
    /// (Linux); 0 seconds leaves the kernel's default.</summary>
    public static Socket CreateListenSocket(EndPoint endpoint, int seconds)
    {
        var socket = Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
        if (seconds > 0 && OperatingSystem.IsLinux() && socket.ProtocolType == ProtocolType.Tcp)
            socket.SetRawSocketOption(TcpLevel, TcpUserTimeoutOption, BitConverter.GetBytes(checked(seconds * 1000)));
        return socket;
    }

    /// <summary>A connected socket's timeout in milliseconds (0: the kernel's default); Linux only.</summary>
    public static int ReadMilliseconds(Socket socket)
    {
        var value = new byte[sizeof(int)];
        socket.GetRawSocketOption(TcpLevel, TcpUserTimeoutOption, value);
        return BitConverter.ToInt32(value);
    }
}
