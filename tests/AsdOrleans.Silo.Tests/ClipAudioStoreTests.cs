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

    [Fact]
    public async Task Labelled_clips_keep_the_newest_across_both_labels_and_an_id_labelled_again_is_kept_beside_the_earlier()
    {
        var store = new ClipAudioStore(Options.Create(new SiloOptions { DataDirectory = _data, LabelledAudioPerMachine = 3 }), NullLogger<ClipAudioStore>.Instance);
        const string machine = "labelled.m1";
        var labels = new[] { ("a", AsdOrleans.Abstractions.ClipLabelValue.Normal), ("b", AsdOrleans.Abstractions.ClipLabelValue.Anomalous),
            ("c", AsdOrleans.Abstractions.ClipLabelValue.Normal), ("d", AsdOrleans.Abstractions.ClipLabelValue.Anomalous) };
        foreach (var (clip, label) in labels)
        {
            Assert.True(await store.SaveIfAbsentAsync(machine, clip, [(byte)clip[0]], TestContext.Current.CancellationToken));
            store.KeepLabelled(machine, clip, label);
            await Task.Delay(20, TestContext.Current.CancellationToken); // distinct file times
        }
        Assert.Equal(["b", "c", "d"], store.LabelledClipsOf(machine).Select(c => c.ClipId)); // oldest first, "a" pruned
        Assert.Equal([(byte)'d'], store.ReadLabelled(machine, store.LabelledClipsOf(machine)[^1])!);
        // The same id labelled again (a clip of a later stream reusing it, another label the machine holds) is kept
        // beside the earlier one, not over it; the cap still holds.
        store.Delete(machine, "c"); // its request closed
        Assert.True(await store.SaveIfAbsentAsync(machine, "c", [(byte)'C'], TestContext.Current.CancellationToken));
        store.KeepLabelled(machine, "c", AsdOrleans.Abstractions.ClipLabelValue.Anomalous);
        Assert.Equal([("c", AsdOrleans.Abstractions.ClipLabelValue.Normal), ("d", AsdOrleans.Abstractions.ClipLabelValue.Anomalous), ("c~2", AsdOrleans.Abstractions.ClipLabelValue.Anomalous)],
            store.LabelledClipsOf(machine).Select(c => (c.ClipId, c.Label)));
        Assert.Equal([(byte)'c'], store.ReadLabelled(machine, store.LabelledClipsOf(machine)[0])!);
        Assert.Equal([(byte)'C'], store.ReadLabelled(machine, store.LabelledClipsOf(machine)[^1])!);
        Assert.Null(store.ReadLabelled(machine, new AsdOrleans.Application.KeptLabelledClip("gone", AsdOrleans.Abstractions.ClipLabelValue.Normal)));
        // A cap lowered since (or 0: keep none) holds for a carry at once, before the next label prunes the files.
        ClipAudioStore Capped(int cap) => new(Options.Create(new SiloOptions { DataDirectory = _data, LabelledAudioPerMachine = cap }), NullLogger<ClipAudioStore>.Instance);
        Assert.Equal(["c~2"], Capped(1).LabelledClipsOf(machine).Select(c => c.ClipId));
        Assert.Empty(Capped(0).LabelledClipsOf(machine));
        Assert.Equal(3, store.LabelledClipsOf(machine).Count);
        store.ForgetLabelledClips(machine);
        Assert.Empty(store.LabelledClipsOf(machine));
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
