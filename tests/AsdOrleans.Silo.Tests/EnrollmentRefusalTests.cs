using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Audio.Features;
using AsdOrleans.Datasets.Synthesis;
using UnvaryingTrainingException = AsdOrleans.Method.Enrollment.UnvaryingTrainingException;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// Enrollments the silo refuses up front, over HTTP: training clips that do not vary (refused where the feature transform
/// or the reference set is fitted) and embeddings whose dimension the cluster's encoder does not make. Each is a 400 in
/// the operator's terms, and an enrolled machine keeps its enrollment.
/// </summary>
public sealed class EnrollmentRefusalTests(SiloFixture silo) : IClassFixture<SiloFixture>
{
    private static readonly List<ClipSpec> Training = SiloFixture.Plan.Clips.Where(c => c.Split == SynthSplit.Train).ToList();

    private async Task<JsonElement> Status(string machine) => await silo.Get($"/api/machines/{machine}");

    /// <summary>What a refused enrollment must leave as it was.</summary>
    private static string Enrollment(JsonElement status) => string.Join(" | ", new[] { "enrolled", "embedder", "modelVersion", "referenceSetSize",
        "clipsSeen", "pendingLabelRequests", "standardizesFeatures", "whitensFeatures", "decisionThreshold" }.Select(p => status.TryGetProperty(p, out var v) ? v.ToString() : "-"));

    private static MultipartFormDataContent TrainingForm(IEnumerable<ClipSpec> clips)
    {
        var form = new MultipartFormDataContent();
        foreach (var clip in clips)
            form.Add(LoopbackSilo.WavContent(SiloFixture.Wav(clip)), clip.Domain == SynthDomain.Target ? "target" : "source", clip.FileName);
        return form;
    }

    private async Task<string> Refused(HttpResponseMessage response)
    {
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString()!;
    }

