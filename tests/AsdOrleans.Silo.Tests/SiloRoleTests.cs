using AsdOrleans.Grains;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Audio;
using AsdOrleans.Datasets.Synthesis;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Model;
using AsdOrleans.EncoderGrains;
using AsdOrleans.Grains.Placement;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime.Placement;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// Silo roles in one Redis cluster (a real redis-server): A = encoder,machines and C = encoder, both with the model;
/// B = machines only, without a model. Clips go in through B and machines are configured through C, so each role's
/// placement filter is the only thing keeping grains off the silo that receives the call.
/// </summary>
public sealed class SiloRoleTests : IAsyncLifetime
{
    private const string OperatorKey = "roles-op", DeviceKey = "roles-dev";
    private static readonly SynthPlan Plan = SynthPlan.Create(new SynthSettings { MachineTypes = 1, SourceTrain = 10, TargetTrain = 2, Test = 4, Seconds = 1, Seed = 11 });
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-roles-").FullName;
    private RedisServer _redis = null!;
    private readonly List<Silo> _silos = [];
    private string _modelVersion = "";

    private sealed record Silo(string Roles, WebApplication App, HttpClient Http)
    {
        public SiloAddress Address => App.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress;
    }

    private Silo A => _silos[0];
    private Silo B => _silos[1];
    private Silo C => _silos[2];

