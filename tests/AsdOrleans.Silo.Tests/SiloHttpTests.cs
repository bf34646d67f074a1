using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Audio;
using AsdOrleans.Audio.Features;
using AsdOrleans.Datasets.Synthesis;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Silo.Tests;

/// <summary>A real silo host on 127.0.0.1 with a tiny encoder, driven over HTTP.</summary>
public sealed class SiloFixture() : LoopbackSilo("asd-silo-", modelSeed: 7, Plan, DeviceKey, LabellerKey, OperatorKey,
    new Dictionary<string, string?>
    {
        ["Asd:MaxClipBytes"] = (1 << 20).ToString(), [$"Asd:ApiKeys:Labellers:{NamedLabeller}"] = NamedLabellerKey,
        [$"Asd:ApiKeys:Gateways:{Gateway}:Key"] = GatewayKey, [$"Asd:ApiKeys:Gateways:{Gateway}:Machines:0"] = "line7-*",
        [$"Asd:ApiKeys:Gateways:{Gateway}:Machines:1"] = "http.press-07",
        // Two gateways that only the per-gateway count test uses: the metrics are the process's, so no other test may send with them.
        ["Asd:ApiKeys:Gateways:counted-a:Key"] = "counted-a-key", ["Asd:ApiKeys:Gateways:counted-a:Machines:0"] = "counted.a-*",
        ["Asd:ApiKeys:Gateways:counted-b:Key"] = "counted-b-key", ["Asd:ApiKeys:Gateways:counted-b:Machines:0"] = "counted.b-*",
    })
{
    public const string DeviceKey = "device-key-1", LabellerKey = "labeller-key-1", OperatorKey = "operator-key-1";
    /// <summary>One gateway's own device key (Asd:ApiKeys:Gateways:line7), for machines line7-* and http.press-07.</summary>
    public const string Gateway = "line7", GatewayKey = "line7-key-1";
    /// <summary>One person's own labeller key (Asd:ApiKeys:Labellers:nina).</summary>
    public const string NamedLabeller = "nina", NamedLabellerKey = "nina-key-1";
    public static readonly SynthPlan Plan = SynthPlan.Create(new SynthSettings { MachineTypes = 1, SourceTrain = 12, TargetTrain = 2, Test = 8, Seconds = 1, Seed = 3 });
    public static byte[] Wav(ClipSpec c) => WavEncoder.EncodeMono16(ClipSynthesizer.Render(c), 16_000);
    public static byte[] TestWav(int index) => Wav(Plan.Clips.Where(c => c.Split == SynthSplit.Test).ElementAt(index));
}

public sealed class SiloHttpTests(SiloFixture silo) : IClassFixture<SiloFixture>
{
    private static SynthPlan Plan => SiloFixture.Plan;
    private static byte[] Wav(ClipSpec c) => SiloFixture.Wav(c);
    private Task<HttpResponseMessage> Send(HttpMethod method, string path, string? key, HttpContent? content = null) => silo.Send(method, path, key, content);

    /// <summary>Waits until /metrics matches every pattern. The exporter may answer a scrape from its short cache (another
    /// test's scrape a moment ago), so it asks until the answer is fresh.</summary>
    private Task UntilMetrics(string what, params string[] patterns) => Waiting.Until(async () =>
    {
        string metrics = await (await Send(HttpMethod.Get, "/metrics", null)).Content.ReadAsStringAsync();
        return patterns.All(p => System.Text.RegularExpressions.Regex.IsMatch(metrics, p));
    }, what + " in /metrics", seconds: 10);
    private static ByteArrayContent WavContent(byte[] wav) => SiloFixture.WavContent(wav);
    private Task Enroll(string machine, MachineSettings settings) => silo.Enroll(machine, settings);

    private async Task<JsonElement> Status(string machine)
        => JsonDocument.Parse(await (await Send(HttpMethod.Get, $"/api/machines/{machine}", SiloFixture.LabellerKey)).Content.ReadAsStringAsync()).RootElement;

