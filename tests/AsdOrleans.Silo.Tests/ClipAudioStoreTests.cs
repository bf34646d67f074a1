using AsdOrleans.Abstractions;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AsdOrleans.Silo.Tests;

/// <summary>The clip audio folder's orphan sweep, on real files.</summary>
public sealed class ClipAudioStoreTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("asd-clip-audio-").FullName;

    public void Dispose() => Directory.Delete(_data, recursive: true);

    [Fact]
    public async Task The_orphan_sweep_removes_old_temporary_and_unrequested_files_but_never_a_pending_clips_audio_whatever_its_id()
    {
        var store = new ClipAudioStore(Options.Create(new SiloOptions { DataDirectory = _data }), NullLogger<ClipAudioStore>.Instance);
        const string machine = "sweep.m1";
        // A clip id may hold ".tmp-" (letters, digits, '.', '_', '-'): its file is a clip's, not a temporary one.
        foreach (var clip in new[] { "a.tmp-1", "plain", "gone" })
            Assert.True(await store.SaveIfAbsentAsync(machine, clip, [1, 2, 3], TestContext.Current.CancellationToken));
        string folder = Path.GetDirectoryName(store.PathOf(machine, "plain"))!;
        string temporary = store.PathOf(machine, "half-written") + ".tmp-" + Guid.NewGuid().ToString("N");
        await File.WriteAllBytesAsync(temporary, [1], TestContext.Current.CancellationToken);
        foreach (var file in Directory.EnumerateFiles(folder))
            File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddHours(-2));

        store.RemoveOrphans(machine, new HashSet<string> { "a.tmp-1", "plain" }, TimeSpan.FromHours(1));

        Assert.True(File.Exists(store.PathOf(machine, "a.tmp-1")), "a pending clip whose id holds .tmp- lost its audio");
        Assert.True(File.Exists(store.PathOf(machine, "plain")));
        Assert.False(File.Exists(store.PathOf(machine, "gone")), "audio no request needs is an orphan");
        Assert.False(File.Exists(temporary), "an old temporary file is an orphan");
    }

    [Fact]
    public void Closing_a_request_whose_audio_the_silo_never_stored_removes_nothing_and_says_nothing()
    {
        // A gateway's clip (the .NET client's PushClipAsync with an audio reference) leaves no folder for its machine.
        var log = new ListLogger();
        var store = new ClipAudioStore(Options.Create(new SiloOptions { DataDirectory = _data }), log);
        store.Delete("gateway.m1", "c-1");
        store.TryDelete("gateway.m1", "c-2");
        Assert.Empty(log.Messages);
    }

    private ClipAudioStore Store(int labelledCap) => new(Options.Create(new SiloOptions { DataDirectory = _data, LabelledAudioPerMachine = labelledCap }), NullLogger<ClipAudioStore>.Instance);

    /// <summary>A clip stored, then labelled: its own audio kept as the silo's label path keeps it.</summary>
    private static async Task Label(ClipAudioStore store, string machine, string clip, ClipLabelValue label, byte[]? audio = null)
    {
        byte[] wav = audio ?? [(byte)clip[0]];
        Assert.True(await store.SaveIfAbsentAsync(machine, clip, wav, TestContext.Current.CancellationToken));
        store.KeepLabelled(machine, clip, label, store.HoldsAudioOf(machine, clip, store.PathOf(machine, clip), ClipAudioFingerprint.Of(wav))!);
        store.Delete(machine, clip); // its request closed
    }

    private static List<(string Clip, ClipLabelValue Label)> Kept(ClipAudioStore store, string machine)
        => [.. store.LabelledClipsOf(machine).Select(c => (ClipAudioStore.ClipIdOf(c.ClipId), c.Label))];

    [Fact]
    public async Task Labelled_clips_keep_the_newest_under_the_cap_and_an_id_labelled_again_is_kept_beside_the_earlier()
    {
        var store = Store(3);
        const string machine = "labelled.m1";
        foreach (var (clip, label) in new[] { ("a", ClipLabelValue.Normal), ("b", ClipLabelValue.Anomalous), ("c", ClipLabelValue.Normal), ("d", ClipLabelValue.Anomalous) })
            await Label(store, machine, clip, label);
        Assert.Equal(["b", "c", "d"], Kept(store, machine).Select(c => c.Clip)); // oldest first, "a" pruned
        Assert.Equal([(byte)'d'], store.ReadLabelled(machine, store.LabelledClipsOf(machine)[^1])!);
        // The same id labelled again (a clip of a later stream reusing it, another label the machine holds) is kept
        // beside the earlier one, not over it; the cap still holds (the normal "c" stays: anomalies are at their half).
        await Label(store, machine, "c", ClipLabelValue.Anomalous, [(byte)'C']);
        Assert.Equal([("c", ClipLabelValue.Normal), ("d", ClipLabelValue.Anomalous), ("c", ClipLabelValue.Anomalous)], Kept(store, machine));
        Assert.Equal([(byte)'c'], store.ReadLabelled(machine, store.LabelledClipsOf(machine)[0])!);
        Assert.Equal([(byte)'C'], store.ReadLabelled(machine, store.LabelledClipsOf(machine)[^1])!);
        Assert.Null(store.ReadLabelled(machine, new AsdOrleans.Application.KeptLabelledClip("gone", ClipLabelValue.Normal)));
        // A cap lowered since (or 0: keep none) holds for a carry at once, before the next label prunes the files.
        Assert.Equal([("c", ClipLabelValue.Anomalous)], Kept(Store(1), machine));
        Assert.Empty(Store(0).LabelledClipsOf(machine));
        Assert.Equal(3, store.LabelledClipsOf(machine).Count);
        store.ForgetLabelledClips(machine);
        Assert.Empty(store.LabelledClipsOf(machine));
    }

    [Fact]
    public async Task A_cap_lowered_to_zero_prunes_the_kept_files_at_the_next_label_as_a_lowered_cap_does()
    {
        const string machine = "labelled.m0";
        foreach (var (clip, label) in new[] { ("a", ClipLabelValue.Normal), ("b", ClipLabelValue.Anomalous), ("c", ClipLabelValue.Normal) })
            await Label(Store(3), machine, clip, label);
        await Label(Store(2), machine, "d", ClipLabelValue.Normal);
        Assert.Equal(2, Directory.GetFiles(Path.Combine(Store(2).LabelledRoot, machine), "*.wav", SearchOption.AllDirectories).Length);
        // Keep none: the files a larger cap kept go with the next label too, not stay on the volume for good.
        await Label(Store(0), machine, "e", ClipLabelValue.Anomalous);
        Assert.False(Directory.Exists(Path.Combine(Store(0).LabelledRoot, machine))
            && Directory.GetFiles(Path.Combine(Store(0).LabelledRoot, machine), "*.wav", SearchOption.AllDirectories).Length > 0);
        Assert.Empty(Store(3).LabelledClipsOf(machine));
    }

    [Fact]
    public async Task The_order_labelled_survives_a_copy_that_loses_file_times_and_old_names_read_as_oldest()
    {
        var store = Store(4);
        const string machine = "labelled.m2";
        // Files of the release before (no number), oldest by their times: they come first, in that order.
        string folder = Path.Combine(store.LabelledRoot, machine);
        Directory.CreateDirectory(Path.Combine(folder, "normal"));
        Directory.CreateDirectory(Path.Combine(folder, "anomalous"));
        File.WriteAllBytes(Path.Combine(folder, "anomalous", "old-2~2.wav"), [2]);
        File.WriteAllBytes(Path.Combine(folder, "normal", "old-1.wav"), [1]);
        File.SetLastWriteTimeUtc(Path.Combine(folder, "normal", "old-1.wav"), DateTime.UtcNow.AddDays(-2));
        File.SetLastWriteTimeUtc(Path.Combine(folder, "anomalous", "old-2~2.wav"), DateTime.UtcNow.AddDays(-1));
        foreach (var (clip, label) in new[] { ("x", ClipLabelValue.Normal), ("y", ClipLabelValue.Anomalous) })
            await Label(store, machine, clip, label);
        List<(string, ClipLabelValue)> expected = [("old-1", ClipLabelValue.Normal), ("old-2", ClipLabelValue.Anomalous), ("x", ClipLabelValue.Normal), ("y", ClipLabelValue.Anomalous)];
        Assert.Equal(expected, Kept(store, machine));

        // A backup restored without times (cp -r without -p; some object-store syncs): the files' times now run the other
        // way. The order is the numbers', and the next label prunes the oldest.
        string restoredData = Directory.CreateTempSubdirectory("asd-restored-").FullName;
        try
        {
            var restored = new ClipAudioStore(Options.Create(new SiloOptions { DataDirectory = restoredData, LabelledAudioPerMachine = 4 }), NullLogger<ClipAudioStore>.Instance);
            var time = DateTime.UtcNow;
            foreach (var file in new DirectoryInfo(folder).EnumerateFiles("*.wav", SearchOption.AllDirectories).OrderBy(f => f.Name, StringComparer.Ordinal).Reverse().ToList())
            {
                string copy = Path.Combine(restored.LabelledRoot, machine, file.Directory!.Name, file.Name);
                Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
                file.CopyTo(copy);
                File.SetLastWriteTimeUtc(copy, time = time.AddMinutes(1)); // each copied later than the one before it
            }
            // Old names are still the oldest, ordered among themselves by their times (set so here).
            File.SetLastWriteTimeUtc(Path.Combine(restored.LabelledRoot, machine, "normal", "old-1.wav"), time.AddMinutes(-30));
            Assert.Equal(expected, Kept(restored, machine));
            await Label(restored, machine, "z", ClipLabelValue.Normal);
            Assert.Equal([("old-2", ClipLabelValue.Anomalous), ("x", ClipLabelValue.Normal), ("y", ClipLabelValue.Anomalous), ("z", ClipLabelValue.Normal)], Kept(restored, machine));
            Assert.StartsWith("0000000003@", restored.LabelledClipsOf(machine)[^1].ClipId); // numbered after the newest
        }
        finally
        {
            Directory.Delete(restoredData, recursive: true);
        }
    }

    [Fact]
    public async Task Anomalies_keep_half_the_cap_however_many_normals_come_and_more_while_normals_leave_room()
    {
        var store = Store(4);
        const string machine = "labelled.m3";
        await Label(store, machine, "a-0", ClipLabelValue.Anomalous);
        for (int i = 0; i < 10; i++)
            await Label(store, machine, $"n-{i}", ClipLabelValue.Normal);
        // The one anomaly stays; the normals are pruned to the rest of the cap.
        Assert.Equal(["a-0", "n-7", "n-8", "n-9"], Kept(store, machine).Select(c => c.Clip));
        Assert.Equal(4, Directory.GetFiles(Path.Combine(store.LabelledRoot, machine), "*.wav", SearchOption.AllDirectories).Length);
        for (int i = 1; i < 6; i++)
            await Label(store, machine, $"a-{i}", ClipLabelValue.Anomalous);
        // Many of both: half each, the newest.
        Assert.Equal(["n-8", "n-9", "a-4", "a-5"], Kept(store, machine).Select(c => c.Clip));
        // A lower cap: anomalies keep half of it rounded up (a cap of 1 is the anomaly's).
        Assert.Equal([("n-9", ClipLabelValue.Normal), ("a-4", ClipLabelValue.Anomalous), ("a-5", ClipLabelValue.Anomalous)], Kept(Store(3), machine));
        Assert.Equal([("a-5", ClipLabelValue.Anomalous)], Kept(Store(1), machine));
        // Few normals: anomalies take the room they leave.
        const string other = "labelled.m5";
        await Label(store, other, "n-0", ClipLabelValue.Normal);
        for (int i = 0; i < 5; i++)
            await Label(store, other, $"a-{i}", ClipLabelValue.Anomalous);
        Assert.Equal(["n-0", "a-2", "a-3", "a-4"], Kept(store, other).Select(c => c.Clip));
    }

    [Fact]
    public async Task Only_a_clips_own_audio_is_kept_never_another_file_left_under_its_id()
    {
        var store = Store(10);
        const string machine = "labelled.m4";
        byte[] leftover = [9, 9, 9], own = [1, 2, 3];
        Assert.True(await store.SaveIfAbsentAsync(machine, "g-1", leftover, TestContext.Current.CancellationToken));
        // A gateway's clip of this id (its audio elsewhere): the file is not its own, whether the fingerprint or the
        // reference says so.
        Assert.Null(store.HoldsAudioOf(machine, "g-1", "s3://plant/g-1.wav", ClipAudioFingerprint.Of(own)));
        Assert.Null(store.HoldsAudioOf(machine, "g-1", "s3://plant/g-1.wav", ClipAudioFingerprint.Unknown));
        // Nor for a request pointing at this store's file with another fingerprint (a gateway that sent the silo's path).
        Assert.Null(store.HoldsAudioOf(machine, "g-1", store.PathOf(machine, "g-1"), ClipAudioFingerprint.Of(own)));
        // The clip's own audio, by its fingerprint whatever the reference; without one, by the reference.
        Assert.Equal(leftover, store.HoldsAudioOf(machine, "g-1", "s3://plant/g-1.wav", ClipAudioFingerprint.Of(leftover)));
        Assert.Equal(leftover, store.HoldsAudioOf(machine, "g-1", store.PathOf(machine, "g-1"), ClipAudioFingerprint.Unknown));
        Assert.Null(store.HoldsAudioOf(machine, "none", store.PathOf(machine, "none"), ClipAudioFingerprint.Unknown));
    }

    private sealed class ListLogger : Microsoft.Extensions.Logging.ILogger<ClipAudioStore>
    {
        public List<string> Messages { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => Messages.Add(formatter(state, exception));
    }

    [Theory]
    [InlineData("..")]
    [InlineData(".")]
    public void A_dot_path_is_no_machine_folder_so_forgetting_its_examples_deletes_nothing(string machineId)
    {
        // Re-enrolling a machine deletes its normal-examples folder: under "..", that was the whole data directory.
        var store = new ClipAudioStore(Options.Create(new SiloOptions { DataDirectory = _data }), NullLogger<ClipAudioStore>.Instance);
        string kept = store.NormalPathOf("other.m1", "n-1");
        Directory.CreateDirectory(Path.GetDirectoryName(kept)!);
        File.WriteAllBytes(kept, [1]);
        File.WriteAllBytes(Path.Combine(_data, "grains.db"), [1]);

        Assert.Throws<ArgumentException>(() => store.ForgetNormalExamples(machineId));
        Assert.Throws<ArgumentException>(() => store.PathOf(machineId, "c1"));
        Assert.True(File.Exists(kept), "another machine's example was deleted");
        Assert.True(File.Exists(Path.Combine(_data, "grains.db")), "the data directory was deleted");
    }
}
