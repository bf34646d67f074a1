using System.Diagnostics;
using System.Globalization;
using AsdOrleans.Abstractions;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// Stop 56 over HTTP: <c>GET /api/machines</c> of a plant whose machines sleep answers from their registry shards and wakes
/// none of them; the first listing after a restart (nothing kept yet: what every listing did before) wakes them all. Also
/// the benchmark of docs/benchmarks.md ("Listing sleeping machines"): <c>ASD_SLEEP_LISTING_MACHINES=200</c> for its plant,
/// <c>ASD_SLEEP_LISTING_REPORT=file</c> to append its figures there.
/// </summary>
public sealed class SleepingMachineListingHttpTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-sleep-listing-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Task<(WebApplication App, Uri Address)> Start() => SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
    {
        ["Asd:DataDirectory"] = Path.Combine(_dir, "data"),
        ["Asd:MachineIdleMinutes"] = "0.05", // 3 s
        ["Asd:ApiKeys:Operator:0"] = "sleep-operator",
    });

    private static async Task<int> Resident(WebApplication app)
    {
        var statistics = await app.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics();
        return statistics.Where(s => s.GrainType.Contains(nameof(Grains.MachineGrain), StringComparison.Ordinal)).Sum(s => s.ActivationCount);
    }

    private static async Task UntilAsleep(WebApplication app)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (await Resident(app) > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "machines still awake after 60 s");
            await Task.Delay(250);
        }
    }

    /// <summary>The listing's body, how long it took, and how many machine grains it woke (none were awake before).</summary>
    private static async Task<(string Body, double Ms, int Woken)> List(WebApplication app, HttpClient http)
    {
        var clock = Stopwatch.StartNew();
        using var answer = await http.GetAsync("/api/machines?limit=1000");
        string body = await answer.Content.ReadAsStringAsync();
        double ms = clock.Elapsed.TotalMilliseconds;
        Assert.True(answer.IsSuccessStatusCode, $"{answer.StatusCode}: {body}");
        return (body, ms, await Resident(app));
    }

    [Fact]
    public async Task Listing_a_sleeping_plant_wakes_none_of_it_except_once_after_a_restart()
    {
        int count = int.TryParse(Environment.GetEnvironmentVariable("ASD_SLEEP_LISTING_MACHINES"), out var n) ? n : 40;
        var (app, address) = await Start();
        try
        {
            var grains = app.Services.GetRequiredService<IGrainFactory>();
            var random = new Random(56);
            float[] Vector() => Enumerable.Range(0, 16).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
            var enrollment = new EnrollmentRequest(Enumerable.Range(0, 40).Select(i => new EnrollmentClip(Vector(), i % 10 == 0)).ToList(), "enc-sleep");
            for (int m = 0; m < count; m++)
            {
                var machine = grains.GetGrain<IMachineGrain>($"plant.m{m:0000}");
                await machine.Configure(new MachineSettings { Strategy = "none" });
                await machine.Enroll(enrollment);
                for (int c = 0; c < 3; c++)
                    await machine.ProcessClip(new ClipSubmission($"c{c}", Vector(), "enc-sleep"));
            }
            await UntilAsleep(app);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        (app, address) = await Start(); // nothing kept: every machine is asleep, as a cold plant's or any listing before stop 56 found it
        try
        {
            using var http = new HttpClient { BaseAddress = address };
            http.DefaultRequestHeaders.Add("X-Api-Key", "sleep-operator");
            (await http.GetAsync("/api/machines?after=zzz&limit=1")).EnsureSuccessStatusCode(); // registry and shards up; no machine listed
            Assert.Equal(0, await Resident(app));

            var cold = await List(app, http);
            Assert.Equal(count, cold.Woken); // nothing kept yet: each machine is asked, and wakes
            var warm = await List(app, http); // all awake: what a console's listing found before stop 56, once the plant was awake
            await UntilAsleep(app);

            var kept = new List<(string Body, double Ms, int Woken)>();
            for (int i = 0; i < 5; i++)
                kept.Add(await List(app, http));
            Assert.All(kept, k => Assert.Equal(0, k.Woken));
            Assert.All(kept, k => Assert.Equal(cold.Body, k.Body)); // the statuses the machines slept with are those they answered

            double median = kept.Select(k => k.Ms).Order().ElementAt(kept.Count / 2);
            string report = string.Create(CultureInfo.InvariantCulture,
                $"{count} machines asleep, GET /api/machines?limit=1000 ({cold.Body.Length / 1024} KiB): nothing kept (first listing after a restart) "
                + $"{cold.Ms:F0} ms, {cold.Woken} woken; all awake {warm.Ms:F0} ms; kept statuses {median:F1} ms median of 5 "
                + $"({string.Join(", ", kept.Select(k => k.Ms.ToString("F1", CultureInfo.InvariantCulture)))}), {kept.Max(k => k.Woken)} woken");
            output.WriteLine(report);
            if (Environment.GetEnvironmentVariable("ASD_SLEEP_LISTING_REPORT") is { Length: > 0 } file)
                File.AppendAllText(file, report + Environment.NewLine);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
