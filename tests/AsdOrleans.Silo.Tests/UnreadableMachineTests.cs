using System.Net;
using System.Text.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Application;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// A plant of thousands of machines: one machine whose stored state cannot be read must not take the listings of the
/// others with it. The state is made unreadable in the silo's own SQLite grain storage, as a damaged row would be.
/// </summary>
public sealed class UnreadableMachineTests : IAsyncLifetime
{
    private const string Key = "reads-operator";
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-reads-").FullName;
    private WebApplication _app = null!;
    private HttpClient _http = null!;

    public async ValueTask InitializeAsync()
    {
        Uri address;
        (_app, address) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
        {
            ["Asd:DataDirectory"] = Path.Combine(_dir, "data"),
            ["Asd:ApiKeys:Operator:0"] = Key,
        });
        _http = new HttpClient { BaseAddress = address };
        _http.DefaultRequestHeaders.Add("X-Api-Key", Key);
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private MachineUseCases Machines => _app.Services.GetRequiredService<MachineUseCases>();

    /// <summary>Deactivates every idle grain (their state is written), then overwrites the stored state of
    /// <paramref name="machine"/> with bytes no serializer reads, so its next activation fails.</summary>
    private async Task MakeUnreadable(string machine)
    {
        await StoredGrainState.DeactivateMachines(_app.Services.GetRequiredService<IGrainFactory>());
        Assert.Equal(1, StoredGrainState.MakeUnreadable(Path.Combine(_dir, "data"), "machine", machine));
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> Get(string path)
    {
        var response = await _http.GetAsync(path);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement);
    }

    [Fact]
    public async Task A_machine_whose_state_cannot_be_read_is_named_in_listings_and_the_others_are_listed()
    {
        var grains = _app.Services.GetRequiredService<IGrainFactory>();
        var random = new Random(3);
        float[] Vector() => Enumerable.Range(0, 16).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var enrollment = new EnrollmentRequest(Enumerable.Range(0, 30).Select(i => new EnrollmentClip(Vector(), i % 10 == 0)).ToList(), "enc-reads");
        string[] machines = ["reads.a", "reads.b", "reads.c"];
        foreach (var machine in machines)
        {
            await Machines.Configure(machine, new MachineSettings { Strategy = "random", Budget = 1, Seed = 1 });
            await Machines.Enroll(machine, enrollment);
            await grains.GetGrain<IMachineGrain>(machine).ProcessClip(new ClipSubmission("clip-1", Vector(), "enc-reads"));
        }
        Assert.Equal(3, (await Get("/api/label-requests")).Body.GetArrayLength());
        await MakeUnreadable("reads.b");

        // The page lists every machine; the broken one as itself, saying why, and the healthy ones as before (no field added).
        var (status, page) = await Get("/api/machines");
        Assert.True(status == HttpStatusCode.OK, page.ToString());
        Assert.Equal(machines, page.EnumerateArray().Select(m => m.GetProperty("machineId").GetString()!).ToArray());
        Assert.Equal(MachineUseCases.UnreadableReason, page[1].GetProperty("unreadable").GetString());
        foreach (var healthy in new[] { page[0], page[2] })
        {
            Assert.True(healthy.GetProperty("enrolled").GetBoolean());
            Assert.False(healthy.TryGetProperty("unreadable", out _));
        }

        // The plant's label-request queue holds the others' requests.
        var (queueStatus, queue) = await Get("/api/label-requests");
        Assert.True(queueStatus == HttpStatusCode.OK, queue.ToString());
        Assert.Equal(["reads.a", "reads.c"], queue.EnumerateArray().Select(r => r.GetProperty("machineId").GetString()!).Order().ToArray());

        // Asked for alone, the machine is a fault of ours that says which machine and why, not "retry".
        var (one, problem) = await Get("/api/machines/reads.b");
        Assert.Equal(HttpStatusCode.InternalServerError, one);
        Assert.Contains("machine 'reads.b' cannot be read", problem.GetProperty("detail").GetString());
    }
    [Fact]
    public async Task A_machine_missing_from_the_registry_lists_itself_again_when_it_next_wakes()
    {
        // The machine's write landed and the registry's did not (a fault between the two): reads would call it unknown.
        var grains = _app.Services.GetRequiredService<IGrainFactory>();
        var random = new Random(5);
        float[] Vector() => Enumerable.Range(0, 16).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        await Machines.Enroll("reads.lost", new EnrollmentRequest(Enumerable.Range(0, 20).Select(i => new EnrollmentClip(Vector(), i % 10 == 0)).ToList(), "enc-reads"));
        await grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        // Again: the machine's deactivation handed its shard its status (stop 56), which woke the shard collected beside it.
        await grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        Assert.True(StoredGrainState.Delete(Path.Combine(_dir, "data"), "registry") >= 1);
        Assert.Equal(HttpStatusCode.NotFound, (await Get("/api/machines/reads.lost")).Status);

        // The device's next clip wakes it, and it lists itself (in the background: scoring does not wait for the registry).
        await grains.GetGrain<IMachineGrain>("reads.lost").ProcessClip(new ClipSubmission("clip-1", Vector(), "enc-reads"));
        await Waiting.Until(async () => (await Get("/api/machines/reads.lost")).Status == HttpStatusCode.OK, "the machine found again", seconds: 10);
        var (_, machine) = await Get("/api/machines/reads.lost");
        Assert.True(machine.GetProperty("enrolled").GetBoolean());
        Assert.Equal(["reads.lost"], (await Get("/api/machines")).Body.EnumerateArray().Select(m => m.GetProperty("machineId").GetString()!).ToArray());
    }
    [Fact]
    public async Task A_registry_that_cannot_be_read_does_not_stop_a_machine_from_scoring()
    {
        var grains = _app.Services.GetRequiredService<IGrainFactory>();
        var random = new Random(7);
        float[] Vector() => Enumerable.Range(0, 16).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        await Machines.Enroll("reads.scoring", new EnrollmentRequest(Enumerable.Range(0, 20).Select(i => new EnrollmentClip(Vector(), i % 10 == 0)).ToList(), "enc-reads"));
        await grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        Assert.True(StoredGrainState.MakeAllUnreadable(Path.Combine(_dir, "data"), "registry") >= 1);

        // Scoring needs the machine's own state only; listing itself again fails in the background and is logged.
        var verdict = await grains.GetGrain<IMachineGrain>("reads.scoring").ProcessClip(new ClipSubmission("clip-1", Vector(), "enc-reads"));
        Assert.Equal("clip-1", verdict.ClipId);
    }
}
