using System.Text.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Application;
using AsdOrleans.Grains.Placement;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>A cluster whose machine grains go to sleep 2 s after their last call, whose label requests live 10 s, and
/// which has no reminder service, so nothing but a call wakes a sleeping machine.</summary>
public sealed class SleepyMachineClusterFixture : OneSiloClusterFixture<SleepyMachineClusterFixture.SiloConfigurator>
{
    public static readonly TimeSpan LabelRequestTtl = TimeSpan.FromSeconds(10);

    public sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            silo.AddMemoryGrainStorage(MachineGrain.StorageName).AddAsdSiloRoles(SiloRoles.All);
            silo.Configure<Orleans.Configuration.GrainCollectionOptions>(c =>
            {
                c.ClassSpecificCollectionAge[typeof(MachineGrain).FullName!] = TimeSpan.FromSeconds(2);
                c.CollectionQuantum = TimeSpan.FromSeconds(1);
            });
            silo.Services.Configure<LabelRequestExpiryOptions>(o => o.LabelRequestTtl = LabelRequestTtl);
            silo.AddIncomingGrainCallFilter(context =>
                context.InterfaceMethod?.Name == nameof(IMachineRegistryShardGrain.Awake) && context.Grain is MachineRegistryShardGrain
                && context.Request.GetArgument(0) is string id && FailAwake.ContainsKey(id)
                    ? throw new InvalidOperationException($"test fault: the shard does not hear that {id} is awake")
                    : context.Invoke());
        }
    }

    /// <summary>Machines whose shard's <see cref="IMachineRegistryShardGrain.Awake"/> fails (a registry fault), while listed here.</summary>
    public static readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> FailAwake = new(StringComparer.Ordinal);
}

/// <summary>
/// Stop 56: a machine hands its registry shard its status as it goes to sleep, and a listing of machines answers with it
/// instead of waking the machine; its next activation drops it, and so do its retirement and its oldest label request's
/// expiry. Without it, a console listing the machines every 15 s kept every machine awake.
/// </summary>
public sealed class SleepingMachineListingTests(SleepyMachineClusterFixture fixture) : IClassFixture<SleepyMachineClusterFixture>
{
    private IGrainFactory Grains => fixture.Cluster.Client;
    private MachineUseCases Machines => new(fixture.Cluster.Client);

    private static readonly Random Random = new(17);
    private static float[] Vector() { lock (Random) return Enumerable.Range(0, 16).Select(_ => (float)Random.NextDouble() - 0.5f).ToArray(); }
    private static EnrollmentRequest Enrollment(int clips = 40) => new(Enumerable.Range(0, clips).Select(i => new EnrollmentClip(Vector(), i % 10 == 0)).ToList(), "enc-sleep");

    private static string Json(MachineStatus status) => JsonSerializer.Serialize(status);

    /// <summary>Machine grains now activated whose ids start with <paramref name="prefix"/>.</summary>
    private async Task<List<string>> Awake(string prefix)
        => [.. (await Grains.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics())
            .Where(a => a.GrainType.Contains(nameof(MachineGrain), StringComparison.Ordinal))
            .Select(a => a.GrainId.Key.ToString()!).Where(id => id.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal)];

