using System.Runtime.InteropServices;

namespace AsdOrleans.Cli;

/// <summary>
/// Ctrl+C and SIGTERM as a cancellation token, linked to the command's own: System.CommandLine 2.0.0 leaves both to the
/// default handler, which kills the process (dotnet/command-line-api#2739), so a command that must stop cleanly (remove
/// a staging folder, say how to resume) takes them itself while this is alive.
/// </summary>
public sealed class Interruption : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly PosixSignalRegistration _sigint, _sigterm;

    public Interruption(CancellationToken cancellation)
    {
        _source = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Interrupt);
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Interrupt);
    }

    /// <summary>Cancelled by a signal or by the command's token.</summary>
    public CancellationToken Token => _source.Token;

    private void Interrupt(PosixSignalContext context)
    {
        context.Cancel = true;
        _source.Cancel();
    }

    public void Dispose()
    {
        _sigint.Dispose();
        _sigterm.Dispose();
        _source.Dispose();
    }
}
