using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// A silo host in a child process: the test executable started by <see cref="ChildTestProcess"/> to run
/// <see cref="Run"/> instead of the tests, so a test can kill -9 a silo.
/// </summary>
public static class SiloChildHost
{
    public const string SettingsVariable = "ASD_SILO_CHILD_SETTINGS";

    /// <summary>A started child silo: its process, everything it printed, and its address once it says READY.</summary>
    public sealed record Launched(Process Process, ConcurrentQueue<string> Log, Task<Uri> Ready);

    /// <summary>Starts a child process that runs <see cref="Run"/> with <paramref name="settings"/>.</summary>
    public static Launched Launch(IReadOnlyDictionary<string, string?> settings)
    {
        var info = ChildTestProcess.StartInfo(typeof(SiloChildHost), nameof(Run),
            new Dictionary<string, string> { [SettingsVariable] = JsonSerializer.Serialize(settings) });
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start a silo process");
        var log = new ConcurrentQueue<string>();
        var ready = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            log.Enqueue(e.Data);
            if (e.Data.StartsWith("READY ", StringComparison.Ordinal)) ready.TrySetResult(new Uri(e.Data[6..]));
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) log.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new Launched(process, log, ready.Task);
    }

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
