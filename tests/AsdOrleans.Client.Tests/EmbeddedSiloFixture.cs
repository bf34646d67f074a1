using AsdOrleans.Application;
using AsdOrleans.Abstractions;
using AsdOrleans.Audio;
using AsdOrleans.Datasets.Synthesis;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Model;
using Microsoft.AspNetCore.Builder;

namespace AsdOrleans.Client.Tests;

/// <summary>A real embedded silo (SQLite, tiny untrained encoder) on 127.0.0.1 and a client connected through its gateway.</summary>
public sealed class EmbeddedSiloFixture : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-client-").FullName;
    private WebApplication _silo = null!;

    public const string DeviceKey = "client-tests-device";

    public AsdClusterClient Client { get; private set; } = null!;
    /// <summary>The silo's HTTP API, with the device key.</summary>
    public HttpClient Http { get; } = new();
    public int GatewayPort { get; } = Silo.SiloApp.FreeLoopbackPort();
    public string DatabasePath => Path.Combine(_dir, "data", "grains.db");

    public async ValueTask InitializeAsync()
    {
        string modelPath = Path.Combine(_dir, "tiny.asdm");
        using (var model = EncoderModel.Untrained(new EncoderArchitecture { Width = 4, EmbeddingDimension = 16 }, seed: 7, TorchSharp.torch.CPU))
            model.Save(modelPath);
        (_silo, var address) = await Silo.SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
        {
            ["Asd:ApiKeys:Device:0"] = DeviceKey,
            ["Asd:DataDirectory"] = Path.Combine(_dir, "data"),
            ["Asd:ModelPath"] = modelPath,
            ["Asd:Device"] = "cpu",
            ["Asd:GatewayPort"] = GatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        Http.BaseAddress = address;
        Http.DefaultRequestHeaders.Add("X-Api-Key", DeviceKey);
        Client = await AsdClusterClient.ConnectAsync(new AsdClientOptions { GatewayPort = GatewayPort });
    }

    private Task<EnrollmentRequest>? _enrollment;

    /// <summary>The training clips embedded once by the silo's encoder, for tests that need an enrolled machine quickly.</summary>
    public Task<EnrollmentRequest> TrainingEnrollment() => _enrollment ??= EmbedTraining();

    private async Task<EnrollmentRequest> EmbedTraining()
    {
        var worker = Client.Orleans.GetGrain<IEncoderWorkerGrain>(0);
        var embedded = await Task.WhenAll(TestClips.Training.Select(c => worker.Embed(c.Wav, c.Name)));
        return new EnrollmentRequest(embedded.Select((e, i) => new EnrollmentClip(e.Embedding, TestClips.Training[i].IsTargetDomain)).ToList(), embedded[0].ModelVersion);
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        Http.Dispose();
        await _silo.StopAsync();
        await _silo.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}

/// <summary>Short synthetic clips of one machine type: training clips for enrollment and test clips to push.</summary>
internal static class TestClips
{
    private static readonly SynthPlan Plan = SynthPlan.Create(new SynthSettings { MachineTypes = 1, SourceTrain = 12, TargetTrain = 2, Test = 8, Seconds = 1, Seed = 3 });

    public static byte[] Wav(ClipSpec clip) => WavEncoder.EncodeMono16(ClipSynthesizer.Render(clip), SynthSettings.SampleRate);

    public static IReadOnlyList<TrainingClip> Training { get; } = Plan.Clips.Where(c => c.Split == SynthSplit.Train)
        .Select(c => new TrainingClip(Wav(c), c.Domain == SynthDomain.Target, c.ToString())).ToList();

    public static IReadOnlyList<byte[]> Test { get; } = Plan.Clips.Where(c => c.Split == SynthSplit.Test).Select(Wav).ToList();

    /// <summary>Loud white noise: nothing like the machine's training sound, so its score is far above the threshold.</summary>
    public static byte[] Noise(int seed)
    {
        var random = new Random(seed);
        var samples = new float[SynthSettings.SampleRate];
        for (int i = 0; i < samples.Length; i++)
            samples[i] = (float)(random.NextDouble() * 1.6 - 0.8);
        return WavEncoder.EncodeMono16(samples, SynthSettings.SampleRate);
    }
}