    public async ValueTask InitializeAsync()
    {
        _redis = await RedisServer.StartAsync(_dir);
        string modelPath = Path.Combine(_dir, "tiny.asdm");
        using (var model = EncoderModel.Untrained(new EncoderArchitecture { Width = 4, EmbeddingDimension = 16 }, seed: 7, TorchSharp.torch.CPU))
        {
            model.Save(modelPath);
            _modelVersion = model.VersionId;
        }
        foreach (var (roles, withModel) in new[] { ("encoder,machines", true), ("machines", false), ("encoder", true) })
        {
            var (app, address) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
            {
                ["Asd:Redis"] = _redis.Connection,
                ["Asd:ClusterId"] = "roles-" + Path.GetFileName(_dir),
                ["Asd:DataDirectory"] = Path.Combine(_dir, "shared"),
                ["Asd:Roles"] = roles,
                ["Asd:ModelPath"] = withModel ? modelPath : "",
                ["Asd:Device"] = "cpu",
                ["Asd:ApiKeys:Operator:0"] = OperatorKey,
                ["Asd:ApiKeys:Device:0"] = DeviceKey,
            });
            _silos.Add(new Silo(roles, app, new HttpClient { BaseAddress = address }));
        }
        await WaitUntilEverySiloKnowsEveryRole();
    }

    /// <summary>Silo metadata travels with membership; until a silo has a peer's roles it will not place grains there.</summary>
    private async Task WaitUntilEverySiloKnowsEveryRole()
    {
        for (var deadline = DateTime.UtcNow.AddSeconds(60); ; await Task.Delay(200))
        {
            bool known = _silos.All(observer => _silos.All(peer =>
                observer.App.Services.GetRequiredService<ISiloMetadataCache>().GetSiloMetadata(peer.Address).Metadata
                    .GetValueOrDefault(SiloRoles.MetadataKey) == peer.Roles));
            if (known) return;
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the silos did not learn each other's roles within 60 s");
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var silo in Enumerable.Reverse(_silos))
        {
            silo.Http.Dispose();
            await silo.App.StopAsync();
            await silo.App.DisposeAsync();
        }
        await _redis.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private static async Task<HttpResponseMessage> Send(Silo silo, HttpMethod method, string path, string key, HttpContent? content = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Add("X-Api-Key", key);
        return await silo.Http.SendAsync(request);
    }

    private static byte[] Wav(ClipSpec clip) => WavEncoder.EncodeMono16(ClipSynthesizer.Render(clip), 16_000);

    [Fact]
    public async Task Clips_posted_to_a_machines_only_silo_are_embedded_on_encoder_silos_and_machines_stay_off_the_encoder_only_silo()
    {
        var machines = Enumerable.Range(0, 6).Select(i => $"roles.m{i}").ToList();
        var random = new Random(5);
        foreach (var machine in machines)
        {
            // Configured and (but the first) enrolled through C, encoder only: the machine grain must activate on A or B.
            var configured = await Send(C, HttpMethod.Put, $"/api/machines/{machine}", OperatorKey, JsonContent.Create(new MachineSettings { Seed = 3 }));
            Assert.True(configured.IsSuccessStatusCode, await configured.Content.ReadAsStringAsync());
            if (machine == machines[0]) continue;
            var vectors = Enumerable.Range(0, 12).Select(i => new EnrollmentClip(
                Enumerable.Range(0, 16).Select(_ => (float)random.NextDouble() - 0.5f).ToArray(), i % 6 == 0)).ToList();
            var enrolled = await Send(C, HttpMethod.Post, $"/api/machines/{machine}/enrollment", OperatorKey, JsonContent.Create(new EnrollmentRequest(vectors, _modelVersion)));
            Assert.True(enrolled.IsSuccessStatusCode, await enrolled.Content.ReadAsStringAsync());
        }
        // The first machine is enrolled from audio through B (no model): B's worker calls go to an encoder silo.
        using (var form = new MultipartFormDataContent())
        {
            foreach (var clip in Plan.Clips.Where(c => c.Split == SynthSplit.Train))
            {
                var part = new ByteArrayContent(Wav(clip));
                part.Headers.ContentType = new MediaTypeHeaderValue("audio/wav");
                form.Add(part, clip.Domain == SynthDomain.Target ? "target" : "source", clip.FileName);
            }
            var enrolled = await Send(B, HttpMethod.Post, $"/api/machines/{machines[0]}/enrollment/audio", OperatorKey, form);
            Assert.True(enrolled.IsSuccessStatusCode, await enrolled.Content.ReadAsStringAsync());
        }

        foreach (var (machine, i) in machines.Select((m, i) => (m, i)))
        {
            var content = new ByteArrayContent(Wav(Plan.Clips.Where(c => c.Split == SynthSplit.Test).ElementAt(i % 4)));
            content.Headers.ContentType = new MediaTypeHeaderValue("audio/wav");
            var response = await Send(B, HttpMethod.Post, $"/api/machines/{machine}/clips?clipId=c{i}", DeviceKey, content);
            string body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, body);
            double score = JsonDocument.Parse(body).RootElement.GetProperty("score").GetDouble();
            Assert.True(double.IsFinite(score) && score >= 0, $"score {score}");
        }

        // Asked outright to activate a machine on C (a placement hint, which every placement director honours when
        // the silo is a candidate), Orleans still places it on A or B: the role filter removed C from the candidates.
        RequestContext.Set(IPlacementDirector.PlacementHintKey, C.Address);
        try
        {
            await C.App.Services.GetRequiredService<IClusterClient>().GetGrain<IMachineGrain>("roles.hinted").Configure(new MachineSettings());
        }
        finally
        {
            RequestContext.Clear();
        }

        var management = B.App.Services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0);
        // Stateless workers are counted per silo but not listed one by one (they sit behind one worker context).
        var workers = (await management.GetSimpleGrainStatistics())
            .Where(a => a.GrainType.Contains(nameof(EncoderWorkerGrain), StringComparison.Ordinal) && a.ActivationCount > 0).ToList();
        var activations = await management.GetDetailedGrainStatistics();
        var machineGrains = activations.Where(a => a.GrainType.Contains(nameof(Grains.MachineGrain), StringComparison.Ordinal)
            && a.GrainId.Key.ToString()!.StartsWith("roles.", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(workers);
        Assert.All(workers, w => Assert.True(w.SiloAddress.Equals(A.Address) || w.SiloAddress.Equals(C.Address), $"encoder worker on {w.SiloAddress}"));
        Assert.Equal(machines.Count + 1, machineGrains.Count);
        Assert.All(machineGrains, m => Assert.True(m.SiloAddress.Equals(A.Address) || m.SiloAddress.Equals(B.Address), $"machine grain on {m.SiloAddress}"));

        // B never loaded a model (it has none); the encoder silos did the embedding between them.
        EncoderService Encoder(Silo silo) => silo.App.Services.GetRequiredService<EncoderService>();
        Assert.False(Encoder(B).IsLoaded);
        long embedded = Encoder(A).Statistics.Clips + Encoder(C).Statistics.Clips;
        Assert.Equal(Plan.Clips.Count(c => c.Split == SynthSplit.Train) + machines.Count, embedded);

        // The dashboard shows each silo's roles (its silo metadata), from any silo.
        var metadata = await Send(B, HttpMethod.Get, $"/dashboard/SiloMetadata/{A.Address.ToParsableString()}", OperatorKey);
        Assert.Equal(HttpStatusCode.OK, metadata.StatusCode);
        Assert.Contains("encoder,machines", await metadata.Content.ReadAsStringAsync());
    }
}

public sealed class SiloRoleParsingTests
{
    [Fact]
    public void Roles_parse_strictly_and_match_whole_names()
    {
        Assert.Equal(["encoder", "machines"], SiloRoles.Parse("machines, Encoder,machines"));
        Assert.Equal(["machines"], SiloRoles.Parse("machines"));
        Assert.Contains("'gpu'", Assert.Throws<ArgumentException>(() => SiloRoles.Parse("encoder,gpu")).Message);
        Assert.Throws<ArgumentException>(() => SiloRoles.Parse(" , "));
        Assert.True(SiloRoles.Includes("encoder,machines", SiloRoles.Machines));
        Assert.False(SiloRoles.Includes("encoders", SiloRoles.Encoder));
        Assert.False(SiloRoles.Includes(null, SiloRoles.Encoder));
    }

