using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Grains;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// A machine taken out of the plant is retired for good over HTTP: its listing, state, score history, requests and every
/// audio file kept for it go, its id is unknown afterwards, and configuring it again starts a new machine.
/// </summary>
public sealed class MachineRetirementTests(SiloFixture silo) : IClassFixture<SiloFixture>
{
    private string[] FoldersOf(string machine) => [.. new[] { "clips", "alert-clips", "normal-clips", "labelled-clips" }
        .Select(root => Path.Combine(silo.DataDirectory, root, machine)).Where(Directory.Exists)];

    private async Task<bool> Listed(string machine)
        => (await silo.Get("/api/machines?limit=10000")).EnumerateArray().Any(m => m.GetProperty("machineId").GetString() == machine);

    [Fact]
    public async Task A_retired_machine_leaves_nothing_behind_and_its_id_starts_afresh()
    {
        const string machine = "retire.saw-01", other = "retire.saw-02";
        foreach (var m in new[] { machine, other })
        {
            await silo.Enroll(m, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 });
            for (int i = 0; i < 4; i++)
                Assert.True((await silo.Push(m, $"c-{i}", i)).GetProperty("labelRequested").GetBoolean());
            foreach (var (clip, label) in new[] { ("c-0", "normal"), ("c-1", "anomalous") })
                Assert.True((await silo.Send(HttpMethod.Post, $"/api/machines/{m}/clips/{clip}/label", SiloFixture.LabellerKey, JsonContent.Create(new { label }))).IsSuccessStatusCode);
        }
        Assert.NotEmpty(FoldersOf(machine));
        Assert.Equal(HttpStatusCode.Forbidden, (await silo.Send(HttpMethod.Delete, $"/api/machines/{machine}", SiloFixture.LabellerKey)).StatusCode);

        var response = await silo.Send(HttpMethod.Delete, $"/api/machines/{machine}", SiloFixture.OperatorKey);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        var retired = JsonDocument.Parse(body).RootElement;
        Assert.Equal((1L, 1L, 4L, 2), (retired.GetProperty("normalLabels").GetInt64(), retired.GetProperty("anomalousLabels").GetInt64(),
            retired.GetProperty("clipsSeen").GetInt64(), retired.GetProperty("withdrawnLabelRequests").GetInt32()));

        // Gone from every read, its requests from the queue, its audio from the disk; the other machine untouched.
        Assert.Equal(HttpStatusCode.NotFound, (await silo.Send(HttpMethod.Get, $"/api/machines/{machine}", SiloFixture.LabellerKey)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await silo.Send(HttpMethod.Get, $"/api/machines/{machine}/scores", SiloFixture.LabellerKey)).StatusCode);
        Assert.False(await Listed(machine));
        Assert.True(await Listed(other));
        Assert.DoesNotContain((await silo.Get("/api/label-requests?limit=1000")).EnumerateArray(), r => r.GetProperty("machineId").GetString() == machine);
        Assert.Equal(2, (await silo.Get($"/api/label-requests?machine={other}")).GetArrayLength());
        Assert.Empty(FoldersOf(machine));
        Assert.NotEmpty(FoldersOf(other));
        // A late answer to one of its requests is refused as for any id nobody enrolled (409, as a write to an unknown id is).
        var late = await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/clips/c-2/label", SiloFixture.LabellerKey, JsonContent.Create(new { label = "normal" }));
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
        Assert.Contains("nobody configured or enrolled a machine of this id", await late.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await silo.Send(HttpMethod.Delete, $"/api/machines/{machine}", SiloFixture.OperatorKey)).StatusCode);

        // Storage holds nothing for it: a fresh activation (after the retired one left) reads an unknown machine.
        var grains = silo.App.Services.GetRequiredService<IGrainFactory>();
        await Waiting.Until(async () => !(await grains.GetGrain<IMachineRegistryShardGrain>(MachineRegistryShards.Of(machine)).Contains(machine)), "the listing to go", seconds: 5);

        // The id again: a new machine, with none of the old one's clips, labels or history. Configured only, it is not
        // enrolled: nothing of the old state was read back from storage.
        Assert.Equal(HttpStatusCode.OK, (await silo.Send(HttpMethod.Put, $"/api/machines/{machine}", SiloFixture.OperatorKey, JsonContent.Create(new MachineSettings()))).StatusCode);
        var configured = await silo.Get($"/api/machines/{machine}");
        Assert.False(configured.GetProperty("enrolled").GetBoolean());
        Assert.Equal(0, configured.GetProperty("clipsSeen").GetInt64());
        Assert.Equal(0, (await silo.Get($"/api/machines/{machine}/scores")).GetArrayLength());
        await silo.Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 });
        var status = await silo.Get($"/api/machines/{machine}");
        Assert.Equal((0L, 0L, 0L, 0), (status.GetProperty("clipsSeen").GetInt64(), status.GetProperty("normalLabels").GetInt64(),
            status.GetProperty("anomalousLabels").GetInt64(), status.GetProperty("pendingLabelRequests").GetInt32()));
        Assert.Equal(0, (await silo.Get($"/api/machines/{machine}/scores")).GetArrayLength());
        Assert.True((await silo.Push(machine, "c-0", 0)).GetProperty("labelRequested").GetBoolean()); // an old clip id is new here
    }

    [Fact]
    public async Task Retiring_an_unknown_or_malformed_id_changes_nothing()
    {
        Assert.Equal(HttpStatusCode.NotFound, (await silo.Send(HttpMethod.Delete, "/api/machines/retire.nobody-01", SiloFixture.OperatorKey)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await silo.Send(HttpMethod.Delete, "/api/machines/bad%20id", SiloFixture.OperatorKey)).StatusCode);
        Assert.False(await Listed("retire.nobody-01"));
    }
}
