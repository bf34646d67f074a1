using AsdOrleans.Abstractions;
using AsdOrleans.Audio;
using AsdOrleans.Audio.Features;
using AsdOrleans.Datasets.Synthesis;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Model;
using AsdOrleans.EncoderGrains;
using AsdOrleans.Grains.Placement;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace AsdOrleans.Grains.Tests.Encoding;

/// <summary>A test cluster whose silo has a tiny encoder model and memory storage.</summary>
public sealed class EncoderClusterFixture : OneSiloClusterFixture<EncoderClusterFixture.SiloConfigurator>
{
    public static readonly string ModelPath = Path.Combine(Path.GetTempPath(), $"asd-worker-model-{Guid.NewGuid():N}.asdm");
    public EncoderModel Model { get; private set; } = null!;

    public override async ValueTask InitializeAsync()
    {
        var architecture = new EncoderArchitecture { Width = 4, EmbeddingDimension = 16 };
        Model = EncoderModel.Untrained(architecture, seed: 5, TorchSharp.torch.CPU);
        Model.Save(ModelPath);
        await base.InitializeAsync();
    }

    protected override void Configure(TestClusterBuilder builder) => builder.AddClientBuilderConfigurator<ClientConfigurator>();

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        Model.Dispose();
        File.Delete(ModelPath);
    }

    /// <summary>Orleans' 30 s default timed out embedding 14 clips on a 2-core machine at load 25 (suite run, 2026-12-02).</summary>
    private static readonly TimeSpan SlowMachineTimeout = TimeSpan.FromMinutes(3);

    private sealed class ClientConfigurator : IClientBuilderConfigurator
    {
        public void Configure(Microsoft.Extensions.Configuration.IConfiguration configuration, IClientBuilder client) =>
            client.Configure<Orleans.Configuration.ClientMessagingOptions>(o => o.ResponseTimeout = SlowMachineTimeout);
    }

    public sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            silo.Configure<Orleans.Configuration.SiloMessagingOptions>(o => o.ResponseTimeout = SlowMachineTimeout);
            silo.AddMemoryGrainStorage(MachineGrain.StorageName).AddAsdSiloRoles(SiloRoles.All);
            silo.Services.AddAsdEncoder(o => { o.ModelPath = ModelPath; o.Device = "cpu"; o.MaxDelay = TimeSpan.FromMilliseconds(20); });
        }
    }
}

public sealed class EncoderWorkerTests(EncoderClusterFixture fixture) : IClassFixture<EncoderClusterFixture>
{
    private static readonly SynthPlan Plan = SynthPlan.Create(new SynthSettings { MachineTypes = 1, SourceTrain = 12, TargetTrain = 2, Test = 8, Seconds = 1, Seed = 9 });
    private static byte[] Wav(ClipSpec clip) => WavEncoder.EncodeMono16(ClipSynthesizer.Render(clip), 16_000);

    private IEncoderWorkerGrain Worker => fixture.Cluster.GrainFactory.GetGrain<IEncoderWorkerGrain>(0);

    [Fact]
    public async Task Audio_flows_through_the_worker_into_the_machine_and_scores_as_the_model_alone_would()
    {
        var train = Plan.Clips.Where(c => c.Split == SynthSplit.Train).ToList();
        var embedded = await Task.WhenAll(train.Select(c => Worker.Embed(Wav(c), c.FileName)));
        Assert.All(embedded, e => Assert.Equal(fixture.Model.VersionId, e.ModelVersion));
        for (int i = 0; i < train.Count; i++) // the worker's batched embedding equals the model's, alone
            Assert.True(MaxDifference(fixture.Model.Embed([DecodedSamples(train[i])])[0], embedded[i].Embedding) < 1e-5);

        var machine = fixture.Cluster.GrainFactory.GetGrain<IMachineGrain>("worker.machine-1");
        await machine.Configure(new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 4 });
        await machine.Enroll(new EnrollmentRequest(
            embedded.Select((e, i) => new Abstractions.EnrollmentClip(e.Embedding, train[i].Domain == SynthDomain.Target)).ToList(), fixture.Model.VersionId));