    [Fact]
    public void A_leaving_silo_is_left_out_while_another_stays_and_forgotten_after_half_an_hour()
    {
        var clock = new SettableClock();
        var leaving = new LeavingSilos(clock);
        SiloAddress a = SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 11111), 1), b = SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 11112), 1);
        Assert.Equal([a, b], leaving.Staying([a, b]));
        leaving.Add(a);
        Assert.Equal([b], leaving.Staying([a, b]));
        // A later run of the same address is another silo.
        Assert.False(leaving.Contains(SiloAddress.New(a.Endpoint, 2)));
        // All leaving: placed on one of them all the same (the grain moves again as that silo stops) rather than failing.
        leaving.Add(b);
        Assert.Equal([a, b], leaving.Staying([a, b]));
        clock.Now += LeavingSilos.KeptFor + TimeSpan.FromSeconds(1);
        leaving.Add(b); // an entry is dropped when a later one is added after its time
        Assert.False(leaving.Contains(a));
        Assert.Equal([a], leaving.Staying([a, b]));
    }

    [Fact]
    public void The_write_through_window_opens_on_a_leave_stays_open_a_minute_after_the_last_and_then_closes()
    {
        var clock = new SettableClock();
        var window = new WriteThroughWindow(clock);
        Assert.False(window.IsOpen);
        Assert.True(window.Open()); // was closed: the silo has its grains write what they hold
        Assert.True(window.IsOpen);
        clock.Now += TimeSpan.FromSeconds(30);
        Assert.False(window.Open()); // open already: nothing to write at once, only longer
        clock.Now += WriteThroughWindow.Length - TimeSpan.FromSeconds(1);
        Assert.True(window.IsOpen);
        clock.Now += TimeSpan.FromSeconds(1);
        Assert.False(window.IsOpen);
        Assert.True(window.Open());
    }

    private sealed class SettableClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 12, 7, 0, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }
}

/// <summary>A cluster that lacks a role answers the calls that need it with 503 and what to start, and stores nothing.</summary>
public sealed class MissingRoleTests
{
    [Theory]
    [InlineData("machines", "encoder")]
    [InlineData("encoder", "machines")]
    public async Task A_call_needing_an_absent_role_is_a_503_naming_the_role(string roles, string missing)
    {
        var dir = Directory.CreateTempSubdirectory("asd-missing-role-").FullName;
        var (app, address) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
        {
            ["Asd:DataDirectory"] = dir,
            ["Asd:Roles"] = roles,
            ["Asd:ApiKeys:Operator:0"] = "op",
            ["Asd:ApiKeys:Device:0"] = "dev",
        });
        try
        {
            using var http = new HttpClient { BaseAddress = address };
            if (missing == SiloRoles.Encoder)
            {
                // Enrolled from JSON embeddings (no encoder needed): a clip for a machine not enrolled is refused (409)
                // before it is embedded, so only an enrolled machine's clip needs the encoder role.
                var random = new Random(5);
                var enrollment = new EnrollmentRequest(Enumerable.Range(0, 12).Select(i => new EnrollmentClip(
                    Enumerable.Range(0, 16).Select(_ => (float)random.NextDouble() - 0.5f).ToArray(), i % 6 == 0)).ToList(), "enc-lonely");
                using var enroll = new HttpRequestMessage(HttpMethod.Post, "/api/machines/lonely.m1/enrollment") { Content = JsonContent.Create(enrollment) };
                enroll.Headers.Add("X-Api-Key", "op");
                var enrolled = await http.SendAsync(enroll);
                Assert.True(enrolled.IsSuccessStatusCode, $"{enrolled.StatusCode}: {await enrolled.Content.ReadAsStringAsync()}");
            }
            using var request = missing == SiloRoles.Encoder
                ? new HttpRequestMessage(HttpMethod.Post, "/api/machines/lonely.m1/clips?clipId=c1")
                {
                    Content = new ByteArrayContent(WavEncoder.EncodeMono16(new float[16_000], 16_000)) { Headers = { ContentType = new MediaTypeHeaderValue("audio/wav") } },
                }
                : new HttpRequestMessage(HttpMethod.Put, "/api/machines/lonely.m1") { Content = JsonContent.Create(new MachineSettings()) };
            request.Headers.Add("X-Api-Key", missing == SiloRoles.Encoder ? "dev" : "op");
            var response = await http.SendAsync(request);
            string body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{response.StatusCode}: {body}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains($"no active silo has the {missing} role", body);
            Assert.Empty(Directory.EnumerateFiles(dir, "*.wav", SearchOption.AllDirectories));
            if (missing == SiloRoles.Machines)
                Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/readyz")).StatusCode);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            Directory.Delete(dir, recursive: true);
        }
    }
}
