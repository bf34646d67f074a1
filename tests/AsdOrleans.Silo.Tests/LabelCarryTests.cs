using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Application;
using AsdOrleans.Datasets.Synthesis;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// A re-enrollment that keeps the machine's labels (a new encoder or embedder on the same machine): the silo keeps the
/// audio of every labelled clip it stored, embeds it again with the new enrollment's embedder, and the labels join the
/// new sets. A plain re-enrollment (a changed or repaired machine) drops them and their audio.
/// </summary>
public sealed class LabelCarryTests(SiloFixture silo) : IClassFixture<SiloFixture>
{
    private static readonly List<ClipSpec> Training = SiloFixture.Plan.Clips.Where(c => c.Split == SynthSplit.Train).ToList();

    private Task<JsonElement> Status(string machine) => silo.Get($"/api/machines/{machine}");

    /// <summary>Enrolls the machine again from the plant's embeddings with keepLabels, and requires the silo to take it.</summary>
    private async Task EnrollKeepingLabels(string machine)
    {
        var keep = LoopbackSilo.EnrollmentOf(silo.Model, SiloFixture.Plan) with { KeepLabels = true };
        var answer = await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/enrollment", SiloFixture.OperatorKey, JsonContent.Create(keep));
        Assert.True(answer.IsSuccessStatusCode, await answer.Content.ReadAsStringAsync());
    }

    private string LabelledFolder(string machine) => Path.Combine(silo.DataDirectory, "labelled-clips", machine);