    /// <summary>A machine on <paramref name="embedder"/>, enrolled from the plan's training audio, that has scored one clip.</summary>
    private async Task<string> EnrolledFromAudio(string machine, string? embedder)
    {
        var put = await silo.Send(HttpMethod.Put, $"/api/machines/{machine}", SiloFixture.OperatorKey,
            JsonContent.Create(new MachineSettings { Embedder = embedder, Strategy = "random", Budget = 0.5, Seed = 3 }));
        Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());
        var enrolled = await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/enrollment/audio", SiloFixture.OperatorKey, TrainingForm(Training));
        Assert.True(enrolled.IsSuccessStatusCode, await enrolled.Content.ReadAsStringAsync());
        await silo.Push(machine, "before", 0);
        return Enrollment(await Status(machine));
    }

    [Theory]
    [InlineData("baseline", "its 6 training clips do not vary (each value is the same in all of them")]
    [InlineData("spectral", "its 6 source-domain training clips do not vary (copies of one recording)")]
    public async Task Copies_of_one_recording_sent_as_audio_are_refused_and_the_machine_keeps_its_enrollment(string embedder, string problem)
    {
        string machine = $"refusal.copies-{embedder}";
        string before = await EnrolledFromAudio(machine, embedder);

        var copies = await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/enrollment/audio", SiloFixture.OperatorKey,
            TrainingForm(Enumerable.Repeat(Training[0], 6)));
        string detail = await Refused(copies);
        Assert.StartsWith($"machine {machine}: {problem}", detail);
        Assert.EndsWith(UnvaryingTrainingException.Remedy, detail);

        Assert.Equal(before, Enrollment(await Status(machine)));
        await silo.Push(machine, "after", 1); // still scores, as enrolled
    }

    [Fact]
    public async Task Copies_of_one_embedding_sent_as_json_are_refused_and_the_machine_keeps_its_enrollment()
    {
        const string machine = "refusal.copies-model";
        string before = await EnrolledFromAudio(machine, null);
        var embedding = silo.Model.Embed([ClipSynthesizer.Render(Training[0])])[0];
        var copies = new EnrollmentRequest(Enumerable.Range(0, 5).Select(i => new EnrollmentClip(embedding, i == 4)).ToList(), silo.Model.VersionId);

        string detail = await Refused(await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/enrollment", SiloFixture.OperatorKey, JsonContent.Create(copies)));
        Assert.Equal($"machine {machine}: its 5 training clips do not vary in direction (copies of one recording): they count as one clip, "
            + $"and the decision threshold would be 0; {UnvaryingTrainingException.Remedy}", detail);
        Assert.Equal(before, Enrollment(await Status(machine)));
    }

    [Fact]
    public async Task A_null_clip_and_a_clip_without_its_domain_are_refused_and_the_machine_keeps_its_enrollment()
    {
        const string machine = "refusal.clip-fields";
        string before = await EnrolledFromAudio(machine, null);
        string vector = string.Join(',', Enumerable.Range(0, silo.Model.EmbeddingDimension).Select(i => ((i * 7 % 5) - 2).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        StringContent Body(string clips) => new($$"""{"clips":[{{clips}}],"modelVersion":"{{silo.Model.VersionId}}"}""", System.Text.Encoding.UTF8, "application/json");

        // A null entry was a NullReferenceException in the grain: a bare 500.
        string detail = await Refused(await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/enrollment", SiloFixture.OperatorKey,
            Body($$"""{"embedding":[{{vector}}],"isTargetDomain":false},null,{"embedding":[{{vector}}],"isTargetDomain":true}""")));
        Assert.Equal($"machine {machine}: enrollment clip 1 is null", detail);
        Assert.Equal(before, Enrollment(await Status(machine)));

        // Without isTargetDomain a clip enrolled as a source-domain one.
        detail = await Refused(await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/enrollment", SiloFixture.OperatorKey,
            Body($$"""{"embedding":[{{vector}}],"isTargetDomain":false},{"embedding":[{{vector}}]}""")));
        Assert.Equal("missing field 'isTargetDomain' at $.clips[1] (the fields this endpoint takes are in /openapi/v1.json)", detail);
        Assert.Equal(before, Enrollment(await Status(machine)));
    }

    [Fact]
    public async Task Embeddings_of_another_dimension_than_the_clusters_encoder_makes_are_refused_at_enrollment()
    {
        const string machine = "refusal.dimension";
        string before = await EnrolledFromAudio(machine, null);
        int made = silo.Model.EmbeddingDimension;
        var random = new Random(4);
        List<EnrollmentClip> Vectors(int dimension) => Enumerable.Range(0, 8)
            .Select(i => new EnrollmentClip(Enumerable.Range(0, dimension).Select(_ => (float)random.NextDouble() - 0.5f).ToArray(), i % 4 == 0)).ToList();

        var shorter = new EnrollmentRequest(Vectors(made / 2), silo.Model.VersionId);
        string detail = await Refused(await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/enrollment", SiloFixture.OperatorKey, JsonContent.Create(shorter)));
        Assert.Equal($"machine {machine}: the embeddings have {made / 2} dimensions; this cluster's encoder {silo.Model.VersionId} makes {made}: "
            + "embed the training clips with it, or enroll from audio", detail);
        Assert.Equal(before, Enrollment(await Status(machine)));

        // The training-free embedders' raw features: the baseline's dimension is its settings', no model needed.
        var baseline = new SpectralStatisticsEmbedder(SpectralStatisticsSettings.Default);
        var raw = new EnrollmentRequest(Vectors(baseline.Dimension + 3), baseline.Id, Standardize: true);
        detail = await Refused(await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/enrollment", SiloFixture.OperatorKey, JsonContent.Create(raw)));
        Assert.StartsWith($"machine {machine}: the embeddings have {baseline.Dimension + 3} dimensions; this cluster's encoder {baseline.Id} makes {baseline.Dimension}:", detail);
        Assert.Equal(before, Enrollment(await Status(machine)));

        // The encoder's own dimension still enrolls.
        var right = await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/enrollment", SiloFixture.OperatorKey,
            JsonContent.Create(new EnrollmentRequest(Vectors(made), silo.Model.VersionId)));
        Assert.True(right.IsSuccessStatusCode, await right.Content.ReadAsStringAsync());
    }
}
