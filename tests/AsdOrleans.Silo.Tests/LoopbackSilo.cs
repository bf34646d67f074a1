using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Application;
using AsdOrleans.Audio;
using AsdOrleans.Datasets.Synthesis;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// A real silo host on 127.0.0.1 with a tiny untrained encoder, driven over HTTP; it can be restarted on its data.
/// The fixtures of this assembly differ only in keys, plan and extra settings, so they share this one host.
/// </summary>
public abstract class LoopbackSilo(string prefix, ulong modelSeed, SynthPlan plan, string deviceKey, string labellerKey, string operatorKey,
    IReadOnlyDictionary<string, string?> extraSettings) : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory(prefix).FullName;
    private string _modelPath = "";
    public WebApplication App { get; private set; } = null!;
    public HttpClient Http { get; private set; } = new();
    public EncoderModel Model { get; private set; } = null!;
    public string DataDirectory => Path.Combine(_dir, "data");

    public async ValueTask InitializeAsync()
    {
        Model = EncoderModel.Untrained(new EncoderArchitecture { Width = 4, EmbeddingDimension = 16 }, seed: modelSeed, TorchSharp.torch.CPU);
        _modelPath = Path.Combine(_dir, "tiny.asdm");
        Model.Save(_modelPath);
        await Start();
    }

    private async Task Start()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Asd:DataDirectory"] = DataDirectory,
            ["Asd:ModelPath"] = _modelPath,
            ["Asd:Device"] = "cpu",
            ["Asd:ApiKeys:Device:0"] = deviceKey,
            ["Asd:ApiKeys:Labeller:0"] = labellerKey,
            ["Asd:ApiKeys:Operator:0"] = operatorKey,
        };
        foreach (var (name, value) in extraSettings)
            settings[name] = value;
        (App, var address) = await SiloApp.StartOnLoopbackAsync(settings);
        Http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(2) };
        await Started();
    }

    /// <summary>What a fixture waits for after the host is up.</summary>
    protected virtual Task Started() => Task.CompletedTask;

    /// <summary>Stops the silo (grains deactivate and write what they hold) and starts a new one on the same data.</summary>
    public async Task Restart()
    {
        await Stop();
        await Start();
    }

    private async Task Stop()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        Http.Dispose();
    }

    public virtual async ValueTask DisposeAsync()
    {
        await Stop();
        Model.Dispose();
        Directory.Delete(_dir, recursive: true);
        GC.SuppressFinalize(this);
    }

    public async Task<HttpResponseMessage> Send(HttpMethod method, string path, string? key, HttpContent? content = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        if (key is not null) request.Headers.Add("X-Api-Key", key);
        // The silo refuses an oversized body unread and closes the connection (RequestGate): a large upload waits for
        // 100 Continue, as well-behaved clients do, or the refusal races the client's writes (broken pipe).
        if (content?.Headers.ContentLength > 64 * 1024) request.Headers.ExpectContinue = true;
        return await Http.SendAsync(request);
    }

    public static ByteArrayContent WavContent(byte[] wav)
    {
        var content = new ByteArrayContent(wav);
        content.Headers.ContentType = new MediaTypeHeaderValue("audio/wav");
        return content;
    }

    /// <summary>An enrollment from <paramref name="plan"/>'s training clips, embedded by <paramref name="model"/>.</summary>
    public static EnrollmentRequest EnrollmentOf(EncoderModel model, SynthPlan plan)
    {
        var train = plan.Clips.Where(c => c.Split == SynthSplit.Train).ToList();
        var embeddings = model.Embed(train.Select(c => ClipSynthesizer.Render(c)).ToList());
        return new EnrollmentRequest(embeddings.Select((e, i) => new EnrollmentClip(e, train[i].Domain == SynthDomain.Target)).ToList(), model.VersionId);
    }

    /// <summary>Configures <paramref name="machine"/> and enrolls it from the plan's training clips, over HTTP.</summary>
    public async Task Enroll(string machine, MachineSettings settings)
    {
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Put, $"/api/machines/{machine}", operatorKey, JsonContent.Create(settings))).StatusCode);
        var response = await Send(HttpMethod.Post, $"/api/machines/{machine}/enrollment", operatorKey, JsonContent.Create(EnrollmentOf(Model, plan)));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Posts test clip <paramref name="index"/> of the plan as <paramref name="clipId"/>; returns the verdict.</summary>
    public async Task<JsonElement> Push(string machine, string clipId, int index)
    {
        var clip = plan.Clips.Where(c => c.Split == SynthSplit.Test).ElementAt(index);
        var response = await Send(HttpMethod.Post, $"/api/machines/{machine}/clips?clipId={clipId}", deviceKey,
            WavContent(WavEncoder.EncodeMono16(ClipSynthesizer.Render(clip), 16_000)));
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        return JsonDocument.Parse(body).RootElement;
    }

    /// <summary>Scores test clip <paramref name="index"/> as a gateway's clip (the .NET client's path): the silo keeps no
    /// audio, and any label request carries <paramref name="audioReference"/>.</summary>
    public Task<ClipVerdict> PushFromGateway(string machine, string clipId, int index, string audioReference)
    {
        var clip = plan.Clips.Where(c => c.Split == SynthSplit.Test).ElementAt(index);
        return App.Services.GetRequiredService<MachineUseCases>().IngestClip(machine, clipId,
            WavEncoder.EncodeMono16(ClipSynthesizer.Render(clip), 16_000), audio: null, audioReference);
    }

    /// <summary>GETs <paramref name="path"/> as the labeller (or <paramref name="key"/>) and parses the body.</summary>
    public async Task<JsonElement> Get(string path, string? key = null)
    {
        var response = await Send(HttpMethod.Get, path, key ?? labellerKey);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement;
    }
}