    /// <summary>The clip ids of a machine's kept labelled files of one label, in the order labelled.</summary>
    private string[] KeptClips(string machine, string label)
        => Directory.Exists(Path.Combine(LabelledFolder(machine), label))
            ? [.. Directory.GetFiles(Path.Combine(LabelledFolder(machine), label)).Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal).Select(f => ClipAudioStore.ClipIdOf(f!))]
            : [];

    private static MultipartFormDataContent TrainingForm()
    {
        var form = new MultipartFormDataContent();
        foreach (var clip in Training)
            form.Add(LoopbackSilo.WavContent(SiloFixture.Wav(clip)), clip.Domain == SynthDomain.Target ? "target" : "source", clip.FileName);
        return form;
    }

    private async Task Label(string machine, string clip, string label)
    {
        var response = await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/clips/{clip}/label", SiloFixture.LabellerKey, JsonContent.Create(new { label }));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    private static (long Normal, long Anomalous, int Anomalies, long Carried, long NotCarried, long Clips) Labels(JsonElement status)
        => (status.GetProperty("normalLabels").GetInt64(), status.GetProperty("anomalousLabels").GetInt64(), status.GetProperty("anomalySetSize").GetInt32(),
            status.GetProperty("carriedLabels").GetInt64(), status.GetProperty("labelsNotCarried").GetInt64(), status.GetProperty("clipsSeen").GetInt64());

    [Fact]
    public async Task A_re_enrollment_that_keeps_labels_embeds_their_audio_again_under_the_new_embedder()
    {
        const string machine = "carry.press-01";
        await silo.Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 });
        string[] clips = ["k-0", "k-1", "k-2", "k-3"];
        for (int i = 0; i < clips.Length; i++)
            Assert.True((await silo.Push(machine, clips[i], i)).GetProperty("labelRequested").GetBoolean());
        await silo.PushFromGateway(machine, "g-0", 4, "s3://plant/g-0.wav"); // its audio is the gateway's
        foreach (var (clip, label) in new[] { ("k-0", "normal"), ("k-1", "anomalous"), ("k-2", "anomalous"), ("k-3", "normal"), ("g-0", "anomalous") })
            await Label(machine, clip, label);
        var before = await Status(machine);
        int referencesBefore = before.GetProperty("referenceSetSize").GetInt32();
        Assert.Equal((2L, 3L, 3, 0L, 0L, 5L), Labels(before));
        Assert.Equal(["k-0", "k-3"], KeptClips(machine, "normal"));
        Assert.Equal(["k-1", "k-2"], KeptClips(machine, "anomalous"));

        // The same encoder, from embeddings: the four stored clips come back with their labels; the gateway's cannot.
        await EnrollKeepingLabels(machine);
        var carried = await Status(machine);
        Assert.Equal((2L, 2L, 2, 4L, 1L, 0L), Labels(carried)); // a new stream: nothing seen or queried yet
        Assert.Equal(0, carried.GetProperty("queries").GetInt64());
        // The labelled normals joined N again, as they had before (the same training clips, the same encoder).
        Assert.Equal(referencesBefore, carried.GetProperty("referenceSetSize").GetInt32());
        Assert.Single((await silo.Get($"/api/machines/{machine}/normal-examples")).EnumerateArray(), e => e.GetProperty("clipId").GetString() == "k-3");

        // Another embedder (spectral, from audio): the kept audio is embedded again with it, so the labels follow.
        Assert.Equal(HttpStatusCode.OK, (await silo.Send(HttpMethod.Put, $"/api/machines/{machine}", SiloFixture.OperatorKey,
            JsonContent.Create(new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3, Embedder = "spectral" }))).StatusCode);
        var fromAudio = await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/enrollment/audio?keepLabels=true", SiloFixture.OperatorKey, TrainingForm());
        Assert.True(fromAudio.IsSuccessStatusCode, await fromAudio.Content.ReadAsStringAsync());
        var spectral = await Status(machine);
        Assert.Equal("spectral", spectral.GetProperty("embedder").GetString());
        Assert.Equal((2L, 2L, 2, 4L, 0L, 0L), Labels(spectral));
        // A clip scores on the new embedder's sets, labels included.
        Assert.True((await silo.Push(machine, "k-9", 5)).GetProperty("labelRequested").GetBoolean());

        // A plain re-enrollment (the machine was repaired) drops the labels and the audio kept for them.
        Assert.True((await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/enrollment/audio", SiloFixture.OperatorKey, TrainingForm())).IsSuccessStatusCode);
        Assert.Equal((0L, 0L, 0, 0L, 0L, 0L), Labels(await Status(machine)));
        Assert.False(Directory.Exists(LabelledFolder(machine)));
    }

    [Fact]
    public async Task A_carry_is_refused_without_the_silos_audio_and_when_a_label_came_after_the_read()
    {
        const string machine = "carry.press-02";
        await silo.Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 });
        Assert.True((await silo.Push(machine, "r-0", 0)).GetProperty("labelRequested").GetBoolean());
        await Label(machine, "r-0", "anomalous");
        var before = (await Status(machine)).ToString();
        var request = LoopbackSilo.EnrollmentOf(silo.Model, SiloFixture.Plan) with { KeepLabels = true };

        // A .NET client has no silo's data directory to read the audio from.
        var useCases = silo.App.Services.GetRequiredService<MachineUseCases>();
        Assert.Contains("enroll through a silo's HTTP API", (await Assert.ThrowsAsync<ArgumentException>(() => useCases.Enroll(machine, request))).Message);
        var grain = silo.App.Services.GetRequiredService<IGrainFactory>().GetGrain<IMachineGrain>(machine);
        await Assert.ThrowsAsync<ArgumentException>(() => grain.Enroll(request));
        // A label the read did not see: the machine holds 1, the carry was read at 0.
        var late = await Assert.ThrowsAsync<LabelCarryRacedException>(() => grain.Enroll(request with { KeepLabels = true }, new LabelCarry([], LabelsWhenRead: 0)));
        Assert.Contains("a label came meanwhile", late.Message);
        // Nor one read before another enrollment (a --replace meanwhile would make the labels another machine's).
        Assert.Equal(1, (await Status(machine)).GetProperty("enrollments").GetInt64());
        var reenrolled = await Assert.ThrowsAsync<LabelCarryRacedException>(() => grain.Enroll(request, new LabelCarry([], LabelsWhenRead: 1, EnrollmentsWhenRead: 0)));
        Assert.Contains("was enrolled again after its labels' audio was read", reenrolled.Message);
        // Bad carried values are refused before anything is stored.
        await Assert.ThrowsAsync<ArgumentException>(() => grain.Enroll(request, new LabelCarry([new CarriedLabel("x", [float.NaN, 1f], ClipLabelValue.Normal)], LabelsWhenRead: 1, EnrollmentsWhenRead: 1)));
        Assert.Equal(before, (await Status(machine)).ToString());
        Assert.Single(Directory.GetFiles(Path.Combine(LabelledFolder(machine), "anomalous")));
    }
    [Fact]
    public async Task A_plain_re_enrollment_drops_the_labelled_audio_even_when_the_normal_examples_cannot_be_removed()
    {
        const string machine = "carry.press-03";
        await silo.Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 });
        Assert.True((await silo.Push(machine, "p-0", 0)).GetProperty("labelRequested").GetBoolean());
        await Label(machine, "p-0", "anomalous");
        Assert.Single(Directory.GetFiles(Path.Combine(LabelledFolder(machine), "anomalous")));
        // The normal examples' folder cannot be removed (an immutable file in it; root ignores permissions): a logged failure.
        string normal = Path.Combine(silo.DataDirectory, "normal-clips", machine);
        Directory.CreateDirectory(normal);
        string pinned = Path.Combine(normal, "pinned.wav");
        await File.WriteAllBytesAsync(pinned, [1], TestContext.Current.CancellationToken);
        if (!Chattr("+i", pinned))
        {
            File.Delete(pinned);
            Assert.Skip("chattr +i is not available here (it needs Linux, root and a file system that supports it)");
        }
        try
        {
            Assert.True((await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/enrollment/audio", SiloFixture.OperatorKey, TrainingForm())).IsSuccessStatusCode);
            Assert.Equal((0L, 0L, 0, 0L, 0L, 0L), Labels(await Status(machine)));
            Assert.True(File.Exists(pinned)); // the failure the test means
            // The repaired machine's labelled audio went anyway: a later carry would take it for the new machine's labels.
            Assert.False(Directory.Exists(LabelledFolder(machine)));
        }
        finally
        {
            Chattr("-i", pinned);
            Directory.Delete(normal, recursive: true);
        }
    }

    private static bool Chattr(string change, string path)
    {
        try
        {
            using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("chattr", [change, path])
                { RedirectStandardError = true, RedirectStandardOutput = true })!;
            process.WaitForExit();
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false; // no chattr
        }
    }

    [Fact]
    public async Task A_clip_id_reused_after_a_carry_keeps_both_labels_audio()
    {
        const string machine = "carry.press-04";
        await silo.Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 });
        Assert.True((await silo.Push(machine, "u-0", 0)).GetProperty("labelRequested").GetBoolean());
        await Label(machine, "u-0", "anomalous");
        await EnrollKeepingLabels(machine);
        Assert.Equal((0L, 1L, 1, 1L, 0L, 0L), Labels(await Status(machine)));
        // The new stream reuses the id (a gateway that numbers clips again) for another clip, labelled both ways.
        Assert.True((await silo.Push(machine, "u-0", 1)).GetProperty("labelRequested").GetBoolean());
        await Label(machine, "u-0", "normal");
        Assert.True((await silo.Push(machine, "u-1", 2)).GetProperty("labelRequested").GetBoolean());
        await Label(machine, "u-1", "anomalous");
        Assert.Equal((1L, 2L, 2, 1L, 0L, 2L), Labels(await Status(machine)));
        // The machine holds three labels, and the next carry brings all three: the earlier u-0's audio was not overwritten.
        await EnrollKeepingLabels(machine);
        Assert.Equal((1L, 2L, 2, 3L, 0L, 0L), Labels(await Status(machine)));
    }

    [Fact]
    public async Task A_carry_takes_no_more_kept_files_than_the_machine_holds_labels()
    {
        // Files the folder should not hold (a plain re-enrollment's deletion that failed, or ran on a silo of a release
        // that kept none) are the machine's before it was changed: only the newest as many as it holds labels are carried.
        const string machine = "carry.press-05";
        await silo.Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 });
        string stale = Path.Combine(LabelledFolder(machine), "anomalous");
        Directory.CreateDirectory(stale);
        await File.WriteAllBytesAsync(Path.Combine(stale, "before-repair.wav"), SiloFixture.TestWav(6), TestContext.Current.CancellationToken);
        File.SetLastWriteTimeUtc(Path.Combine(stale, "before-repair.wav"), DateTime.UtcNow.AddDays(-1));
        Assert.True((await silo.Push(machine, "n-0", 0)).GetProperty("labelRequested").GetBoolean());
        await Label(machine, "n-0", "normal");

        await EnrollKeepingLabels(machine);
        Assert.Equal((1L, 0L, 0, 1L, 0L, 0L), Labels(await Status(machine)));
    }

    [Fact]
    public async Task A_carry_takes_of_each_label_no_more_kept_files_than_the_machine_holds()
    {
        // A stale anomalous file numbered after the machine's one normal label (restored from another machine's backup,
        // say): the machine holds no anomaly, so none is carried, and its normal is.
        const string machine = "carry.press-06";
        await silo.Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 });
        Assert.True((await silo.Push(machine, "n-0", 0)).GetProperty("labelRequested").GetBoolean());
        await Label(machine, "n-0", "normal");
        string stale = Path.Combine(LabelledFolder(machine), "anomalous");
        Directory.CreateDirectory(stale);
        await File.WriteAllBytesAsync(Path.Combine(stale, $"0000000002{ClipAudioStore.SequenceMark}stale.wav"), SiloFixture.TestWav(6), TestContext.Current.CancellationToken);

        await EnrollKeepingLabels(machine);
        Assert.Equal((1L, 0L, 0, 1L, 0L, 0L), Labels(await Status(machine)));
    }

    [Fact]
    public async Task A_gateways_clip_is_never_kept_with_the_audio_of_a_file_another_clip_left_under_its_id()
    {
        // Files under the gateway clips' ids with other audio: an earlier clip's, not yet swept as orphans.
        const string machine = "carry.press-07";
        await silo.Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 });
        string clips = Path.Combine(silo.DataDirectory, "clips", machine);
        Directory.CreateDirectory(clips);
        foreach (var clip in new[] { "g-1", "g-2" })
            await File.WriteAllBytesAsync(Path.Combine(clips, clip + ".wav"), SiloFixture.TestWav(7), TestContext.Current.CancellationToken);
        Assert.True((await silo.PushFromGateway(machine, "g-1", 1, "s3://plant/g-1.wav")).LabelRequested);
        Assert.True((await silo.PushFromGateway(machine, "g-2", 2, "s3://plant/g-2.wav")).LabelRequested);
        await Label(machine, "g-1", "anomalous");
        await Label(machine, "g-2", "normal");
        // Neither is kept for a carry, nor shown as how the machine sounds when fine.
        Assert.Empty(KeptClips(machine, "anomalous"));
        Assert.Empty(KeptClips(machine, "normal"));
        Assert.Empty((await silo.Get($"/api/machines/{machine}/normal-examples")).EnumerateArray());
        // A clip pushed over HTTP is kept, as before.
        Assert.True((await silo.Push(machine, "h-1", 3)).GetProperty("labelRequested").GetBoolean());
        await Label(machine, "h-1", "anomalous");
        Assert.Equal(["h-1"], KeptClips(machine, "anomalous"));

        await EnrollKeepingLabels(machine);
        Assert.Equal((0L, 1L, 1, 1L, 2L, 0L), Labels(await Status(machine)));
    }

    [Fact]
    public async Task An_audio_enrollment_carries_a_label_given_while_its_training_clips_were_embedded()
    {
        // An audio enrollment embeds its whole training set before it carries the labels (minutes for a plant's set): a
        // label given meanwhile, before the carry reads the labels, is carried with them, not a race that refuses the
        // enrollment (409 carry-raced) and has the whole body sent and embedded again.
        const string machine = "carry.press-08";
        await silo.Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 3 });
        Assert.True((await silo.Push(machine, "t-0", 0)).GetProperty("labelRequested").GetBoolean());
        Assert.True((await silo.Push(machine, "t-1", 1)).GetProperty("labelRequested").GetBoolean());
        await Label(machine, "t-0", "normal");
        int labelled = 0;
        var clips = Training.Select(c => new TrainingClipSource(async () =>
        {
            if (Interlocked.Exchange(ref labelled, 1) == 0) await Label(machine, "t-1", "anomalous"); // while the set is embedded
            return SiloFixture.Wav(c);
        }, c.Domain == SynthDomain.Target, c.FileName)).ToList();

        var status = await silo.App.Services.GetRequiredService<MachineUseCases>()
            .EnrollFromAudio(machine, clips, keepLabels: true, silo.App.Services.GetRequiredService<ClipAudioStore>());

        Assert.Equal(1, labelled);
        Assert.Equal((1L, 1L, 2L, 0L), (status.NormalLabels, status.AnomalousLabels, status.CarriedLabels, status.LabelsNotCarried));
    }
}
