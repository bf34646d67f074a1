using System.Text.Json;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// A silo host in a child process: the test executable run with only <see cref="Run"/>, so a test can kill -9 a
/// silo. A class of its own, without fixtures: a fixture would also run in the child and leak what it starts.
/// </summary>
public sealed class SiloChildHost
{
    public const string SettingsVariable = "ASD_SILO_CHILD_SETTINGS";

    /// <summary>Runs only in a child process (explicit, and a no-op without the variable).</summary>
    [Fact(Explicit = true)]
    public async Task Run()
    {
        if (Environment.GetEnvironmentVariable(SettingsVariable) is not { } json)
            return;
        var settings = JsonSerializer.Deserialize<Dictionary<string, string?>>(json)!;
        var (app, address) = await SiloApp.StartOnLoopbackAsync(settings);
        var stdout = Console.OpenStandardOutput(); // raw stdout, not the runner's captured Console.Out
        stdout.Write(System.Text.Encoding.ASCII.GetBytes($"READY {address}\n"));
        stdout.Flush();
        await Task.Delay(Timeout.Infinite, CancellationToken.None); // until the test kills this process
        GC.KeepAlive(app);
    }
}
