using System.Diagnostics;
using System.Globalization;
using AsdOrleans.Storage.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Serialization;
using Orleans.Serialization.Serializers;
using Orleans.Storage;

namespace AsdOrleans.Grains.Tests.Storage;

/// <summary>
/// kill -9 of a process that is writing: this test starts the test executable again as a child process
/// (<see cref="ChildTestProcess"/>) running <see cref="CrashChild"/>, which writes to eight grains' states as fast as it can and prints "ACK grain value"
/// after each write returns. The test SIGKILLs it mid-stream, then checks that the file opens and that every
/// grain's stored value is at least the last one acknowledged.
/// </summary>
public sealed class SqliteGrainStorageCrashTests
{
    private const string ChildDatabaseVariable = "ASD_SQLITE_CRASH_CHILD_DB";
    private const int Grains = 8;
    private const int AcksBeforeKill = 400;
    private static readonly ServiceProvider Services = new ServiceCollection().AddSerializer().BuildServiceProvider();

    [Fact]
    public async Task Acknowledged_writes_survive_the_writing_process_being_killed()
    {
        using var folder = new TempFolder();
        var path = folder.File("crash.db");
        using var child = Process.Start(ChildStartInfo(path)) ?? throw new InvalidOperationException("could not start the child");
        var stderr = child.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        var acked = new int[Grains];
        var acks = 0;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (acks < AcksBeforeKill)
            {
                var line = await child.StandardOutput.ReadLineAsync(timeout.Token);
                if (line is null)
                    Assert.Fail($"The child exited after {acks} acknowledgements. stderr: {await stderr}");
                acks += Record(line, acked);
            }
        }
        finally
        {
            child.Kill(); // SIGKILL on Unix: no finally blocks, no dispose, no checkpoint in the child
        }
        await child.WaitForExitAsync(TestContext.Current.CancellationToken);
        // Acknowledgements the child printed before it died count too: each came after its write returned.
        while (await child.StandardOutput.ReadLineAsync(TestContext.Current.CancellationToken) is { } rest)
            acks += Record(rest, acked);

        await using var provider = NewProvider(path);
        var stored = new int[Grains];
        for (var g = 0; g < Grains; g++)
        {
            var state = new GrainState<StorageTestState> { State = new StorageTestState() };
            await provider.ReadStateAsync("state", Id(g), state);
            stored[g] = state.State!.Value;
            Assert.True(state.State!.Value >= acked[g],
                $"grain {g}: stored value {state.State.Value} is older than the acknowledged {acked[g]} ({acks} acknowledgements seen)");
        }
        Assert.True(acks >= AcksBeforeKill);
        TestContext.Current.SendDiagnosticMessage(
            $"kill -9 after {acks} acknowledged writes: last acknowledged per grain [{string.Join(", ", acked)}], stored [{string.Join(", ", stored)}].");
    }

    /// <summary>The writing side of <see cref="Acknowledged_writes_survive_the_writing_process_being_killed"/>; runs
    /// in the child process only.</summary>
    private static async Task CrashChild()
    {
        var path = Environment.GetEnvironmentVariable(ChildDatabaseVariable) ?? throw new InvalidOperationException($"{ChildDatabaseVariable} is not set");
        var provider = NewProvider(path);
        provider.Open();
        var stdout = Console.OpenStandardOutput(); // raw stdout, not the runner's captured Console.Out
        var gate = new object();
        await Task.WhenAll(Enumerable.Range(0, Grains).Select(g => Task.Run(async () =>
        {
            var state = new GrainState<StorageTestState> { State = new StorageTestState() };
            for (var value = 1; ; value++)
            {
                state.State!.Value = value;
                await provider.WriteStateAsync("state", Id(g), state);
                var line = System.Text.Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"ACK {g} {value}\n"));
                lock (gate)
                {
                    stdout.Write(line);
                    stdout.Flush();
                }
            }
        })));
    }

    private static ProcessStartInfo ChildStartInfo(string databasePath)
        => ChildTestProcess.StartInfo(typeof(SqliteGrainStorageCrashTests), nameof(CrashChild), new Dictionary<string, string> { [ChildDatabaseVariable] = databasePath });

    private static int Record(string line, int[] acked)
    {
        if (!line.StartsWith("ACK ", StringComparison.Ordinal))
            return 0;
        var parts = line.Split(' ');
        var grain = int.Parse(parts[1], CultureInfo.InvariantCulture);
        acked[grain] = Math.Max(acked[grain], int.Parse(parts[2], CultureInfo.InvariantCulture));
        return 1;
    }

    private static GrainId Id(int grain) => GrainId.Create("crashtest", grain.ToString(CultureInfo.InvariantCulture));

    private static SqliteGrainStorage NewProvider(string path) => new(
        "crash",
        new SqliteGrainStorageOptions
        {
            DatabasePath = path,
            GrainStorageSerializer = new OrleansGrainStorageSerializer(Services.GetRequiredService<Serializer>()),
        },
        Services.GetRequiredService<IActivatorProvider>(),
        NullLogger<SqliteGrainStorage>.Instance);
}