    private async Task UntilAsleep(string prefix)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (await Awake(prefix) is { Count: > 0 } awake)
        {
            Assert.True(DateTime.UtcNow < deadline, $"still awake after 30 s: {string.Join(", ", awake)}");
            await Task.Delay(250);
        }
    }

    /// <summary>The page of the listing that holds the machines of <paramref name="prefix"/> (ids sort right after it).</summary>
    private async Task<MachineStatus[]> List(string prefix, int count) => await Machines.ListMachines(after: prefix, limit: count);

    private async Task<List<IMachineGrain>> EnrollMachines(string prefix, int count, MachineSettings settings, int clips = 3)
    {
        var machines = Enumerable.Range(0, count).Select(i => Grains.GetGrain<IMachineGrain>($"{prefix}m{i}")).ToList();
        for (int i = 0; i < count; i++)
        {
            await machines[i].Configure(settings);
            await machines[i].Enroll(Enrollment());
            for (int c = 0; c < clips + i; c++) // each machine a different count
                await machines[i].ProcessClip(new ClipSubmission($"c{c}", Vector(), "enc-sleep"));
        }
        return machines;
    }

    [Fact]
    public async Task Sleeping_machines_are_listed_with_the_status_they_slept_with_and_are_not_woken()
    {
        const string prefix = "sleep.a.";
        var machines = await EnrollMachines(prefix, 6, new MachineSettings { Strategy = "none" });
        var before = new List<string>();
        foreach (var machine in machines) before.Add(Json(await machine.GetStatus()));
        await UntilAsleep(prefix);

        var listed = await List(prefix, 6);
        Assert.Equal(before, listed.Select(Json));
        Assert.Empty(await Awake(prefix)); // before stop 56, the listing woke all six

        // An awake machine is asked: its status now, not a kept one.
        await machines[2].ProcessClip(new ClipSubmission("late", Vector(), "enc-sleep"));
        listed = await List(prefix, 6);
        Assert.Equal(Json(await machines[2].GetStatus()), Json(listed[2]));
        Assert.Equal([$"{prefix}m2"], await Awake(prefix));
    }

    [Fact]
    public async Task A_machine_woken_by_a_clip_is_listed_with_its_new_status_and_kept_with_it_when_it_sleeps_again()
    {
        const string prefix = "sleep.b.";
        var machines = await EnrollMachines(prefix, 3, new MachineSettings { Strategy = "none" });
        await UntilAsleep(prefix);
        var slept = (await List(prefix, 3)).Select(Json).ToList();

        var verdict = await machines[0].ProcessClip(new ClipSubmission("wake", Vector(), "enc-sleep")); // wakes it: its kept status goes
        var listed = await List(prefix, 3);
        Assert.Equal(4, listed[0].ClipsSeen);
        Assert.Equal(verdict.ClipIndex + 1, listed[0].ClipsSeen);
        Assert.Equal(slept.Skip(1), listed.Skip(1).Select(Json));
        Assert.Equal([$"{prefix}m0"], await Awake(prefix)); // the others stayed asleep
        var now = Json(await machines[0].GetStatus());
        Assert.Equal(now, Json(listed[0]));

        await UntilAsleep(prefix);
        listed = await List(prefix, 3);
        Assert.Equal(now, Json(listed[0])); // kept again, as it slept the second time
        Assert.Empty(await Awake(prefix));
    }

    [Fact]
    public async Task A_retired_machine_is_dropped_and_a_new_machine_of_its_id_is_listed_as_it_is()
    {
        const string prefix = "sleep.c.";
        var machines = await EnrollMachines(prefix, 2, new MachineSettings { Strategy = "none" });
        await UntilAsleep(prefix);
        Assert.Equal(2, (await List(prefix, 2)).Length);

        await Machines.Retire($"{prefix}m0");
        var listed = await List(prefix, 2);
        Assert.DoesNotContain(listed, s => s.MachineId == $"{prefix}m0");
        Assert.Equal($"{prefix}m1", listed[0].MachineId);
        Assert.DoesNotContain($"{prefix}m1", await Awake(prefix));

        // Enrolled anew under the same id: a machine of its own, listed as it is, then kept as it sleeps.
        await machines[0].Configure(new MachineSettings { Strategy = "none", Budget = 0.2 });
        await machines[0].Enroll(Enrollment(30));
        var fresh = Json(await machines[0].GetStatus());
        await UntilAsleep(prefix);
        listed = await List(prefix, 2);
        Assert.Equal(fresh, Json(listed[0]));
        Assert.Equal(0, listed[0].ClipsSeen);
        Assert.Equal(1, listed[0].Enrollments);
        Assert.Empty(await Awake(prefix));
    }

    [Fact]
    public async Task A_kept_status_holds_only_until_the_machines_oldest_label_request_expires()
    {
        // GetStatus expires requests past their time-to-live first, so a status with requests changes with time alone.
        const string prefix = "sleep.d.";
        var asking = Grains.GetGrain<IMachineGrain>($"{prefix}asking");
        var quiet = Grains.GetGrain<IMachineGrain>($"{prefix}quiet");
        await asking.Configure(new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 });
        await asking.Enroll(Enrollment());
        await quiet.Configure(new MachineSettings { Strategy = "none" });
        await quiet.Enroll(Enrollment());
        Assert.True((await asking.ProcessClip(new ClipSubmission("c0", Vector(), "enc-sleep"))).LabelRequested);
        await quiet.ProcessClip(new ClipSubmission("c0", Vector(), "enc-sleep"));
        var requested = (await asking.GetPendingLabelRequests(10)).Single().RequestedAt;
        var expires = requested + SleepyMachineClusterFixture.LabelRequestTtl;
        await UntilAsleep(prefix);

        var listed = await List(prefix, 2);
        Assert.True(DateTimeOffset.UtcNow < expires, "the machines took longer to sleep than the request's time-to-live");
        Assert.Equal(1, listed[0].PendingLabelRequests); // kept: the request is still open
        Assert.Empty(await Awake(prefix));

        await Task.Delay(expires - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(200));
        listed = await List(prefix, 2);
        Assert.Equal(0, listed[0].PendingLabelRequests); // no longer kept: the machine, asked, expired its request
        Assert.Equal(1, listed[0].ExpiredLabelRequests);
        Assert.Equal([$"{prefix}asking"], await Awake(prefix)); // the quiet one's kept status still holds
    }

    [Fact]
    public async Task A_machine_whose_shard_did_not_hear_it_wake_does_not_leave_its_earlier_sleeps_status_listed()
    {
        // Review of stop 56: the activation's Awake failed, and its clip's call came within the retry interval, so nothing
        // retried it; its sleep handed nothing over, and the status kept of its earlier sleep (no clip) stayed listed.
        const string prefix = "sleep.f.";
        var machines = await EnrollMachines(prefix, 1, new MachineSettings { Strategy = "none" });
        await UntilAsleep(prefix);
        var slept = (await List(prefix, 1))[0];

        SleepyMachineClusterFixture.FailAwake[$"{prefix}m0"] = 0;
        try
        {
            await machines[0].ProcessClip(new ClipSubmission("unheard", Vector(), "enc-sleep"));
        }
        finally
        {
            SleepyMachineClusterFixture.FailAwake.TryRemove($"{prefix}m0", out _);
        }
        var now = Json(await machines[0].GetStatus());
        await UntilAsleep(prefix);

        var listed = await List(prefix, 1);
        Assert.Equal(slept.ClipsSeen + 1, listed[0].ClipsSeen);
        Assert.Equal(now, Json(listed[0]));
        Assert.Empty(await Awake(prefix)); // its sleep was kept after all: said awake, then asleep, as it went
    }

    [Fact]
    public async Task A_shard_keeps_only_the_status_of_the_activation_that_last_said_it_was_awake()
    {
        // The order of a machine's reports is not assumed: a deactivation's report that lands after the next activation
        // said it was awake (its call outlived a time-out) must not hide the awake machine's status.
        const string id = "sleep.e.m0";
        var shard = Grains.GetGrain<IMachineRegistryShardGrain>(MachineRegistryShards.Of(id));
        var status = new MachineStatus { MachineId = id, Enrolled = true, Settings = new MachineSettings(), ClipsSeen = 7 };
        Guid first = Guid.NewGuid(), second = Guid.NewGuid(), third = Guid.NewGuid();

        await shard.Asleep(id, first, status, null);
        Assert.Null((await shard.SleepingStatuses([id]))[0]); // not listed: nothing kept
        await shard.Register([id]);
        await shard.Asleep(id, first, status, null);
        Assert.Null((await shard.SleepingStatuses([id]))[0]); // no activation of it said it was awake

        await shard.Awake(id, first);
        await shard.Awake(id, second);
        await shard.Asleep(id, first, status, null); // late: the second activation has begun
        Assert.Null((await shard.SleepingStatuses([id]))[0]);
        await shard.Asleep(id, second, status, null);
        Assert.Equal(7, (await Grains.GetGrain<IMachineRegistryGrain>(0).SleepingStatuses([id]))[0]?.ClipsSeen);
        await shard.Asleep(id, first, status with { ClipsSeen = 1 }, null); // still late
        Assert.Equal(7, (await shard.SleepingStatuses([id]))[0]?.ClipsSeen);

        await shard.Awake(id, third);
        Assert.Null((await shard.SleepingStatuses([id]))[0]);
        await shard.Asleep(id, third, status, DateTimeOffset.UtcNow.AddMinutes(1));
        Assert.NotNull((await shard.SleepingStatuses([id]))[0]);
        await shard.Unregister([id]); // retired
        Assert.Null((await shard.SleepingStatuses([id]))[0]);
        await shard.Asleep(id, third, status, null); // a retired machine's report
        Assert.Null((await shard.SleepingStatuses([id]))[0]);
    }
}
