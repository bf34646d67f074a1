using AsdOrleans.Abstractions;
using AsdOrleans.Cli.Commands;
using AsdOrleans.Cli.Experiments;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Grains;
using AsdOrleans.Method.Machines;
using AsdOrleans.Silo;
using static AsdOrleans.Cli.Tests.CliHarness;
using CoreEnrollmentClip = AsdOrleans.Method.Enrollment.EnrollmentClip;

namespace AsdOrleans.Cli.Tests;

/// <summary>
/// A silo that embeds with the training-free baseline (`asd silo --embedder baseline`, issue 11): enrollment from audio
/// fits each machine's standardiser on its enrollment clips, and every clip is standardised before scoring.
/// </summary>
public sealed class BaselineSiloTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-baseline-silo-").FullName;
    private string Plant => Path.Combine(_dir, "plant");

    public async ValueTask InitializeAsync()
    {
        var (code, _, error) = await Run("synth", "--out", Plant, "--machine-types", "1", "--train", "12", "--target-train", "2", "--test", "16", "--seconds", "1", "--seed", "4");
        Assert.True(code == 0, error);
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_dir, recursive: true);
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task Enrollment_from_audio_and_streaming_give_the_harness_scores_decisions_and_labels()
    {
        const string id = "baseline.machine-1";
        var clips = AudioData.Scan(Plant, null, _ => true);
        var train = clips.Where(c => !c.IsTest).ToList();
        var test = clips.Where(c => c.IsTest).ToList();
        // The harness's view: baseline features standardised on the machine's training clips (`asd experiment --embedder baseline`).
        var (raw, _) = new EmbeddingCache(Path.Combine(_dir, "cache")).Embed([.. train, .. test], Embedders.BaselineVersion, () => new BaselineClipEmbedder(), 8, (_, _) => { });
        var table = EmbeddingStandardization.PerMachine(raw);
        var settings = new MachineSettings { Strategy = "hybrid", Budget = 0.25, Seed = 5 };
        var core = MachineModel.Enroll(settings.ToConfig(id),
            table.Records.Take(train.Count).Select(r => new CoreEnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Embedders.BaselineVersion);
        var standardisedTest = table.Records.Skip(train.Count).ToList();

        var (app, address) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
        {
            ["Asd:DataDirectory"] = Path.Combine(_dir, "silo"),
            ["Asd:Embedder"] = "baseline",
            ["Asd:ApiKeys:Device:0"] = "dev",
            ["Asd:ApiKeys:Labeller:0"] = "lab",
            ["Asd:ApiKeys:Operator:0"] = "op",
        });
        try
        {
            using var operatorHttp = new ClusterHttp(address.ToString(), "op");
            using var deviceHttp = new ClusterHttp(address.ToString(), "dev");
            await operatorHttp.SendAsync(HttpMethod.Put, $"/api/machines/{id}", System.Net.Http.Json.JsonContent.Create(new { strategy = "hybrid", budget = 0.25, seed = 5 }), CancellationToken.None);
            var status = await SiloFeed.EnrollAsync(operatorHttp, id, train.Select(c => c.Path).ToList(), CancellationToken.None);
            Assert.Equal(Embedders.BaselineVersion, status.GetProperty("modelVersion").GetString());
            Assert.True(status.GetProperty("standardizesFeatures").GetBoolean());

            int queried = 0;
            for (int i = 0; i < test.Count; i++)
            {
                var pushed = await SiloFeed.PushAsync(deviceHttp, id, test[i].Path, test[i].IsAnomaly, "lab", CancellationToken.None);
                var expected = core.Process(standardisedTest[i].Embedding);
                Assert.Equal(expected.Score, pushed.Score);
                Assert.Equal(expected.Anomalous, pushed.Anomalous);
                Assert.Equal(expected.LabelRequested, pushed.LabelRequested);
                if (expected.LabelRequested)
                {
                    queried++;
                    core.ApplyLabel(standardisedTest[i].Embedding, expected.Score, test[i].IsAnomaly!.Value ? ClipLabel.Anomalous : ClipLabel.Normal);
                }
            }
            Assert.True(queried > 0, "the stream should have asked for labels, so that labelled embeddings are checked too");
            status = await operatorHttp.SendAsync(HttpMethod.Get, $"/api/machines/{id}", null, CancellationToken.None);
            Assert.Equal(core.AnomalySet.Count, status.GetProperty("anomalySetSize").GetInt32());

            // The JSON enrollment takes raw features with "standardize": true and gives the same machine.
            const string fromJson = "baseline.machine-2";
            var jsonCore = MachineModel.Enroll(settings.ToConfig(fromJson),
                table.Records.Take(train.Count).Select(r => new CoreEnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Embedders.BaselineVersion);
            await operatorHttp.SendAsync(HttpMethod.Put, $"/api/machines/{fromJson}", System.Net.Http.Json.JsonContent.Create(new { strategy = "hybrid", budget = 0.25, seed = 5 }), CancellationToken.None);
            var rawTrain = raw.Records.Take(train.Count).Select(r => new Abstractions.EnrollmentClip(r.Embedding, r.IsTarget)).ToList();
            await operatorHttp.SendAsync(HttpMethod.Post, $"/api/machines/{fromJson}/enrollment",
                System.Net.Http.Json.JsonContent.Create(new EnrollmentRequest(rawTrain, Embedders.BaselineVersion, Standardize: true)), CancellationToken.None);
            var first = await SiloFeed.PushAsync(deviceHttp, fromJson, test[0].Path, null, "lab", CancellationToken.None);
            Assert.Equal(jsonCore.Process(standardisedTest[0].Embedding).Score, first.Score);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
