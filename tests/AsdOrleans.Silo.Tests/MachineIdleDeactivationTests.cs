using AsdOrleans.Abstractions;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// Asd:MachineIdleMinutes (issue 13): a machine without calls for that long is deactivated, so resident memory follows the
/// active machines, and its next clip reactivates it from storage and continues where it stopped.
/// </summary>
public sealed class MachineIdleDeactivationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-idle-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static async Task<int> Resident(IManagementGrain management)
    {
        // Activation counts per grain type and silo; this silo holds only the test's machines.
        var statistics = await management.GetSimpleGrainStatistics();
        return statistics.Where(s => s.GrainType.Contains(nameof(Grains.MachineGrain), StringComparison.Ordinal)).Sum(s => s.ActivationCount);
    }

    /// <summary>A silo whose machines idle out after 3 s, with a seeded source of 16-dimensional embeddings and an enrollment of 40 of them.</summary>
    private async Task<(WebApplication App, IGrainFactory Grains, IManagementGrain Management, Func<float[]> Vector, EnrollmentRequest Enrollment)> StartIdleSilo(int seed)
    {
        var (app, _) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
        {
            ["Asd:DataDirectory"] = Path.Combine(_dir, "data"),
            ["Asd:MachineIdleMinutes"] = "0.05", // 3 s
        });
        var grains = app.Services.GetRequiredService<IGrainFactory>();
        var random = new Random(seed);
        float[] Vector() => Enumerable.Range(0, 16).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var enrollment = new EnrollmentRequest(Enumerable.Range(0, 40).Select(i => new EnrollmentClip(Vector(), i % 10 == 0)).ToList(), "enc-idle");
        return (app, grains, grains.GetGrain<IManagementGrain>(0), Vector, enrollment);
    }

    [Fact]
    public async Task An_idle_machine_is_deactivated_and_its_next_clip_continues_from_storage()
    {
        var (app, grains, management, Vector, enrollment) = await StartIdleSilo(seed: 5);
        try
        {
            var idle = grains.GetGrain<IMachineGrain>("idle.m1");
            var busy = grains.GetGrain<IMachineGrain>("idle.m2");
            await idle.Configure(new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 3 });
            await idle.Enroll(enrollment);
            await busy.Enroll(enrollment);
            for (int i = 0; i < 20; i++)
                await idle.ProcessClip(new ClipSubmission($"c{i}", Vector(), "enc-idle"));
            var before = await idle.GetStatus();
            var pending = (await idle.GetPendingLabelRequests(100)).Select(r => r.ClipId).ToList();
            Assert.NotEmpty(pending);
            Assert.Equal(2, await Resident(management));

            // The busy machine gets a clip every second and stays; the idle one goes within its age plus a quantum or two.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            int resident = 2, clip = 0;
            while (DateTime.UtcNow < deadline && resident != 1)
            {
                await busy.ProcessClip(new ClipSubmission($"b{clip++}", Vector(), "enc-idle"));
                await Task.Delay(1000);
                resident = await Resident(management);
            }
            Assert.Equal(1, resident);
            Assert.True(clip >= 3, $"deactivated after only {clip} s");
            Assert.Equal(2, (await idle.AsReference<IScoreHistoryGrain>().Get(null, 100)).Count(p => p.ClipId is "c0" or "c19")); // the history is the machine's: it went with it and comes back
            Assert.Equal(2, await Resident(management)); // ... and reading it activated the machine, no grain of its own

            var verdict = await idle.ProcessClip(new ClipSubmission("c20", Vector(), "enc-idle"));
            Assert.Equal(20, verdict.ClipIndex);
            var after = await idle.GetStatus();
            Assert.Equal(before.ClipsSeen + 1, after.ClipsSeen);
            Assert.Equal(before.Queries + (verdict.LabelRequested ? 1 : 0), after.Queries);
            var pendingAfter = (await idle.GetPendingLabelRequests(100)).Select(r => r.ClipId).ToList();
            Assert.Equal(pending, pendingAfter.Where(id => id != "c20").ToList());
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_label_request_listing_wakes_only_the_idle_machines_that_hold_requests()
    {
        var (app, grains, management, Vector, enrollment) = await StartIdleSilo(seed: 6);
        try
        {
            var registry = grains.GetGrain<IMachineRegistryGrain>(0);
            var asking = grains.GetGrain<IMachineGrain>("listing.asking");
            var quiet = Enumerable.Range(0, 5).Select(i => grains.GetGrain<IMachineGrain>($"listing.quiet{i}")).ToList();
            await asking.Configure(new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 3 });
            await asking.Enroll(enrollment);
            foreach (var machine in quiet)
            {
                await machine.Configure(new MachineSettings { Strategy = "none" });
                await machine.Enroll(enrollment);
            }
            for (int i = 0; i < 10; i++)
            {
                await asking.ProcessClip(new ClipSubmission($"a{i}", Vector(), "enc-idle"));
                foreach (var machine in quiet) await machine.ProcessClip(new ClipSubmission($"q{i}", Vector(), "enc-idle"));
            }
            var expected = await asking.GetPendingLabelRequests(100);
            Assert.NotEmpty(expected);
            Assert.Equal(expected, await registry.GetPendingLabelRequests(100));

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (DateTime.UtcNow < deadline && await Resident(management) > 0)
                await Task.Delay(500);
            Assert.Equal(0, await Resident(management));
            Assert.Equal(expected, await registry.GetPendingLabelRequests(100));
            Assert.Equal(1, await Resident(management)); // the listing woke the machine with requests, none of the quiet ones

            foreach (var request in expected)
                await asking.SubmitLabel(request.ClipId, ClipLabelValue.Normal);
            Assert.Empty(await registry.GetPendingLabelRequests(100));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task After_a_restart_a_label_request_listing_still_wakes_only_the_machines_holding_the_oldest_requests()
    {
        // Stop 55's soak: the registry knew each machine's oldest request from memory only, so the first listing after a
        // restart woke all 1,500 machines. The shards now keep a lower bound of it with the listing itself.
        var (app, grains, management, Vector, enrollment) = await StartIdleSilo(seed: 8);
        var all = new List<LabelRequest>();
        try
        {
            for (int m = 0; m < 30; m++)
            {
                var machine = grains.GetGrain<IMachineGrain>($"restart.m{m:00}");
                await machine.Configure(new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 });
                await machine.Enroll(enrollment);
                for (int i = 0; i < 2; i++)
                    Assert.True((await machine.ProcessClip(new ClipSubmission($"c{i}", Vector(), "enc-idle"))).LabelRequested);
                all.AddRange(await machine.GetPendingLabelRequests(10)); // from the machines themselves: the registry learns nothing
            }
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
        all = [.. all.OrderBy(r => r.RequestedAt).ThenBy(r => r.MachineId, StringComparer.Ordinal)]; // stable: each machine's own order

        (app, grains, management, _, _) = await StartIdleSilo(seed: 8); // the same data directory
        try
        {
            var registry = grains.GetGrain<IMachineRegistryGrain>(0);
            Assert.Equal(0, await Resident(management));
            Assert.Equal(all.Take(4), await registry.GetPendingLabelRequests(4));
            int woken = await Resident(management);
            Assert.True(woken <= 8, $"the first listing of 4 requests after a restart woke {woken} of the 30 machines holding requests");
            Assert.Equal(all, await registry.GetPendingLabelRequests(1000));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_label_request_listing_wakes_only_the_machines_holding_the_oldest_requests_it_returns()
    {
        // The soak of stop 54: with open requests on nearly every machine, each listing (a console's queue, every 15 s)
        // woke every one of them. Once the registry knows each machine's oldest request, it asks in that order and stops.
        var (app, grains, management, Vector, enrollment) = await StartIdleSilo(seed: 7);
        try
        {
            var registry = grains.GetGrain<IMachineRegistryGrain>(0);
            var machines = Enumerable.Range(0, 30).Select(i => grains.GetGrain<IMachineGrain>($"queue.m{i:00}")).ToList();
            foreach (var machine in machines)
            {
                await machine.Configure(new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 });
                await machine.Enroll(enrollment);
                for (int i = 0; i < 2; i++)
                    Assert.True((await machine.ProcessClip(new ClipSubmission($"c{i}", Vector(), "enc-idle"))).LabelRequested);
            }
            var all = await registry.GetPendingLabelRequests(1000); // asks every machine once, and learns their oldest requests
            Assert.Equal(60, all.Count);

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (DateTime.UtcNow < deadline && await Resident(management) > 0)
                await Task.Delay(500);
            Assert.Equal(0, await Resident(management));
            Assert.Equal(all.Take(4), await registry.GetPendingLabelRequests(4));
            int woken = await Resident(management);
            Assert.True(woken <= 8, $"a listing of 4 requests woke {woken} of the 30 idle machines holding requests");

            // A machine whose requests all closed reports it, and one with a new request is asked anew: nothing is missed.
            foreach (var request in all.Where(r => r.MachineId == "queue.m00"))
                await machines[0].SubmitLabel(request.ClipId, ClipLabelValue.Normal);
            Assert.True((await machines[29].ProcessClip(new ClipSubmission("c9", Vector(), "enc-idle"))).LabelRequested);
            var expected = all.Where(r => r.MachineId != "queue.m00").Append((await machines[29].GetPendingLabelRequests(10)).Single(r => r.ClipId == "c9")).ToList();
            Assert.Equal(expected.Take(5), await registry.GetPendingLabelRequests(5));
            Assert.Equal(expected, await registry.GetPendingLabelRequests(1000));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    public async Task A_non_positive_idle_age_is_refused_at_start(string minutes)
    {
        var error = await Assert.ThrowsAsync<SiloConfigurationException>(() => SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
        {
            ["Asd:DataDirectory"] = Path.Combine(_dir, "data"),
            ["Asd:MachineIdleMinutes"] = minutes,
        }));
        Assert.Contains("MachineIdleMinutes", error.Message);
    }
}