    [Fact]
    public async Task The_pending_gauge_drops_the_requests_a_re_enrollment_withdrew()
    {
        const string machine = "gauge.reenrolled-01", gauge = @"asd_label_requests_pending\{[^}]*machine_type=""reenrolled""[^}]*\} ";
        await Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1, Seed = 3 });
        for (int i = 0; i < 3; i++)
            Assert.True((await silo.Push(machine, $"g-{i}", i)).GetProperty("labelRequested").GetBoolean());
        await UntilMetrics("three requests pending", gauge + @"3\b");
        await Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1, Seed = 3 });
        Assert.Equal(0, (await Status(machine)).GetProperty("pendingLabelRequests").GetInt32());
        await UntilMetrics("none pending once re-enrolled", gauge + @"0\b");
    }

    [Fact]
    public async Task A_label_body_takes_the_words_and_numbers_the_readme_lists()
    {
        const string machine = "words.pump-04";
        await Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1, Seed = 5 });
        string[] bodies = ["""{"label":1}""", """{"label":"0"}""", """{"label":" Anomaly "}""", """{"label":0}"""];
        for (int i = 0; i < bodies.Length; i++)
        {
            Assert.True((await silo.Push(machine, $"w-{i}", i)).GetProperty("labelRequested").GetBoolean());
            var answer = await Send(HttpMethod.Post, $"/api/machines/{machine}/clips/w-{i}/label", SiloFixture.LabellerKey,
                new StringContent(bodies[i], System.Text.Encoding.UTF8, "application/json"));
            Assert.True(answer.IsSuccessStatusCode, $"{bodies[i]}: {await answer.Content.ReadAsStringAsync()}");
        }
        var status = await Status(machine);
        Assert.Equal((2, 2), (status.GetProperty("anomalousLabels").GetInt64(), status.GetProperty("normalLabels").GetInt64()));
        var wrong = await Send(HttpMethod.Post, $"/api/machines/{machine}/clips/w-0/label", SiloFixture.LabellerKey,
            new StringContent("""{"label":"maybe"}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, wrong.StatusCode);
        Assert.Contains("'maybe' is not normal, anomaly (or anomalous), 0 or 1", await wrong.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_clip_sent_many_times_at_once_keeps_the_audio_its_label_request_plays()
    {
        // The call that wrote the file need not be the one the machine took first; none of the retries may delete it.
        const string machine = "http.same-clip-burst";
        await Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 12 });
        var wav = SiloFixture.TestWav(0);
        for (int round = 0; round < 12; round++)
        {
            string clip = $"burst-{round}";
            var answers = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ =>
                Send(HttpMethod.Post, $"/api/machines/{machine}/clips?clipId={clip}", SiloFixture.DeviceKey, WavContent(wav))));
            Assert.All(answers, a => Assert.True(a.IsSuccessStatusCode));
            var verdicts = await Task.WhenAll(answers.Select(async a => JsonDocument.Parse(await a.Content.ReadAsStringAsync()).RootElement));
            Assert.Single(verdicts, v => !v.GetProperty("repeated").GetBoolean());
            Assert.True(verdicts[0].GetProperty("labelRequested").GetBoolean());
            var audio = await Send(HttpMethod.Get, $"/api/machines/{machine}/clips/{clip}/audio", SiloFixture.LabellerKey);
            Assert.True(audio.StatusCode == HttpStatusCode.OK, $"round {round}: the pending request's audio answered {(int)audio.StatusCode}");
            Assert.Equal(wav, await audio.Content.ReadAsByteArrayAsync());
        }
    }

    [Fact]
    public async Task A_new_clip_whose_id_another_clip_in_flight_stored_with_other_audio_is_refused_and_that_file_stays()
    {
        // Two new clips of one id in flight at once: the other's audio is already stored under the id, so this one's
        // request would play it. Simulated by storing that file first.
        const string machine = "http.in-flight-id";
        await Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1, Seed = 4 });
        var store = silo.App.Services.GetRequiredService<ClipAudioStore>();
        byte[] other = SiloFixture.TestWav(5);
        Assert.True(await store.SaveIfAbsentAsync(machine, "f-1", other, TestContext.Current.CancellationToken));
        var before = await Status(machine);

        var refused = await Send(HttpMethod.Post, $"/api/machines/{machine}/clips?clipId=f-1", SiloFixture.DeviceKey, WavContent(SiloFixture.TestWav(6)));
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Contains("is being scored with different audio", await refused.Content.ReadAsStringAsync());
        Assert.Equal(other, await File.ReadAllBytesAsync(store.PathOf(machine, "f-1"), TestContext.Current.CancellationToken)); // the other clip's file, untouched
        Assert.Equal(before.GetProperty("clipsSeen").GetInt64(), (await Status(machine)).GetProperty("clipsSeen").GetInt64());
        // The same bytes as the stored file are that clip's own retry: scored (the file is its audio).
        var same = await Send(HttpMethod.Post, $"/api/machines/{machine}/clips?clipId=f-1", SiloFixture.DeviceKey, WavContent(other));
        Assert.Equal(HttpStatusCode.OK, same.StatusCode);
    }

    [Fact]
    public async Task A_retry_is_answered_without_decoding_and_a_machine_not_enrolled_is_refused_before_it()
    {
        // A gateway's retry (the same bytes) must cost nothing: the first verdict comes back before the body is decoded or
        // embedded (that audio is not scored, nor stored). Other bytes under a recent id are refused, also undecoded
        // (stop 53): a gateway that reset its clip counter must not get an old clip's verdict for a new clip.
        const string machine = "http.retry-free";
        await Enroll(machine, new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 9 });
        var first = await silo.Push(machine, "r-1", 0);
        var before = await Status(machine);
        var retry = await Send(HttpMethod.Post, $"/api/machines/{machine}/clips?clipId=r-1", SiloFixture.DeviceKey, WavContent(SiloFixture.TestWav(0)));
        string body = await retry.Content.ReadAsStringAsync();
        Assert.True(retry.StatusCode == HttpStatusCode.OK, body);
        var again = JsonDocument.Parse(body).RootElement;
        Assert.True(again.GetProperty("repeated").GetBoolean());
        Assert.Equal((first.GetProperty("score").GetDouble(), first.GetProperty("labelRequested").GetBoolean()),
            (again.GetProperty("score").GetDouble(), again.GetProperty("labelRequested").GetBoolean()));
        foreach (var other in new[] { SiloFixture.TestWav(1), "not a wav"u8.ToArray() })
        {
            var reused = await Send(HttpMethod.Post, $"/api/machines/{machine}/clips?clipId=r-1", SiloFixture.DeviceKey, WavContent(other));
            Assert.Equal(HttpStatusCode.Conflict, reused.StatusCode);
            string detail = JsonDocument.Parse(await reused.Content.ReadAsStringAsync()).RootElement.GetProperty("detail").GetString()!;
            Assert.StartsWith($"clip id 'r-1' of machine {machine} was scored with different audio (the machine's clip ", detail);
            Assert.EndsWith("); a new clip needs a new id. Nothing changed.", detail);
        }
        // The gateway path of the .NET client (no audio stored by the silo) answers the same way.
        var useCases = silo.App.Services.GetRequiredService<AsdOrleans.Application.MachineUseCases>();
        var gateway = await useCases.IngestClip(machine, "r-1", SiloFixture.TestWav(0), audio: null, audioReference: "s3://gw/r-1.wav");
        Assert.True(gateway.Repeated);
        Assert.Equal(first.GetProperty("score").GetDouble(), gateway.Score);
        await Assert.ThrowsAsync<ClipIdReusedException>(() => useCases.IngestClip(machine, "r-1", SiloFixture.TestWav(1), audio: null, audioReference: "s3://gw/r-1.wav"));
        // A gateway's audio reference travels with every listing and event of the clip: a bounded length.
        var overlong = await Assert.ThrowsAsync<ArgumentException>(() => useCases.IngestClip(machine, "r-9", SiloFixture.TestWav(2), audio: null,
            audioReference: "s3://gw/" + new string('x', AsdOrleans.Application.MachineUseCases.MaxAudioReferenceLength)));
        Assert.StartsWith("the audio reference is 2056 characters long; at most 2048", overlong.Message);
        var after = await Status(machine);
        foreach (var field in new[] { "clipsSeen", "queries", "realisedBudget", "pendingLabelRequests" })
            Assert.Equal(before.GetProperty(field).ToString(), after.GetProperty(field).ToString());
        // A new id with that body is still bad audio.
        var bad = await Send(HttpMethod.Post, $"/api/machines/{machine}/clips?clipId=r-2", SiloFixture.DeviceKey, WavContent("not a wav"u8.ToArray()));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);

        // A machine nobody enrolled is refused before its clip is decoded: 409 for a WAV and for a body that is none.
        foreach (var wav in new[] { SiloFixture.TestWav(0), "not a wav"u8.ToArray() })
        {
            var refused = await Send(HttpMethod.Post, "/api/machines/http.never-enrolled/clips?clipId=x", SiloFixture.DeviceKey, WavContent(wav));
            Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
            Assert.Contains("not enrolled", await refused.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task Requests_for_made_up_machine_ids_leave_no_grains_behind()
    {
        // A device or labeller key posting invented ids (stop 53): each request is refused, and its grain goes within a
        // second or two instead of staying for the idle age, so such requests cannot fill the silo.
        var grains = silo.App.Services.GetRequiredService<IGrainFactory>();
        var ids = Enumerable.Range(0, 30).Select(i => $"made-up.http-{i}").ToList();
        foreach (var id in ids) // one after another: the silo's clip limit would answer a burst 503
        {
            foreach (var answer in new[]
            {
                await Send(HttpMethod.Post, $"/api/machines/{id}/clips?clipId=c-1", SiloFixture.DeviceKey, WavContent(SiloFixture.TestWav(0))),
                await Send(HttpMethod.Post, $"/api/machines/{id}/clips/c-1/label", SiloFixture.LabellerKey, JsonContent.Create(new { label = "anomalous" })),
                await Send(HttpMethod.Post, $"/api/machines/{id}/clips/c-1/decline", SiloFixture.LabellerKey),
                await Send(HttpMethod.Post, $"/api/machines/{id}/clips/c-1/claim", SiloFixture.NamedLabellerKey),
                await Send(HttpMethod.Delete, $"/api/machines/{id}/clips/c-1/claim", SiloFixture.NamedLabellerKey),
            })
                Assert.True(answer.StatusCode == HttpStatusCode.Conflict, $"{answer.RequestMessage}: {await answer.Content.ReadAsStringAsync()}");
        }
        var management = grains.GetGrain<IManagementGrain>(0);
        await Waiting.Until(async () => !(await management.GetDetailedGrainStatistics())
            .Any(s => s.GrainId.ToString().Contains("made-up.http-", StringComparison.Ordinal)), "the made-up ids' grains to go", seconds: 10);
    }

    [Fact]
    public async Task The_address_the_silo_prints_leads_to_the_console()
    {
        var root = await Send(HttpMethod.Get, "/", null);
        Assert.Equal(HttpStatusCode.OK, root.StatusCode);
        Assert.Equal("/ui/", root.RequestMessage!.RequestUri!.AbsolutePath); // followed the redirect
        Assert.Contains("<html", await root.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task What_a_plant_sends_wrongly_is_refused_or_flagged_not_dropped()
    {
        const string machine = "plant.intake-02";
        await Enroll(machine, new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 7 });
        var before = await Status(machine);

        // A clip the machine scored already: the first verdict, flagged as a repeat; other audio under its id is refused.
        var first = await silo.Push(machine, "same-id", 0);
        Assert.False(first.GetProperty("repeated").GetBoolean());
        var again = await silo.Push(machine, "same-id", 0);
        Assert.True(again.GetProperty("repeated").GetBoolean());
        Assert.Equal(first.GetProperty("score").GetDouble(), again.GetProperty("score").GetDouble());
        var reused = await Send(HttpMethod.Post, $"/api/machines/{machine}/clips?clipId=same-id", SiloFixture.DeviceKey, WavContent(SiloFixture.TestWav(1)));
        Assert.Equal(HttpStatusCode.Conflict, reused.StatusCode);
        Assert.Equal(before.GetProperty("clipsSeen").GetInt64() + 1, (await Status(machine)).GetProperty("clipsSeen").GetInt64());

        // A misspelt setting is refused, and the settings stay as they were.
        var misspelt = await Send(HttpMethod.Put, $"/api/machines/{machine}", SiloFixture.OperatorKey,
            new StringContent("""{"strategy":"random","budget":0.5,"window":50}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, misspelt.StatusCode);
        Assert.Contains("unknown field 'window'", await misspelt.Content.ReadAsStringAsync());
        Assert.Equal(0.5, (await Status(machine)).GetProperty("settings").GetProperty("budget").GetDouble());

        // A query value of the wrong form is named in the client's terms, not as a .NET type.
        foreach (var (path, expected) in new[]
        {
            ("/api/alerts?limit=abc", "parameter 'limit' must be a whole number, got 'abc'"),
            ($"/api/machines/{machine}/scores?since=yesterday", "parameter 'since' must be a date and time (ISO 8601"),
        })
        {
            var wrongForm = await Send(HttpMethod.Get, path, SiloFixture.OperatorKey);
            Assert.Equal(HttpStatusCode.BadRequest, wrongForm.StatusCode);
            var problem = JsonDocument.Parse(await wrongForm.Content.ReadAsStringAsync()).RootElement;
            Assert.Contains(expected, problem.GetProperty("detail").GetString());
            Assert.DoesNotContain("Nullable", problem.GetProperty("detail").GetString());
            Assert.Equal("Bad Request", problem.GetProperty("title").GetString());
        }

        // A training clip sent as a form field (curl -F 'target=<file' instead of @file) is refused, not dropped.
        var form = new MultipartFormDataContent
        {
            { new ByteArrayContent(SiloFixture.TestWav(0)), "source", "a.wav" },
            { new StringContent("RIFF…"), "target" },
        };
        var dropped = await Send(HttpMethod.Post, "/api/machines/plant.intake-03/enrollment/audio", SiloFixture.OperatorKey, form);
        Assert.Equal(HttpStatusCode.BadRequest, dropped.StatusCode);
        Assert.Contains("part 'target' is a form field, not a file", await dropped.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await Send(HttpMethod.Get, "/api/machines/plant.intake-03", SiloFixture.LabellerKey)).StatusCode); // nothing was created

        // Raw spectral features enrolled without `whiten` would put the machine on the model embedder.
        string spectral = new SpectralStatisticsEmbedder(SpectralStatisticsSettings.Spectral).Id;
        var raw = new EnrollmentRequest([new([1f, 2f, 3f], false), new([2f, 1f, 3f], false), new([3f, 1f, 2f], true)], spectral);
        var unwhitened = await Send(HttpMethod.Post, "/api/machines/plant.intake-04/enrollment", SiloFixture.OperatorKey, JsonContent.Create(raw));
        Assert.Equal(HttpStatusCode.BadRequest, unwhitened.StatusCode);
        Assert.Contains("names spectral features, which enroll with whiten: true", await unwhitened.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await Send(HttpMethod.Get, "/api/machines/plant.intake-04", SiloFixture.LabellerKey)).StatusCode); // nothing was created
    }

    [Fact]
    public async Task Health_and_roles()
    {
        Assert.Equal(HttpStatusCode.OK, (await silo.Http.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await silo.Http.GetAsync("/readyz")).StatusCode);
        static JsonContent Settings() => JsonContent.Create(new MachineSettings());
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(HttpMethod.Put, "/api/machines/roles.m1", null, Settings())).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(HttpMethod.Put, "/api/machines/roles.m1", SiloFixture.DeviceKey, Settings())).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(HttpMethod.Put, "/api/machines/roles.m1", "wrong", Settings())).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Put, "/api/machines/roles.m1", SiloFixture.OperatorKey, Settings())).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(HttpMethod.Get, "/api/label-requests", SiloFixture.DeviceKey)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Get, "/api/label-requests", SiloFixture.OperatorKey)).StatusCode);
    }

    [Fact]
    public async Task The_directory_says_which_silo_holds_a_machine_without_asking_the_machine()
    {
        var cancellation = TestContext.Current.CancellationToken;
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Put, "/api/machines/where.m1", SiloFixture.OperatorKey, JsonContent.Create(new MachineSettings()))).StatusCode);
        await Status("where.m1"); // active now
        var cluster = JsonDocument.Parse(await (await Send(HttpMethod.Get, "/api/cluster", SiloFixture.OperatorKey)).Content.ReadAsStringAsync(cancellation)).RootElement;
        string onlySilo = cluster.EnumerateArray().Single().GetProperty("address").GetString()!;

        var placed = await Send(HttpMethod.Get, "/api/cluster/machines/where.m1", SiloFixture.OperatorKey);
        Assert.Equal(HttpStatusCode.OK, placed.StatusCode);
        var placement = JsonDocument.Parse(await placed.Content.ReadAsStringAsync(cancellation)).RootElement;
        Assert.Equal("where.m1", placement.GetProperty("machine").GetString());
        Assert.Equal(onlySilo, placement.GetProperty("silo").GetString());
        Assert.Equal("Active", placement.GetProperty("siloStatus").GetString());

        // A listed machine with no activation is "not active", and asking does not create one: the second answer is the same.
        var grains = silo.App.Services.GetRequiredService<IGrainFactory>();
        await grains.GetGrain<IMachineRegistryGrain>(0).Register("where.idle"); // listed, never woken
        for (int ask = 0; ask < 2; ask++)
        {
            var idle = await Send(HttpMethod.Get, "/api/cluster/machines/where.idle", SiloFixture.OperatorKey);
            Assert.Equal(HttpStatusCode.OK, idle.StatusCode);
            Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(await idle.Content.ReadAsStringAsync(cancellation)).RootElement.GetProperty("silo").ValueKind);
        }
        // An id nobody configured or enrolled is 404, as the other machine reads say it, and wakes no grain either.
        var never = await Send(HttpMethod.Get, "/api/cluster/machines/where.never", SiloFixture.OperatorKey);
        Assert.Equal(HttpStatusCode.NotFound, never.StatusCode);
        Assert.Equal("no machine 'where.never' is configured or enrolled: PUT /api/machines/where.never configures it, POST /api/machines/where.never/enrollment enrolls it",
            JsonDocument.Parse(await never.Content.ReadAsStringAsync(cancellation)).RootElement.GetProperty("detail").GetString());
        foreach (var machine in new[] { "where.idle", "where.never" })
            Assert.Null(await grains.GetGrain<IManagementGrain>(0).GetActivationAddress(grains.GetGrain<IMachineGrain>(machine)));

        Assert.Equal(HttpStatusCode.BadRequest, (await Send(HttpMethod.Get, "/api/cluster/machines/no%20spaces", SiloFixture.OperatorKey)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(HttpMethod.Get, "/api/cluster/machines/where.m1", SiloFixture.LabellerKey)).StatusCode);
    }

    [Fact]
    public async Task A_machine_on_the_spectral_embedder_beside_the_silos_model_over_http()
    {
        const string machine = "http.spectral-1";
        var put = await Send(HttpMethod.Put, $"/api/machines/{machine}", SiloFixture.OperatorKey,
            JsonContent.Create(new MachineSettings { Embedder = "spectral", Strategy = "random", Budget = 0.5, Seed = 3 }));
        Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());
        var bad = await Send(HttpMethod.Put, "/api/machines/http.spectral-2", SiloFixture.OperatorKey, JsonContent.Create(new MachineSettings { Embedder = "psychic" }));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("unknown embedder 'psychic'; known: model, baseline, spectral", await bad.Content.ReadAsStringAsync());

        var form = new MultipartFormDataContent();
        foreach (var clip in Plan.Clips.Where(c => c.Split == SynthSplit.Train))
            form.Add(new ByteArrayContent(Wav(clip)), clip.Domain == SynthDomain.Target ? "target" : "source", clip.FileName);
        var enrolled = await Send(HttpMethod.Post, $"/api/machines/{machine}/enrollment/audio", SiloFixture.OperatorKey, form);
        Assert.True(enrolled.IsSuccessStatusCode, await enrolled.Content.ReadAsStringAsync());
        var status = await Status(machine);
        Assert.Equal("spectral", status.GetProperty("embedder").GetString());
        Assert.Equal("spectral", status.GetProperty("settings").GetProperty("embedder").GetString());
        Assert.True(status.GetProperty("whitensFeatures").GetBoolean());
        Assert.Equal(new SpectralStatisticsEmbedder(SpectralStatisticsSettings.Spectral).Id, status.GetProperty("modelVersion").GetString());

        var clips = Plan.Clips.Where(c => c.Split == SynthSplit.Test).ToList();
        for (int i = 0; i < clips.Count; i++)
        {
            var response = await Send(HttpMethod.Post, $"/api/machines/{machine}/clips?clipId=s-{i}", SiloFixture.DeviceKey, WavContent(Wav(clips[i])));
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        }
        Assert.Equal(clips.Count, (await Status(machine)).GetProperty("clipsSeen").GetInt64());

        // the silo's own embedder is still the model, for machines that name none
        await Enroll("http.model-1", new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 3 });
        Assert.Equal("model", (await Status("http.model-1")).GetProperty("embedder").GetString());
        Assert.Equal(silo.Model.VersionId, (await Status("http.model-1")).GetProperty("modelVersion").GetString());
    }

    [Fact]
    public async Task Clips_label_requests_audio_and_labels_over_http()
    {
        await Enroll("http.machine-1", new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 2 });
        var clip = Plan.Clips.First(c => c.Split == SynthSplit.Test);
        var response = await Send(HttpMethod.Post, "/api/machines/http.machine-1/clips?clipId=c-1", SiloFixture.DeviceKey, WavContent(Wav(clip)));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var verdict = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("c-1", verdict.GetProperty("clipId").GetString());
        Assert.True(verdict.GetProperty("labelRequested").GetBoolean()); // b = 1
        Assert.Equal("random", verdict.GetProperty("queryReason").GetString()); // why: random's draw, not the budget's floor

        var requests = JsonDocument.Parse(await (await Send(HttpMethod.Get, "/api/label-requests?machine=http.machine-1", SiloFixture.LabellerKey)).Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("c-1", requests[0].GetProperty("clipId").GetString());
        Assert.Equal("random", requests[0].GetProperty("queryReason").GetString());
        // The silo stored this clip's audio: a labeller gets the API's URL for it, never the path on the silo's volume.
        Assert.Equal("/api/machines/http.machine-1/clips/c-1/audio", requests[0].GetProperty("audioUrl").GetString());
        Assert.Equal(JsonValueKind.Null, requests[0].GetProperty("audioReference").ValueKind);
        Assert.DoesNotContain(silo.DataDirectory, requests.GetRawText());
        var audio = await Send(HttpMethod.Get, requests[0].GetProperty("audioUrl").GetString()!, SiloFixture.LabellerKey);
        Assert.Equal(HttpStatusCode.OK, audio.StatusCode);
        Assert.Equal(Wav(clip), await audio.Content.ReadAsByteArrayAsync());

        var label = await Send(HttpMethod.Post, "/api/machines/http.machine-1/clips/c-1/label", SiloFixture.LabellerKey, JsonContent.Create(new { label = "anomalous" }));
        Assert.True(label.IsSuccessStatusCode, await label.Content.ReadAsStringAsync());
        var again = await Send(HttpMethod.Post, "/api/machines/http.machine-1/clips/c-1/label", SiloFixture.LabellerKey, JsonContent.Create(new { label = "anomalous" }));
        Assert.True(JsonDocument.Parse(await again.Content.ReadAsStringAsync()).RootElement.GetProperty("alreadyApplied").GetBoolean());
        Assert.Equal(1, (await Status("http.machine-1")).GetProperty("anomalySetSize").GetInt32());
        Assert.False(File.Exists(Path.Combine(silo.DataDirectory, "clips", "http.machine-1", "c-1.wav")), "labelled audio is removed");

        // A gateway's clip (the .NET client's path) keeps the gateway's own reference, and the silo has no audio to serve.
        await silo.PushFromGateway("http.machine-1", "g-1", 0, "s3://plant-a/g-1.wav");
        var gateway = JsonDocument.Parse(await (await Send(HttpMethod.Get, "/api/label-requests?machine=http.machine-1", SiloFixture.LabellerKey)).Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(("g-1", "s3://plant-a/g-1.wav", JsonValueKind.Null),
            (gateway[0].GetProperty("clipId").GetString(), gateway[0].GetProperty("audioReference").GetString(), gateway[0].GetProperty("audioUrl").ValueKind));
    }

    [Fact]
    public async Task The_newest_clips_labelled_normal_stay_as_examples_of_how_the_machine_sounds()
    {
        const string machine = "http.examples";
        await Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 });
        Assert.Equal("[]", await (await Send(HttpMethod.Get, $"/api/machines/{machine}/normal-examples", SiloFixture.LabellerKey)).Content.ReadAsStringAsync());
        for (int i = 0; i < 5; i++)
            Assert.True((await Send(HttpMethod.Post, $"/api/machines/{machine}/clips?clipId=n-{i}", SiloFixture.DeviceKey, WavContent(SiloFixture.TestWav(i)))).IsSuccessStatusCode);
        // Four normal answers and one anomalous: the newest three normal clips stay (Asd:NormalExamplesPerMachine = 3).
        foreach (var (clip, label) in new[] { ("n-0", "normal"), ("n-1", "anomalous"), ("n-2", "normal"), ("n-3", "normal"), ("n-4", "normal") })
        {
            Assert.True((await Send(HttpMethod.Post, $"/api/machines/{machine}/clips/{clip}/label", SiloFixture.LabellerKey, JsonContent.Create(new { label }))).IsSuccessStatusCode);
            await Task.Delay(20); // distinct file times: the order kept is the order labelled
        }
        var examples = JsonDocument.Parse(await (await Send(HttpMethod.Get, $"/api/machines/{machine}/normal-examples", SiloFixture.LabellerKey)).Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(["n-4", "n-3", "n-2"], examples.EnumerateArray().Select(e => e.GetProperty("clipId").GetString()));
        foreach (var example in examples.EnumerateArray())
        {
            int index = int.Parse(example.GetProperty("clipId").GetString()![2..]);
            var audio = await Send(HttpMethod.Get, example.GetProperty("audioUrl").GetString()!, SiloFixture.LabellerKey);
            Assert.Equal(SiloFixture.TestWav(index), await audio.Content.ReadAsByteArrayAsync());
        }
        // The oldest normal clip's audio went when a newer one came; the anomalous one's when it was labelled.
        Assert.Equal(HttpStatusCode.NotFound, (await Send(HttpMethod.Get, $"/api/machines/{machine}/clips/n-0/audio", SiloFixture.LabellerKey)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Send(HttpMethod.Get, $"/api/machines/{machine}/clips/n-1/audio", SiloFixture.LabellerKey)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(HttpMethod.Get, $"/api/machines/{machine}/normal-examples", SiloFixture.DeviceKey)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await Send(HttpMethod.Get, "/api/machines/bad%20id/normal-examples", SiloFixture.LabellerKey)).StatusCode);
    }

    [Fact]
    public async Task A_re_enrollment_forgets_the_normal_examples_of_the_machine_before_it()
    {
        const string machine = "http.examples-reenrolled", other = "http.examples-kept";
        foreach (var m in new[] { machine, other })
        {
            await EnrollAndAsk(m, 3, "r-0");
            Assert.True((await Send(HttpMethod.Post, $"/api/machines/{m}/clips/r-0/label", SiloFixture.LabellerKey, JsonContent.Create(new { label = "normal" }))).IsSuccessStatusCode);
            Assert.Single((await silo.Get($"/api/machines/{m}/normal-examples")).EnumerateArray());
        }
        string folder = Path.Combine(silo.DataDirectory, "normal-clips", machine);
        Assert.True(File.Exists(Path.Combine(folder, "r-0.wav")));

        await Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 });
        Assert.Equal(0, (await silo.Get($"/api/machines/{machine}/normal-examples")).GetArrayLength());
        Assert.Equal(HttpStatusCode.NotFound, (await Send(HttpMethod.Get, $"/api/machines/{machine}/clips/r-0/audio", SiloFixture.LabellerKey)).StatusCode);
        Assert.False(Directory.Exists(folder));
        // Another machine's examples stay, and the re-enrolled machine keeps new ones again.
        Assert.Single((await silo.Get($"/api/machines/{other}/normal-examples")).EnumerateArray());
        Assert.True((await Send(HttpMethod.Post, $"/api/machines/{machine}/clips?clipId=r-1", SiloFixture.DeviceKey, WavContent(SiloFixture.TestWav(1)))).IsSuccessStatusCode);
        Assert.True((await Send(HttpMethod.Post, $"/api/machines/{machine}/clips/r-1/label", SiloFixture.LabellerKey, JsonContent.Create(new { label = "normal" }))).IsSuccessStatusCode);
        Assert.Equal(["r-1"], (await silo.Get($"/api/machines/{machine}/normal-examples")).EnumerateArray().Select(e => e.GetProperty("clipId").GetString()));
    }

    /// <summary>Enrolls a machine that asks for every clip's label (random, b = 1) and pushes the test clips 0, 1, … as <paramref name="clips"/>.</summary>
    private async Task EnrollAndAsk(string machine, ulong seed, params string[] clips)
    {
        await Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = seed });
        for (int i = 0; i < clips.Length; i++)
            Assert.True((await Send(HttpMethod.Post, $"/api/machines/{machine}/clips?clipId={clips[i]}", SiloFixture.DeviceKey, WavContent(SiloFixture.TestWav(i)))).IsSuccessStatusCode);
    }

    /// <summary>A labeller's request, naming <paramref name="name"/> in X-Labeller when given, with the shared labeller key or <paramref name="key"/>.</summary>
    private async Task<HttpResponseMessage> AsLabeller(HttpMethod method, string path, string? name, HttpContent? content = null, string key = SiloFixture.LabellerKey)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Add("X-Api-Key", key);
        if (name is not null) request.Headers.Add("X-Labeller", name);
        return await silo.Http.SendAsync(request);
    }

    [Fact]
    public async Task A_labeller_claims_the_clip_they_listen_to_and_the_others_see_who_it_is()
    {
        const string machine = "http.claimtally"; // a type of its own: the counters are process-wide, and other silos' tests claim too
        await EnrollAndAsk(machine, seed: 4, "c-0", "c-1", "c-2");
        string claim = $"/api/machines/{machine}/clips/c-0/claim";
        async Task<JsonElement> Listed(string clip) => JsonDocument.Parse(await (await Send(HttpMethod.Get, $"/api/label-requests?machine={machine}", SiloFixture.LabellerKey)).Content.ReadAsStringAsync())
            .RootElement.EnumerateArray().Single(r => r.GetProperty("clipId").GetString() == clip);

        // A claim needs a name, a valid one, the labeller role and a sensible length; none of these refusals claims anything.
        Assert.Equal(HttpStatusCode.BadRequest, (await AsLabeller(HttpMethod.Post, claim, null)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await AsLabeller(HttpMethod.Post, claim, "ann/../x")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await AsLabeller(HttpMethod.Post, claim + "?seconds=1", "ann")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await AsLabeller(HttpMethod.Post, claim + "?seconds=1e300", "ann")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(HttpMethod.Post, claim, SiloFixture.DeviceKey)).StatusCode);
        Assert.Equal(JsonValueKind.Null, (await Listed("c-0")).GetProperty("claimedBy").ValueKind);

        // Ann claims c-0: the listing says so; Bob is refused with her name; Ann renews.
        var taken = await AsLabeller(HttpMethod.Post, claim, "ann");
        Assert.True(taken.IsSuccessStatusCode, await taken.Content.ReadAsStringAsync());
        var held = JsonDocument.Parse(await taken.Content.ReadAsStringAsync()).RootElement;
        var until = held.GetProperty("claimedUntil").GetDateTimeOffset();
        Assert.Equal("ann", held.GetProperty("claimedBy").GetString());
        Assert.InRange(until - DateTimeOffset.UtcNow, TimeSpan.FromSeconds(100), TimeSpan.FromSeconds(121)); // the default lease: 2 minutes
        var listed = await Listed("c-0");
        Assert.Equal(("ann", until), (listed.GetProperty("claimedBy").GetString(), listed.GetProperty("claimedUntil").GetDateTimeOffset()));
        var plantWide = JsonDocument.Parse(await (await Send(HttpMethod.Get, "/api/label-requests?limit=10000", SiloFixture.LabellerKey)).Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("ann", plantWide.EnumerateArray().Single(r => r.GetProperty("machineId").GetString() == machine && r.GetProperty("clipId").GetString() == "c-0")
            .GetProperty("claimedBy").GetString()); // the registry's listing, as the console reads it
        var refused = await AsLabeller(HttpMethod.Post, claim, "bob");
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        var problem = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("ann", problem.GetProperty("claimedBy").GetString());
        Assert.Contains("ann is listening to clip 'c-0'", problem.GetProperty("detail").GetString());
        var renewed = JsonDocument.Parse(await (await AsLabeller(HttpMethod.Post, claim + "?seconds=300", "ann")).Content.ReadAsStringAsync()).RootElement;
        Assert.True(renewed.GetProperty("claimedUntil").GetDateTimeOffset() > until.AddSeconds(150), "a renewal extends the claim");
        // Bob's release of Ann's claim is refused and changes nothing (it was a 200 that read as released); hers ends it,
        // and then Bob's claim is granted.
        var notHisResponse = await AsLabeller(HttpMethod.Delete, claim, "bob");
        Assert.Equal(HttpStatusCode.Conflict, notHisResponse.StatusCode);
        var notHis = JsonDocument.Parse(await notHisResponse.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("ann", notHis.GetProperty("claimedBy").GetString());
        Assert.Contains("ann is listening to clip 'c-0'", notHis.GetProperty("detail").GetString());
        Assert.Equal("ann", (await Listed("c-0")).GetProperty("claimedBy").GetString());
        var released = JsonDocument.Parse(await (await AsLabeller(HttpMethod.Delete, claim, "ann")).Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(JsonValueKind.Null, released.GetProperty("claimedBy").ValueKind);
        Assert.Equal(JsonValueKind.Null, (await Listed("c-0")).GetProperty("claimedBy").ValueKind);
        Assert.True((await AsLabeller(HttpMethod.Post, claim, "bob")).IsSuccessStatusCode);

        // Ann answers while Bob holds it (advice, not a lock), which ends his claim; a claim on an answered clip is a
        // conflict, on a clip never asked about bad input.
        Assert.True((await AsLabeller(HttpMethod.Post, $"/api/machines/{machine}/clips/c-0/label", "ann", JsonContent.Create(new { label = "normal" }))).IsSuccessStatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await AsLabeller(HttpMethod.Post, claim, "bob")).StatusCode);
        Assert.True((await AsLabeller(HttpMethod.Delete, claim, "bob")).IsSuccessStatusCode, "releasing a closed request's claim is harmless");
        Assert.Equal(HttpStatusCode.BadRequest, (await AsLabeller(HttpMethod.Post, $"/api/machines/{machine}/clips/never-asked/claim", "bob")).StatusCode);
        // A machine that does not exist has nothing to claim or release: 409 "not enrolled", as its other calls answer.
        foreach (var method in new[] { HttpMethod.Post, HttpMethod.Delete })
        {
            var none = await AsLabeller(method, "/api/machines/claim.no-such-machine/clips/c-0/claim", "bob");
            Assert.Equal(HttpStatusCode.Conflict, none.StatusCode);
            Assert.Contains("not enrolled", await none.Content.ReadAsStringAsync());
        }

        // A claim lapses at its time: 5 s, then anyone may take it.
        Assert.True((await AsLabeller(HttpMethod.Post, $"/api/machines/{machine}/clips/c-1/claim?seconds=5", "ann")).IsSuccessStatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await AsLabeller(HttpMethod.Post, $"/api/machines/{machine}/clips/c-1/claim", "bob")).StatusCode);
        await Task.Delay(TimeSpan.FromSeconds(5.5));
        Assert.Equal(JsonValueKind.Null, (await Listed("c-1")).GetProperty("claimedBy").ValueKind);
        Assert.True((await AsLabeller(HttpMethod.Post, $"/api/machines/{machine}/clips/c-1/claim", "bob")).IsSuccessStatusCode);
        // Declining ends the claim too.
        Assert.True((await AsLabeller(HttpMethod.Post, $"/api/machines/{machine}/clips/c-1/decline", "bob")).IsSuccessStatusCode);
        // Operators see how often labellers reach for the same clip: 4 claims taken (a renewal is not one), 2 refused.
        await UntilMetrics("the claims counted",
            @"asd_label_requests_claims_total\{(?=[^}]*machine_type=""claimtally"")(?=[^}]*outcome=""taken"")[^}]*\} 4\b",
            @"asd_label_requests_claims_total\{(?=[^}]*machine_type=""claimtally"")(?=[^}]*outcome=""refused"")[^}]*\} 2\b");
        Assert.Equal(["c-2"], JsonDocument.Parse(await (await Send(HttpMethod.Get, $"/api/label-requests?machine={machine}", SiloFixture.LabellerKey)).Content.ReadAsStringAsync())
            .RootElement.EnumerateArray().Select(r => r.GetProperty("clipId").GetString()));
    }

    [Fact]
    public async Task A_persons_own_key_answers_under_their_name_and_cannot_answer_under_another()
    {
        const string machine = "http.named-key";
        await EnrollAndAsk(machine, seed: 6, "k-0", "k-1", "k-2");
        Task<HttpResponseMessage> AsNina(HttpMethod method, string path, string? says = null, HttpContent? content = null)
            => AsLabeller(method, path, says, content, SiloFixture.NamedLabellerKey);
        async Task<JsonElement> Who(string key) => JsonDocument.Parse(await (await Send(HttpMethod.Get, "/api/whoami", key)).Content.ReadAsStringAsync()).RootElement;

        // The key says whose it is; a shared key says only its role.
        var nina = await Who(SiloFixture.NamedLabellerKey);
        Assert.Equal(("labeller", "nina"), (nina.GetProperty("role").GetString(), nina.GetProperty("labeller").GetString()));
        var shared = await Who(SiloFixture.LabellerKey);
        Assert.Equal(("labeller", JsonValueKind.Null), (shared.GetProperty("role").GetString(), shared.GetProperty("labeller").ValueKind));
        Assert.Equal("operator", (await Who(SiloFixture.OperatorKey)).GetProperty("role").GetString());
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(HttpMethod.Get, "/api/whoami", SiloFixture.DeviceKey)).StatusCode);
        // It has the labeller role and no other.
        Assert.Equal(HttpStatusCode.Forbidden, (await AsNina(HttpMethod.Post, $"/api/machines/{machine}/clips?clipId=x", content: WavContent(SiloFixture.TestWav(0)))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await AsNina(HttpMethod.Put, $"/api/machines/{machine}", content: JsonContent.Create(new MachineSettings()))).StatusCode);

        // Answering under another name is refused and changes nothing; without a name, or with hers, the answer is hers.
        var posing = await AsNina(HttpMethod.Post, $"/api/machines/{machine}/clips/k-0/label", "bob", JsonContent.Create(new { label = "normal" }));
        Assert.Equal(HttpStatusCode.Forbidden, posing.StatusCode);
        Assert.Contains("this key is nina's", await posing.Content.ReadAsStringAsync());
        Assert.Equal(3, JsonDocument.Parse(await (await Send(HttpMethod.Get, $"/api/label-requests?machine={machine}", SiloFixture.LabellerKey)).Content.ReadAsStringAsync()).RootElement.GetArrayLength());
        // Nor can a shared key write in her name (in any case), or let go of her claims.
        foreach (var name in new[] { "nina", "NINA" })
        {
            var underHerName = await AsLabeller(HttpMethod.Post, $"/api/machines/{machine}/clips/k-0/label", name, JsonContent.Create(new { label = "anomalous" }));
            Assert.Equal(HttpStatusCode.Forbidden, underHerName.StatusCode);
            Assert.Contains("has a labeller key of their own", await underHerName.Content.ReadAsStringAsync());
        }
        Assert.Equal(HttpStatusCode.Forbidden, (await AsLabeller(HttpMethod.Delete, $"/api/machines/{machine}/clips/k-2/claim", "nina")).StatusCode);
        Assert.Equal(3, JsonDocument.Parse(await (await Send(HttpMethod.Get, $"/api/label-requests?machine={machine}", SiloFixture.LabellerKey)).Content.ReadAsStringAsync()).RootElement.GetArrayLength());
        Assert.True((await AsNina(HttpMethod.Post, $"/api/machines/{machine}/clips/k-0/label", content: JsonContent.Create(new { label = "normal" }))).IsSuccessStatusCode);
        Assert.True((await AsNina(HttpMethod.Post, $"/api/machines/{machine}/clips/k-1/decline", "nina")).IsSuccessStatusCode);
        var claimed = JsonDocument.Parse(await (await AsNina(HttpMethod.Post, $"/api/machines/{machine}/clips/k-2/claim")).Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("nina", claimed.GetProperty("claimedBy").GetString()); // a claim needs a name: the key's
        var scores = JsonDocument.Parse(await (await Send(HttpMethod.Get, $"/api/machines/{machine}/scores", SiloFixture.LabellerKey)).Content.ReadAsStringAsync()).RootElement;
        Assert.Equal([("k-0", "normal", "nina"), ("k-1", "declined", "nina")], scores.EnumerateArray()
            .Where(p => p.GetProperty("requestOutcome").ValueKind == JsonValueKind.String)
            .Select(p => (p.GetProperty("clipId").GetString(), p.GetProperty("requestOutcome").GetString(), p.GetProperty("closedBy").GetString())));

        // A team lead sees each person's answers per outcome (a repeat of the same label is not another answer).
        Assert.True((await AsNina(HttpMethod.Post, $"/api/machines/{machine}/clips/k-0/label", content: JsonContent.Create(new { label = "normal" }))).IsSuccessStatusCode);
        await UntilMetrics("nina's answers counted",
            @"asd_answers_total\{(?=[^}]*labeller=""nina"")(?=[^}]*outcome=""normal"")[^}]*\} 1\b",
            @"asd_answers_total\{(?=[^}]*labeller=""nina"")(?=[^}]*outcome=""declined"")[^}]*\} 1\b");
    }

    [Fact]
    public void A_named_key_with_a_bad_name_or_a_key_that_is_not_its_own_stops_the_silo_at_start()
    {
        Assert.Null(new ApiKeyOptions { Labeller = ["shared"], Labellers = { ["ana"] = "a1", ["bo"] = "b1" } }.Problem());
        Assert.Contains("not a valid name", new ApiKeyOptions { Labellers = { ["ana smith"] = "a1" } }.Problem());
        Assert.Contains("empty key", new ApiKeyOptions { Labellers = { ["ana"] = "" } }.Problem());
        Assert.Contains("also another key", new ApiKeyOptions { Labellers = { ["ana"] = "k", ["bo"] = "k" } }.Problem());
        Assert.Contains("also another key", new ApiKeyOptions { Operator = ["k"], Labellers = { ["ana"] = "k" } }.Problem());
        Assert.Contains("Asd:ApiKeys:Device:1 is empty", new ApiKeyOptions { Device = ["d", " "] }.Problem());
        // deploy/asd.env.example's values, copied as they are.
        Assert.Contains("Asd:ApiKeys:Operator:0 is still the example's placeholder", new ApiKeyOptions { Operator = ["replace-with-an-operator-key"] }.Problem());
        Assert.Contains("Asd:ApiKeys:Labellers:ana is still the example's placeholder", new ApiKeyOptions { Labellers = { ["ana"] = "replace-with-ana-s-key" } }.Problem());
        Assert.Contains("Asd:AlertWebhook:Secret is still the example's placeholder",
            new AlertWebhookOptions { Url = "http://127.0.0.1:9/", Secret = "replace-with-a-webhook-secret" }.Problem());
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "AsdOrleans.sln"))) root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("no repository root above the tests");
        var secrets = File.ReadLines(Path.Combine(root, "deploy", "asd.env.example")).Select(l => l.TrimStart('#', ' '))
            .Where(l => l.StartsWith("Asd__ApiKeys__", StringComparison.Ordinal) || l.StartsWith("Asd__AlertWebhook__Secret", StringComparison.Ordinal))
            .Where(l => !l.Contains("__Machines__", StringComparison.Ordinal)).ToList(); // a gateway's machines are no secret
        Assert.Equal(5, secrets.Count);
        Assert.All(secrets, line => Assert.True(ApiKeyOptions.IsPlaceholder(line.Split('=', 2)[1]), line));
        // A configuration error (exit 2 with the message), not a fault of ours.
        var refused = Assert.Throws<SiloConfigurationException>(() => SiloApp.Build([], builder => builder.Configuration.AddInMemoryCollection(
            new Dictionary<string, string?> { ["Asd:ApiKeys:Labellers:ana/x"] = "k" })));
        Assert.Contains("not a valid name", refused.Message);
        var empty = Assert.Throws<SiloConfigurationException>(() => SiloApp.Build([], builder => builder.Configuration.AddInMemoryCollection(
            new Dictionary<string, string?> { ["Asd:ApiKeys:Operator:0"] = "" })));
        Assert.Contains("Asd:ApiKeys:Operator:0 is empty", empty.Message);
    }

    [Fact]
    public async Task Clips_and_refusals_are_counted_by_gateway_in_the_metrics_and_the_cluster_view()
    {
        // Two gateways' keys, counted apart; a clip for a machine outside a gateway's list is that gateway's refusal.
        foreach (var machine in new[] { "counted.a-01", "counted.b-01" })
            await Enroll(machine, new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 3 });
        for (int i = 0; i < 3; i++)
            Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Post, $"/api/machines/counted.a-01/clips?clipId=c-{i}", "counted-a-key", WavContent(SiloFixture.TestWav(i)))).StatusCode);
        for (int i = 0; i < 2; i++)
            Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Post, $"/api/machines/counted.b-01/clips?clipId=c-{i}", "counted-b-key", WavContent(SiloFixture.TestWav(i)))).StatusCode);
        var before = DateTimeOffset.UtcNow;
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(HttpMethod.Post, "/api/machines/counted.b-01/clips?clipId=c-9", "counted-a-key", WavContent(SiloFixture.TestWav(0)))).StatusCode);

        await UntilMetrics("clips by gateway",
            @"asd_clips_received_total\{[^}]*gateway=""counted-a""[^}]*\} 3\b", @"asd_clips_received_total\{[^}]*gateway=""counted-b""[^}]*\} 2\b",
            @"asd_clips_refused_total\{[^}]*gateway=""counted-a""[^}]*status=""403""[^}]*\} 1\b");
        string metrics = await (await Send(HttpMethod.Get, "/metrics", null)).Content.ReadAsStringAsync();
        Assert.DoesNotMatch(@"asd_clips_refused_total\{[^}]*gateway=""counted-b""", metrics);
        // A configured gateway has its series (at 0 until its first clip) and plant-wide keys theirs: a silent gateway shows.
        Assert.Matches(@"asd_clips_received_total\{[^}]*gateway=""line7""[^}]*\} \d+", metrics);
        Assert.Matches(@"asd_clips_received_total\{[^}]*gateway=""\(plant\)""[^}]*\} \d+", metrics);

        var silos = JsonDocument.Parse(await (await Send(HttpMethod.Get, "/api/cluster", SiloFixture.OperatorKey)).Content.ReadAsStringAsync()).RootElement;
        var gateways = Assert.Single(silos.EnumerateArray(), s => s.TryGetProperty("gateways", out var g) && g.ValueKind == JsonValueKind.Array)
            .GetProperty("gateways").EnumerateArray().ToDictionary(g => g.GetProperty("gateway").GetString()!);
        Assert.Equal((3, 1), (gateways["counted-a"].GetProperty("clips").GetInt64(), gateways["counted-a"].GetProperty("refusals").GetInt64()));
        Assert.Equal((2, 0), (gateways["counted-b"].GetProperty("clips").GetInt64(), gateways["counted-b"].GetProperty("refusals").GetInt64()));
        Assert.Equal(403, gateways["counted-a"].GetProperty("lastRefusalStatus").GetInt32());
        Assert.True(gateways["counted-a"].GetProperty("lastRefusal").GetDateTimeOffset() >= before.AddSeconds(-1));
        var lastClip = gateways["counted-b"].GetProperty("lastClip").GetDateTimeOffset();
        Assert.Equal(TimeSpan.Zero, lastClip.Offset);
        Assert.InRange(lastClip, before.AddMinutes(-5), before.AddSeconds(1));
        Assert.Equal(JsonValueKind.Null, gateways["counted-b"].GetProperty("lastRefusal").ValueKind);
        Assert.Contains("(plant)", gateways.Keys); // the plant-wide device key's clips
        Assert.Contains(SiloFixture.Gateway, gateways.Keys); // configured: listed before (or without) its first clip
    }

    [Fact]
    public async Task A_gateways_own_key_sends_clips_for_its_machines_only()
    {
        foreach (var machine in new[] { "line7-press-01", "http.press-07", "http.press-08" })
            await Enroll(machine, new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 3 });
        var before = await Status("http.press-08");

        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Post, "/api/machines/line7-press-01/clips?clipId=g-1", SiloFixture.GatewayKey, WavContent(SiloFixture.TestWav(0)))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Post, "/api/machines/http.press-07/clips?clipId=g-1", SiloFixture.GatewayKey, WavContent(SiloFixture.TestWav(0)))).StatusCode);
        // Another machine: refused before the body is read, and the machine is as it was.
        var refused = await Send(HttpMethod.Post, "/api/machines/http.press-08/clips?clipId=g-1", SiloFixture.GatewayKey, WavContent(SiloFixture.TestWav(0)));
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("this key is gateway line7's: it sends clips for line7-*, http.press-07 only, not for machine http.press-08",
            await refused.Content.ReadAsStringAsync());
        Assert.Equal(before.GetProperty("clipsSeen").GetInt64(), (await Status("http.press-08")).GetProperty("clipsSeen").GetInt64());
        // The prefix is a prefix, not a pattern inside an id; and the key has no other role.
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(HttpMethod.Post, "/api/machines/xline7-a/clips?clipId=g-1", SiloFixture.GatewayKey, WavContent(SiloFixture.TestWav(0)))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(HttpMethod.Get, "/api/label-requests", SiloFixture.GatewayKey)).StatusCode);
        // The plant-wide device key still sends for any machine.
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Post, "/api/machines/http.press-08/clips?clipId=g-2", SiloFixture.DeviceKey, WavContent(SiloFixture.TestWav(1)))).StatusCode);
    }

    [Fact]
    public void A_gateway_key_without_machines_or_with_a_bad_pattern_stops_the_silo_at_start()
    {
        GatewayKeyOptions Line3(params string[] machines) => new() { Key = "g1", Machines = [.. machines] };
        Assert.Null(new ApiKeyOptions { Gateways = { ["line3"] = Line3("line3-*", "press-07", "*") } }.Problem());
        Assert.Contains("Machines lists no machines", new ApiKeyOptions { Gateways = { ["line3"] = Line3() } }.Problem());
        Assert.Contains("'line*3' is neither a machine id nor a prefix", new ApiKeyOptions { Gateways = { ["line3"] = Line3("line*3") } }.Problem());
        Assert.Contains("'a/b*' is neither", new ApiKeyOptions { Gateways = { ["line3"] = Line3("a/b*") } }.Problem());
        Assert.Contains("Key is empty", new ApiKeyOptions { Gateways = { ["line3"] = new GatewayKeyOptions { Machines = ["a"] } } }.Problem());
        Assert.Contains("also another key", new ApiKeyOptions { Device = ["g1"], Gateways = { ["line3"] = Line3("a") } }.Problem());
        Assert.Contains("also another key", new ApiKeyOptions { Gateways = { ["line3"] = Line3("a"), ["line4"] = Line3("b") } }.Problem());
        Assert.Contains("not a valid gateway name", new ApiKeyOptions { Gateways = { ["line 3"] = Line3("a") } }.Problem());
        Assert.True(Line3("line3-*").Serves("line3-a") && !Line3("line3-*").Serves("line4-a") && Line3("press-07").Serves("press-07") && !Line3("press-07").Serves("press-070"));
        var refused = Assert.Throws<SiloConfigurationException>(() => SiloApp.Build([], builder => builder.Configuration.AddInMemoryCollection(
            new Dictionary<string, string?> { ["Asd:ApiKeys:Gateways:line3:Key"] = "g1" })));
        Assert.Contains("Asd:ApiKeys:Gateways:line3:Machines lists no machines", refused.Message);
    }

    [Fact]
    public async Task A_labeller_who_cannot_tell_declines_a_request_and_it_closes_without_a_label()
    {
        const string machine = "http.decline";
        await Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 2 });
        Assert.True((await Send(HttpMethod.Post, $"/api/machines/{machine}/clips?clipId=d-1", SiloFixture.DeviceKey, WavContent(SiloFixture.TestWav(0)))).IsSuccessStatusCode);
        Assert.True(File.Exists(Path.Combine(silo.DataDirectory, "clips", machine, "d-1.wav")));
        var before = await Status(machine);

        // A device may not decline; a labeller may, with no body, and the request is gone for everyone with its audio.
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(HttpMethod.Post, $"/api/machines/{machine}/clips/d-1/decline", SiloFixture.DeviceKey)).StatusCode);
        using (var badName = new HttpRequestMessage(HttpMethod.Post, $"/api/machines/{machine}/clips/d-1/decline"))
        {
            badName.Headers.Add("X-Api-Key", SiloFixture.LabellerKey);
            badName.Headers.Add("X-Labeller", "erin/../x");
            var refused = await silo.Http.SendAsync(badName);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Contains("is not a valid name", await refused.Content.ReadAsStringAsync());
        }
        Assert.True(File.Exists(Path.Combine(silo.DataDirectory, "clips", machine, "d-1.wav")), "a refused decline changes nothing");
        using var declineRequest = new HttpRequestMessage(HttpMethod.Post, $"/api/machines/{machine}/clips/d-1/decline");
        declineRequest.Headers.Add("X-Api-Key", SiloFixture.LabellerKey);
        declineRequest.Headers.Add("X-Labeller", "erin");
        var declined = await silo.Http.SendAsync(declineRequest);
        Assert.True(declined.IsSuccessStatusCode, await declined.Content.ReadAsStringAsync());
        var receipt = JsonDocument.Parse(await declined.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(("d-1", false), (receipt.GetProperty("clipId").GetString(), receipt.GetProperty("alreadyClosed").GetBoolean()));
        var requests = JsonDocument.Parse(await (await Send(HttpMethod.Get, $"/api/label-requests?machine={machine}", SiloFixture.LabellerKey)).Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(0, requests.GetArrayLength());
        Assert.False(File.Exists(Path.Combine(silo.DataDirectory, "clips", machine, "d-1.wav")), "a declined request's audio is removed");
        var after = await Status(machine);
        Assert.Equal(before.GetProperty("referenceSetSize").GetInt32(), after.GetProperty("referenceSetSize").GetInt32());
        Assert.Equal(before.GetProperty("anomalySetSize").GetInt32(), after.GetProperty("anomalySetSize").GetInt32());
        Assert.Equal(before.GetProperty("queries").GetInt64(), after.GetProperty("queries").GetInt64()); // the query stays spent
        Assert.Equal((1, 0), (after.GetProperty("declinedLabelRequests").GetInt64(), after.GetProperty("expiredLabelRequests").GetInt64()));
        var scores = JsonDocument.Parse(await (await Send(HttpMethod.Get, $"/api/machines/{machine}/scores", SiloFixture.LabellerKey)).Content.ReadAsStringAsync()).RootElement;
        var point = scores.EnumerateArray().Single(p => p.GetProperty("clipId").GetString() == "d-1");
        Assert.Equal(("declined", JsonValueKind.Null, "erin"), (point.GetProperty("requestOutcome").GetString(), point.GetProperty("label").ValueKind, point.GetProperty("closedBy").GetString()));
        Assert.Matches(@"asd_label_requests_declined_total\{[^}]*machine_type=""decline""[^}]*\} 1\b", await (await Send(HttpMethod.Get, "/metrics", null)).Content.ReadAsStringAsync());

        // Again: harmless. A label after it: 410. A clip never asked about: 400.
        var again = await Send(HttpMethod.Post, $"/api/machines/{machine}/clips/d-1/decline", SiloFixture.LabellerKey);
        Assert.True(JsonDocument.Parse(await again.Content.ReadAsStringAsync()).RootElement.GetProperty("alreadyClosed").GetBoolean());
        var late = await Send(HttpMethod.Post, $"/api/machines/{machine}/clips/d-1/label", SiloFixture.LabellerKey, JsonContent.Create(new { label = "normal" }));
        Assert.Equal(HttpStatusCode.Gone, late.StatusCode);
        Assert.Contains($"machine {machine}: the label request for clip 'd-1' was declined at ", await late.Content.ReadAsStringAsync());
        Assert.Contains("(a labeller could not tell), which closed it without a label", await late.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, (await Send(HttpMethod.Post, $"/api/machines/{machine}/clips/never-asked/decline", SiloFixture.LabellerKey)).StatusCode);
        Assert.Equal(before.GetProperty("anomalySetSize").GetInt32(), (await Status(machine)).GetProperty("anomalySetSize").GetInt32());
    }

    [Fact]
    public async Task Bad_input_gets_a_4xx_and_changes_nothing()
    {
        await Enroll("http.machine-2", new MachineSettings { Strategy = "hybrid", Seed = 5 });
        var before = (await Status("http.machine-2")).GetRawText();
        var good = Wav(Plan.Clips.First(c => c.Split == SynthSplit.Test));
        async Task Expect(HttpStatusCode code, HttpResponseMessage response, string? containing = null)
        {
            string body = await response.Content.ReadAsStringAsync();
            Assert.True(code == response.StatusCode, $"expected {code}, got {response.StatusCode}: {body}");
            if (containing is not null) Assert.Contains(containing, body);
        }
        string clips = "/api/machines/http.machine-2/clips";
        await Expect(HttpStatusCode.BadRequest, await Send(HttpMethod.Post, clips + "?clipId=x1", SiloFixture.DeviceKey, WavContent("not a wav at all"u8.ToArray())), "RIFF");
        await Expect(HttpStatusCode.BadRequest, await Send(HttpMethod.Post, clips + "?clipId=x2", SiloFixture.DeviceKey, WavContent(good[..3_000])), "truncated");
        var withNaN = WavEncoder.EncodeFloat32(new float[4_000], 16_000); // the encoder refuses NaN, so it goes in afterwards
        int data = withNaN.AsSpan().IndexOf("data"u8) + 8;
        BitConverter.GetBytes(float.NaN).CopyTo(withNaN, data + 40);
        await Expect(HttpStatusCode.BadRequest, await Send(HttpMethod.Post, clips + "?clipId=x3", SiloFixture.DeviceKey, WavContent(withNaN)), "NaN");
        var stereo = StereoWav(8_000);
        await Expect(HttpStatusCode.BadRequest, await Send(HttpMethod.Post, clips + "?clipId=x6", SiloFixture.DeviceKey, WavContent(stereo)), "only mono");
        await Expect(HttpStatusCode.UnsupportedMediaType, await Send(HttpMethod.Post, clips + "?clipId=x4", SiloFixture.DeviceKey, new ByteArrayContent(good)));
        await Expect(HttpStatusCode.RequestEntityTooLarge, await Send(HttpMethod.Post, clips + "?clipId=x5", SiloFixture.DeviceKey, WavContent(new byte[(1 << 20) + 1])));
        await Expect(HttpStatusCode.BadRequest, await Send(HttpMethod.Post, clips + "?clipId=../../etc", SiloFixture.DeviceKey, WavContent(good)));
        await Expect(HttpStatusCode.BadRequest, await Send(HttpMethod.Post, "/api/machines/bad%20id/clips", SiloFixture.DeviceKey, WavContent(good)), "not a valid machine id");
        await Expect(HttpStatusCode.Conflict, await Send(HttpMethod.Post, "/api/machines/never.enrolled/clips", SiloFixture.DeviceKey, WavContent(good)), "not enrolled");
        await Expect(HttpStatusCode.BadRequest, await Send(HttpMethod.Post, "/api/machines/http.machine-2/clips/none/label", SiloFixture.LabellerKey, JsonContent.Create(new { label = "normal" })), "no label request");
        await Expect(HttpStatusCode.BadRequest, await Send(HttpMethod.Post, "/api/machines/http.machine-2/clips/none/label", SiloFixture.LabellerKey, JsonContent.Create(new { label = "maybe" })), "normal");
        await Expect(HttpStatusCode.BadRequest, await Send(HttpMethod.Put, "/api/machines/http.machine-2", SiloFixture.OperatorKey, JsonContent.Create(new MachineSettings { Budget = 3 })), "budget");
        Assert.Equal(before, (await Status("http.machine-2")).GetRawText());
        Assert.False(Directory.Exists(Path.Combine(silo.DataDirectory, "clips", "http.machine-2")) &&
                     Directory.EnumerateFiles(Path.Combine(silo.DataDirectory, "clips", "http.machine-2")).Any(), "refused clips leave no audio behind");
    }

    /// <summary>A 16-bit PCM stereo WAV of silence: a well-formed file a mono-only ingest must refuse.</summary>
    private static byte[] StereoWav(int frames)
    {
        using var stream = new MemoryStream();
        using var writer = new BinaryWriter(stream);
        writer.Write("RIFF"u8); writer.Write(36 + frames * 4); writer.Write("WAVE"u8);
        writer.Write("fmt "u8); writer.Write(16); writer.Write((short)1); writer.Write((short)2);
        writer.Write(16_000); writer.Write(16_000 * 4); writer.Write((short)4); writer.Write((short)16);
        writer.Write("data"u8); writer.Write(frames * 4); writer.Write(new byte[frames * 4]);
        writer.Flush();
        return stream.ToArray();
    }
}
