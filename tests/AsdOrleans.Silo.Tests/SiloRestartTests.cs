using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Net.Http.Headers;
using System.Text.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Audio;
using AsdOrleans.Audio.Features;
using AsdOrleans.Datasets.Synthesis;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Silo.Tests;

/// <summary>The embedded default keeps machines and their enrollment across a silo restart (SQLite under the data directory).</summary>
public sealed class SiloRestartTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-restart-").FullName;
    private string? _modelPath;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<(WebApplication App, HttpClient Http)> Start()
    {
        var (app, address) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
        {
            ["Asd:DataDirectory"] = Path.Combine(_dir, "data"),
            ["Asd:ApiKeys:Operator:0"] = "op",
            ["Asd:ApiKeys:Device:0"] = "dev",
            ["Asd:ModelPath"] = _modelPath,
            ["Asd:Device"] = "cpu",
        });
        var http = new HttpClient { BaseAddress = address };
        http.DefaultRequestHeaders.Add("X-Api-Key", "op");
        return (app, http);
    }

    [Fact]
    public async Task Configuration_enrollment_and_the_registry_survive_a_restart()
    {
        var random = new Random(3);
        float[] Vector() => Enumerable.Range(0, 16).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var enrollment = new EnrollmentRequest(Enumerable.Range(0, 40).Select(i => new EnrollmentClip(Vector(), i % 10 == 0)).ToList(), "enc-restart");

        var (app, http) = await Start();
        Assert.Equal(HttpStatusCode.OK, (await http.PutAsJsonAsync("/api/machines/restart.m1", new MachineSettings { Strategy = "random", Budget = 0.3, Seed = 8 })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsJsonAsync("/api/machines/restart.m1/enrollment", enrollment)).StatusCode);
        string before = await http.GetStringAsync("/api/machines/restart.m1");
        string list = await http.GetStringAsync("/api/machines");
        await app.StopAsync();
        await app.DisposeAsync();
        http.Dispose();

        (app, http) = await Start();
        Assert.Equal(before, await http.GetStringAsync("/api/machines/restart.m1"));
        Assert.Equal(list, await http.GetStringAsync("/api/machines"));
        Assert.Contains("\"enrolled\":true", before);
        Assert.Contains("\"standardizesFeatures\":false", before); // encoder embeddings: used as they come
        await app.StopAsync();
        await app.DisposeAsync();
        http.Dispose();
        Assert.True(File.Exists(Path.Combine(_dir, "data", "grains.db")));
    }

    [Fact]
    public async Task Labels_pending_requests_and_their_audio_survive_a_restart()
    {
        var architecture = new EncoderArchitecture { Width = 4, EmbeddingDimension = 16 };
        using var model = EncoderModel.Untrained(architecture, seed: 9, TorchSharp.torch.CPU);
        _modelPath = Path.Combine(_dir, "tiny.asdm");
        model.Save(_modelPath);
        var plan = SynthPlan.Create(new SynthSettings { MachineTypes = 1, SourceTrain = 12, TargetTrain = 2, Test = 8, Seconds = 1, Seed = 6 });
        var train = plan.Clips.Where(c => c.Split == SynthSplit.Train).ToList();
        var test = plan.Clips.Where(c => c.Split == SynthSplit.Test).ToList();
        var embeddings = model.Embed(train.Select(ClipSynthesizer.Render).ToList());

        var (app, http) = await Start();
        await http.PutAsJsonAsync("/api/machines/restart.m2", new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 1 });
        var enrolled = await http.PostAsJsonAsync("/api/machines/restart.m2/enrollment",
            new EnrollmentRequest(embeddings.Select(e => new EnrollmentClip(e, false)).ToList(), model.VersionId));
        Assert.True(enrolled.IsSuccessStatusCode, await enrolled.Content.ReadAsStringAsync());
        for (int i = 0; i < 4; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/machines/restart.m2/clips?clipId=r{i}")
            {
                Content = new ByteArrayContent(WavEncoder.EncodeMono16(ClipSynthesizer.Render(test[i]), 16_000)),
            };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("audio/wav");
            request.Headers.Add("X-Api-Key", "dev");
            var response = await http.SendAsync(request);
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        }
        // Label two of the four requested clips; the other two stay pending with their audio.
        Assert.True((await http.PostAsJsonAsync("/api/machines/restart.m2/clips/r0/label", new { label = "anomalous" })).IsSuccessStatusCode);
        Assert.True((await http.PostAsJsonAsync("/api/machines/restart.m2/clips/r1/label", new { label = "normal" })).IsSuccessStatusCode);
        string before = await http.GetStringAsync("/api/machines/restart.m2");
        string pending = await http.GetStringAsync("/api/label-requests?machine=restart.m2");
        await app.StopAsync();
        await app.DisposeAsync();
        http.Dispose();

        (app, http) = await Start();
        string after = await http.GetStringAsync("/api/machines/restart.m2");
        var status = JsonDocument.Parse(after).RootElement;
        Assert.Equal(1, status.GetProperty("anomalySetSize").GetInt32());
        Assert.Equal(1, status.GetProperty("normalLabels").GetInt32());
        Assert.Equal(2, status.GetProperty("pendingLabelRequests").GetInt32());
        Assert.Equal(4, status.GetProperty("clipsSeen").GetInt32());
        Assert.Equal(before, after);
        Assert.Equal(pending, await http.GetStringAsync("/api/label-requests?machine=restart.m2"));
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/machines/restart.m2/clips/r2/audio")).StatusCode);
        var again = await http.PostAsJsonAsync("/api/machines/restart.m2/clips/r0/label", new { label = "anomalous" });
        Assert.Contains("\"alreadyApplied\":true", await again.Content.ReadAsStringAsync());
        await app.StopAsync();
        await app.DisposeAsync();
        http.Dispose();
    }

}