        var test = Plan.Clips.Where(c => c.Split == SynthSplit.Test).ToList();
        var verdicts = await Task.WhenAll(test.Select((c, i) => Worker.Ingest("worker.machine-1", $"t{i}", Wav(c), $"audio/t{i}.wav")));
        Assert.Equal(test.Count, verdicts.Select(v => v.ClipIndex).Distinct().Count());
        Assert.All(verdicts, v => Assert.True(double.IsFinite(v.Score)));
        var status = await machine.GetStatus();
        Assert.Equal(test.Count, status.ClipsSeen);
        Assert.Equal(verdicts.Count(v => v.LabelRequested), status.PendingLabelRequests);
    }

    [Fact]
    public async Task Bad_audio_is_a_clear_error_and_changes_nothing()
    {
        var machine = fixture.Cluster.GrainFactory.GetGrain<IMachineGrain>("worker.machine-2");
        var train = Plan.Clips.Where(c => c.Split == SynthSplit.Train).ToList();
        var embedded = await Task.WhenAll(train.Select(c => Worker.Embed(Wav(c), c.FileName)));
        await machine.Enroll(new EnrollmentRequest(embedded.Select(e => new Abstractions.EnrollmentClip(e.Embedding, false)).ToList(), fixture.Model.VersionId));
        var before = await machine.GetStatus();

        var notWav = "this is not audio"u8.ToArray();
        var e = await Assert.ThrowsAsync<ArgumentException>(() => Worker.Ingest("worker.machine-2", "bad-1", notWav, null));
        Assert.Contains("worker.machine-2/bad-1", e.Message);
        var truncated = Wav(train[0])[..2_000];
        await Assert.ThrowsAsync<ArgumentException>(() => Worker.Ingest("worker.machine-2", "bad-2", truncated, null));
        Assert.Equal(before, await machine.GetStatus());
    }

    [Fact]
    public async Task A_machine_set_to_another_embedder_than_the_silos_is_enrolled_and_fed_with_it()
    {
        const string id = "worker.spectral-1";
        var train = Plan.Clips.Where(c => c.Split == SynthSplit.Train).ToList();
        var test = Plan.Clips.Where(c => c.Split == SynthSplit.Test).ToList();
        var machine = fixture.Cluster.GrainFactory.GetGrain<IMachineGrain>(id);
        await machine.Configure(new MachineSettings { Embedder = "spectral", Strategy = "random", Budget = 0.5, Seed = 4 });

        // as MachineUseCases.EnrollFromAudio does: the workers embed with the machine's setting, not the silo's model
        var spectral = await Task.WhenAll(train.Select(c => Worker.EmbedWith(Wav(c), c.FileName, "spectral")));
        string spectralVersion = new SpectralStatisticsEmbedder(SpectralStatisticsSettings.Spectral).Id;
        Assert.All(spectral, e => Assert.Equal((spectralVersion, false, true), (e.ModelVersion, e.Standardize, e.Whiten)));
        var modelEmbedded = await Task.WhenAll(train.Select(c => Worker.Embed(Wav(c), c.FileName)));
        List<Abstractions.EnrollmentClip> Clips(ClipEmbedding[] embedded)
            => embedded.Select((e, i) => new Abstractions.EnrollmentClip(e.Embedding, train[i].Domain == SynthDomain.Target)).ToList();
        var refused = await Assert.ThrowsAsync<ArgumentException>(() => machine.Enroll(new EnrollmentRequest(Clips(modelEmbedded), fixture.Model.VersionId)));
        Assert.Contains("set to the spectral embedder, but these are model embeddings", refused.Message);
        Assert.Null(await machine.GetEnrolledEmbedder());

        var status = await machine.Enroll(new EnrollmentRequest(Clips(spectral), spectralVersion, Whiten: true));
        Assert.Equal(("spectral", true, spectralVersion), (status.Embedder, status.WhitensFeatures, status.ModelVersion));
        Assert.Equal("spectral", await machine.GetEnrolledEmbedder());

        // the one-hop ingest path embeds each clip with the machine's embedder
        var verdicts = await Task.WhenAll(test.Select((c, i) => Worker.Ingest(id, $"s{i}", Wav(c), null)));
        Assert.All(verdicts, v => Assert.True(double.IsFinite(v.Score)));
        Assert.Equal(test.Count, (await machine.GetStatus()).ClipsSeen);

        // enrolled again with the silo's model: the worker still remembers 'spectral', and the next clip goes through all the same
        await machine.Configure(new MachineSettings { Embedder = "model", Strategy = "random", Budget = 0.5, Seed = 4 });
        status = await machine.Enroll(new EnrollmentRequest(Clips(modelEmbedded), fixture.Model.VersionId));
        Assert.Equal(("model", false), (status.Embedder, status.WhitensFeatures));
        var after = await Worker.Ingest(id, "after-reenrollment", Wav(test[0]), null);
        Assert.True(double.IsFinite(after.Score));
        Assert.Equal(1, (await machine.GetStatus()).ClipsSeen);
    }

    [Fact]
    public async Task A_machine_enrolled_on_the_spectral_embedders_earlier_values_is_fed_by_an_upgraded_silo_as_before()
    {
        // Enrolled before the envelope-modulation peaks (512 values, the earlier id); the silo now embeds 528 values.
        var earlier = new SpectralStatisticsEmbedder(SpectralStatisticsSettings.SpectralWithoutModulation);
        var train = Plan.Clips.Where(c => c.Split == SynthSplit.Train).ToList();
        var test = Plan.Clips.Where(c => c.Split == SynthSplit.Test).Take(12).ToList();
        var clips = train.Select(c => new Abstractions.EnrollmentClip(earlier.Embed(DecodedSamples(c)), c.Domain == SynthDomain.Target)).ToList();
        var settings = new MachineSettings { Embedder = "spectral", Strategy = "none", Seed = 4 };
        var upgraded = fixture.Cluster.GrainFactory.GetGrain<IMachineGrain>("worker.spectral-earlier");
        var twin = fixture.Cluster.GrainFactory.GetGrain<IMachineGrain>("worker.spectral-earlier-twin");
        foreach (var machine in new[] { upgraded, twin })
        {
            await machine.Configure(settings);
            await machine.Enroll(new EnrollmentRequest(clips, earlier.Id, Whiten: true));
        }
        for (int i = 0; i < test.Count; i++)
        {
            var verdict = await Worker.Ingest("worker.spectral-earlier", $"e{i}", Wav(test[i]), null);
            var expected = await twin.ProcessClip(new ClipSubmission($"e{i}", earlier.Embed(DecodedSamples(test[i])), earlier.Id));
            Assert.Equal(expected.Score, verdict.Score);
        }
        Assert.Equal(earlier.Id, (await upgraded.GetStatus()).ModelVersion);
    }

    [Fact]
    public async Task A_clip_refused_for_another_reason_than_the_embedder_is_embedded_once()
    {
        var encoder = ((InProcessSiloHandle)fixture.Cluster.Primary!).SiloHost!.Services.GetRequiredService<EncoderService>();
        var machine = fixture.Cluster.GrainFactory.GetGrain<IMachineGrain>("worker.machine-4");
        var train = Plan.Clips.Where(c => c.Split == SynthSplit.Train).ToList();
        var embedded = await Task.WhenAll(train.Select(c => Worker.Embed(Wav(c), c.FileName)));
        await machine.Enroll(new EnrollmentRequest(embedded.Select(e => new Abstractions.EnrollmentClip(e.Embedding, false)).ToList(), fixture.Model.VersionId));
        var clip = Plan.Clips.First(c => c.Split == SynthSplit.Test);
        Assert.True(double.IsFinite((await Worker.Ingest("worker.machine-4", "ok-1", Wav(clip), null)).Score)); // the worker now knows the machine
        long before = encoder.Statistics.Clips;

        var refused = await Assert.ThrowsAsync<ArgumentException>(() => Worker.Ingest("worker.machine-4", "not a clip id!", Wav(clip), null));

        Assert.Contains("clip id", refused.Message);
        Assert.Equal(before + 1, encoder.Statistics.Clips); // no second embedding: the machine's embedder had not changed
    }

    private static float[] DecodedSamples(ClipSpec clip)
    {
        using var stream = new MemoryStream(Wav(clip));
        return WavDecoder.Read(stream, clip.FileName).Samples;
    }

    private static double MaxDifference(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();
}
