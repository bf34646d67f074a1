using System.Text.Json;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// A silo host in a child process: the test executable started by <see cref="ChildTestProcess"/> to run
/// <see cref="Run"/> instead of the tests, so a test can kill -9 a silo.
/// </summary>
public static class SiloChildHost
{
    public const string SettingsVariable = "ASD_SILO_CHILD_SETTINGS";

    /// <summary>The child's work: start a silo with the settings in <see cref="SettingsVariable"/>, print READY, wait to be killed.</summary>
    public static async Task Run()
    {
        var json = Environment.GetEnvironmentVariable(SettingsVariable) ?? throw new InvalidOperationException($"{SettingsVariable} is not set");
        var settings = JsonSerializer.Deserialize<Dictionary<string, string?>>(json)!;
        var (app, address) = await SiloApp.StartOnLoopbackAsync(settings);
        var stdout = Console.OpenStandardOutput(); // raw stdout, not the runner's captured Console.Out
        stdout.Write(System.Text.Encoding.ASCII.GetBytes($"READY {address}\n"));
        stdout.Flush();
        await Task.Delay(Timeout.Infinite, CancellationToken.None); // until the test kills this process
        GC.KeepAlive(app);
    }
}
