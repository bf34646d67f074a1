using AsdOrleans.Datasets.Synthesis;

namespace AsdOrleans.Core.Tests.Synthesis;

/// <summary>Writing a data set: layout, WAV format, determinism, refusal and atomicity.</summary>
public sealed class SynthDatasetTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-synth-core-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly SynthSettings Small = new() { MachineTypes = 2, SourceTrain = 6, TargetTrain = 2, Test = 8, Seconds = 0.5, Seed = 4 };

    private string Write(string name, SynthSettings settings, SynthWriteOptions? options = null)
    {
        string folder = Path.Combine(_dir, name);
        SynthDataset.Write(SynthPlan.Create(settings), folder, options ?? new SynthWriteOptions());
        return folder;
    }

    private static Dictionary<string, byte[]> Files(string folder)
        => Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(folder, f), File.ReadAllBytes);

    [Fact]
    public void WritesTheDcaseDevLayoutWithReadmeAndGroundTruth()
    {
        string folder = Path.Combine(_dir, "set");
        var plan = SynthPlan.Create(Small);

        var result = SynthDataset.Write(plan, folder, new SynthWriteOptions { CommandLine = "asd synth --out set --seed 4" });

        Assert.Equal((32, 16.0, Path.GetFullPath(folder)), (result.Clips, result.AudioSeconds, result.Folder));
        Assert.Equal(new[] { "README.md", "dev_data", "synth_clips.csv" }, Directory.GetFileSystemEntries(folder).Select(Path.GetFileName).Order());
        Assert.Equal(new[] { "synth-fan", "synth-pump" }, Directory.GetDirectories(Path.Combine(folder, "dev_data", "raw")).Select(Path.GetFileName).Order());
        foreach (var machine in plan.MachineTypes)
        {
            string raw = Path.Combine(folder, "dev_data", "raw", machine.Name);
            Assert.Equal(new[] { "test", "train" }, Directory.GetFileSystemEntries(raw).Select(Path.GetFileName).Order());
            var train = Directory.GetFiles(Path.Combine(raw, "train")).Select(Path.GetFileName).ToList();
            var test = Directory.GetFiles(Path.Combine(raw, "test")).Select(Path.GetFileName).ToList();
            Assert.Equal(6, train.Count(f => f!.StartsWith("section_00_source_train_normal_", StringComparison.Ordinal)));
            Assert.Equal(2, train.Count(f => f!.StartsWith("section_00_target_train_normal_", StringComparison.Ordinal)));
            Assert.Equal(8, train.Count);
            foreach (var prefix in new[] { "source_test_normal", "source_test_anomaly", "target_test_normal", "target_test_anomaly" })
                Assert.Equal(2, test.Count(f => f!.StartsWith("section_00_" + prefix + "_", StringComparison.Ordinal)));
            Assert.All(train.Concat(test), f => Assert.Matches(SynthFileName.Pattern(), f));
        }
        Assert.DoesNotContain(Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName), n => n!.StartsWith('.'));

        string readme = File.ReadAllText(Path.Combine(folder, "README.md"));
        Assert.Contains("seed 4", readme);
        Assert.Contains("asd synth --out set --seed 4", readme);
        Assert.Contains(SynthDataset.GeneratorVersion, readme);
        Assert.Contains("synth-pump", readme);

        var manifest = File.ReadAllLines(Path.Combine(folder, "synth_clips.csv"));
        Assert.Equal("machine_type,split,file,domain,label,anomaly,severity,spd,load", manifest[0]);
        Assert.Equal(33, manifest.Length);
        foreach (var clip in plan.Clips)
            Assert.Contains($"{clip.Machine.Name},{SynthNames.Of(clip.Split)},{clip.FileName},", string.Join('\n', manifest));
        Assert.All(manifest.Skip(1), row => Assert.Equal(row.Contains(",anomaly,", StringComparison.Ordinal), !row.Contains(",none,", StringComparison.Ordinal)));
    }

    [Fact]
    public void EveryClipIs16kHzMono16BitOfTheRightLengthUnclippedAndAudible()
    {
        string folder = Write("set", Small with { Seconds = 0.75 });

        var files = Directory.GetFiles(Path.Combine(folder, "dev_data"), "*.wav", SearchOption.AllDirectories);
        Assert.Equal(32, files.Length);
        foreach (var file in files)
        {
            var (format, samples) = SynthAudio.ReadWav(file);
            Assert.Equal((16_000, 1, 16, NAudio.Wave.WaveFormatEncoding.Pcm), (format.SampleRate, format.Channels, format.BitsPerSample, format.Encoding));
            Assert.Equal(12_000, samples.Length);
            double peak = samples.Max(s => Math.Abs((int)s)) / 32768.0;
            double rms = Math.Sqrt(samples.Average(s => (double)s * s)) / 32768.0;
            Assert.InRange(peak, 0.05, ClipSynthesizer.MaxPeak + 0.001);
            Assert.InRange(rms, 0.02, 0.08);
        }
    }

    [Fact]
    public void RenderedSamplesAreFiniteAndWithinRange()
    {
        foreach (var clip in SynthPlan.Create(Small with { MachineTypes = 7 }).Clips.Where((_, i) => i % 3 == 0))
        {
            var x = ClipSynthesizer.Render(clip);
            Assert.All(x, v => Assert.True(float.IsFinite(v) && Math.Abs(v) <= ClipSynthesizer.MaxPeak + 1e-6));
        }
    }

    [Fact]
    public void SameSettingsGiveIdenticalBytesAndAnotherSeedDoesNot()
    {
        var a = Files(Write("a", Small));
        var b = Files(Write("b", Small));
        var c = Files(Write("c", Small with { Seed = 5 }));

        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        Assert.All(a, kv => Assert.Equal(kv.Value, b[kv.Key]));
        var sharedWavs = a.Keys.Intersect(c.Keys).Where(k => k.EndsWith(".wav", StringComparison.Ordinal)).ToList();
        Assert.All(sharedWavs, k => Assert.NotEqual(a[k], c[k]));
        Assert.NotEqual(a["synth_clips.csv"], c["synth_clips.csv"]);
    }

    [Fact]
    public void OutputDoesNotDependOnTheNumberOfThreads()
    {
        var one = Files(Write("one", Small, new SynthWriteOptions { MaxDegreeOfParallelism = 1 }));
        var four = Files(Write("four", Small, new SynthWriteOptions { MaxDegreeOfParallelism = 4 }));

        Assert.Equal(one.Keys.Order(), four.Keys.Order());
        Assert.All(one, kv => Assert.Equal(kv.Value, four[kv.Key]));
    }

    [Fact]
    public void AnyClipCanBeRegeneratedAlone()
    {
        string folder = Write("set", Small);
        var clip = SynthPlan.Create(Small).Clips.Single(c => c.Machine.Name == "synth-pump" && c.Split == SynthSplit.Test && c.Index == 5);
        string alone = Path.Combine(_dir, "alone.wav");

        PcmWavWriter.Write(alone, ClipSynthesizer.Render(clip), SynthSettings.SampleRate);

        Assert.Equal(File.ReadAllBytes(SynthDataset.ClipPath(folder, clip)), File.ReadAllBytes(alone));
        Assert.Equal(new[] { "alone.wav", "set" }, Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void AnExistingDataSetIsRefusedUnlessReplacing()
    {
        string folder = Write("set", Small);
        var before = Files(folder);

        var e = Assert.Throws<IOException>(() => SynthDataset.Write(SynthPlan.Create(Small with { Seed = 7 }), folder, new SynthWriteOptions()));
        Assert.Contains("already holds dev_data, README.md, synth_clips.csv", e.Message);
        var unchanged = Files(folder);
        Assert.Equal(before.Keys.Order(), unchanged.Keys.Order());
        Assert.All(before, kv => Assert.Equal(kv.Value, unchanged[kv.Key]));

        SynthDataset.Write(SynthPlan.Create(Small with { Seed = 7, MachineTypes = 1 }), folder, new SynthWriteOptions { Replace = true });

        Assert.Equal(Files(Write("fresh", Small with { Seed = 7, MachineTypes = 1 })).Keys.Order(), Files(folder).Keys.Order());
        Assert.False(Directory.Exists(Path.Combine(folder, "dev_data", "raw", "synth-pump")));
        Assert.DoesNotContain(Directory.GetFileSystemEntries(folder).Select(Path.GetFileName), n => n!.StartsWith('.'));
    }

    [Fact]
    public void AReadmeAloneIsAlsoRefused()
    {
        string folder = Directory.CreateDirectory(Path.Combine(_dir, "project")).FullName;
        File.WriteAllText(Path.Combine(folder, "README.md"), "mine\n");

        Assert.Throws<IOException>(() => SynthDataset.Write(SynthPlan.Create(Small), folder, new SynthWriteOptions()));
        Assert.Equal("mine\n", File.ReadAllText(Path.Combine(folder, "README.md")));
        Assert.Single(Directory.GetFileSystemEntries(folder));
    }

    [Fact]
    public void AnExistingFolderKeepsItsOtherFiles()
    {
        string folder = Directory.CreateDirectory(Path.Combine(_dir, "data")).FullName;
        File.WriteAllText(Path.Combine(folder, "notes.txt"), "keep me\n");

        SynthDataset.Write(SynthPlan.Create(Small), folder, new SynthWriteOptions());

        Assert.Equal("keep me\n", File.ReadAllText(Path.Combine(folder, "notes.txt")));
        Assert.Equal(new[] { "README.md", "dev_data", "notes.txt", "synth_clips.csv" }, Directory.GetFileSystemEntries(folder).Select(Path.GetFileName).Order());
        Assert.Equal(32, Directory.GetFiles(Path.Combine(folder, "dev_data"), "*.wav", SearchOption.AllDirectories).Length);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AnInterruptedRunLeavesNothingBehind(bool folderExists)
    {
        string folder = Path.Combine(_dir, "set");
        if (folderExists) Directory.CreateDirectory(folder);
        using var cancel = new CancellationTokenSource();
        var options = new SynthWriteOptions
        {
            MaxDegreeOfParallelism = 1,
            Cancellation = cancel.Token,
            Progress = (done, _) => { if (done == 5) cancel.Cancel(); },
        };

        Assert.ThrowsAny<OperationCanceledException>(() => SynthDataset.Write(SynthPlan.Create(Small), folder, options));

        if (folderExists)
            Assert.Empty(Directory.GetFileSystemEntries(folder));
        else
            Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public void ProgressCountsEveryClip()
    {
        var seen = new List<(int Done, int Total)>();
        SynthDataset.Write(SynthPlan.Create(Small), Path.Combine(_dir, "set"), new SynthWriteOptions { Progress = (d, t) => seen.Add((d, t)) });

        Assert.Equal(Enumerable.Range(0, 33).Select(d => (d, 32)), seen.OrderBy(s => s.Done));
    }
}
