using System.Collections.Concurrent;
using AsdOrleans.Audio;
using AsdOrleans.Datasets.Synthesis;
using AsdOrleans.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// Stop 54's rolling restart: every graceful stop of a silo made the silos that stayed log errors
/// ("Exception while trying to deliver msgs to stream asd-events/…", ClientNotAvailableException) for the events that
/// followed, because the stopped silo's event hub unsubscribed only after its silo had stopped (too late; the failure
/// was logged at debug level there). Two silos on a real Redis; the survivor's warnings and errors are captured.
/// </summary>
public sealed class GracefulStopEventStreamTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-graceful-").FullName;
    private RedisServer _redis = null!;

    public async ValueTask InitializeAsync()
    {
        _redis = await RedisServer.StartAsync(Directory.CreateDirectory(Path.Combine(_dir, "redis")).FullName);
        var plan = SynthPlan.Create(new SynthSettings { MachineTypes = 1, SourceTrain = 12, TargetTrain = 2, Test = 24, Seconds = 1, Seed = 6 });
        foreach (var clip in plan.Clips)
        {
            string folder = Path.Combine(_dir, clip.Split == SynthSplit.Train ? "train" : "test");
            Directory.CreateDirectory(folder);
            WavEncoder.WriteMono16(Path.Combine(folder, clip.FileName), ClipSynthesizer.Render(clip), 16_000);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _redis.DisposeAsync();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private Dictionary<string, string?> Settings() => new()
    {
        ["Asd:Redis"] = _redis.Connection,
        ["Asd:ClusterId"] = "graceful-" + Path.GetFileName(_dir),
        ["Asd:DataDirectory"] = Path.Combine(_dir, "shared"),
        ["Asd:Embedder"] = "spectral",
        ["Asd:Device"] = "cpu",
        ["Asd:ApiKeys:Device:0"] = "dev",
        ["Asd:ApiKeys:Labeller:0"] = "lab",
        ["Asd:ApiKeys:Operator:0"] = "op",
    };

    [Fact]
    public async Task A_silo_stopped_gracefully_leaves_no_stream_delivery_errors_on_the_silo_that_stays()
    {
        var (leaving, _) = await SiloApp.StartOnLoopbackAsync(Settings());
        var (staying, address) = await SiloApp.StartOnLoopbackAsync(Settings());
        try
        {
            await leaving.Services.GetRequiredService<ConsoleEventHub>().Subscribed.WaitAsync(TimeSpan.FromSeconds(30));
            await staying.Services.GetRequiredService<ConsoleEventHub>().Subscribed.WaitAsync(TimeSpan.FromSeconds(30));
            var log = new ConcurrentQueue<(LogLevel Level, string Text)>();
            staying.Services.GetRequiredService<ILoggerFactory>().AddProvider(new WarningLogProvider(log, withExceptions: true));

            await leaving.StopAsync();
            await leaving.DisposeAsync();

            // Events after the stop: an enrollment, then clips (alerts and label requests on the plant streams).
            using var operatorHttp = new HttpClient { BaseAddress = address };
            operatorHttp.DefaultRequestHeaders.Add("X-Api-Key", "op");
            using var form = new MultipartFormDataContent();
            foreach (var file in Directory.EnumerateFiles(Path.Combine(_dir, "train"), "*.wav"))
            {
                var part = new ByteArrayContent(await File.ReadAllBytesAsync(file));
                part.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("audio/wav");
                form.Add(part, file.Contains("_target_", StringComparison.Ordinal) ? "target" : "source", Path.GetFileName(file));
            }
            var enrolled = await operatorHttp.PostAsync("/api/machines/ops.lathe-04/enrollment/audio", form);
            Assert.True(enrolled.IsSuccessStatusCode, await enrolled.Content.ReadAsStringAsync());
            using var device = new HttpClient { BaseAddress = address };
            device.DefaultRequestHeaders.Add("X-Api-Key", "dev");
            int alerts = 0;
            foreach (var file in Directory.EnumerateFiles(Path.Combine(_dir, "test"), "*.wav").Order(StringComparer.Ordinal))
            {
                var content = new ByteArrayContent(await File.ReadAllBytesAsync(file));
                content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("audio/wav");
                var response = await device.PostAsync($"/api/machines/ops.lathe-04/clips?clipId={Path.GetFileNameWithoutExtension(file)}", content);
                Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
                if (System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("anomalous").GetBoolean()) alerts++;
            }
            Assert.True(alerts > 0, "no clip raised an alert: nothing was delivered");
            await Task.Delay(TimeSpan.FromSeconds(5)); // the stream agents deliver (and would fail) within a second or two

            var failures = log.Where(e => e.Text.Contains("ClientNotAvailableException", StringComparison.Ordinal)
                                          || e.Text.Contains("while trying to deliver msgs to stream asd-events", StringComparison.Ordinal)).ToList();
            Assert.True(failures.Count == 0, $"{failures.Count} stream delivery failures logged on the silo that stayed, first: {failures.FirstOrDefault().Text}");
        }
        finally
        {
            await staying.StopAsync();
            await staying.DisposeAsync();
        }
    }
}
