using System.Buffers;
using System.Globalization;
using System.Text;

namespace AsdOrleans.Datasets.Synthesis;

/// <summary>How <see cref="SynthDataset.Write"/> runs.</summary>
public sealed record SynthWriteOptions
{
    /// <summary>Replace an existing dev_data, README.md and synth_clips.csv (<c>--force</c>); otherwise they are refused.</summary>
    public bool Replace { get; init; }
    public int MaxDegreeOfParallelism { get; init; } = Environment.ProcessorCount;
    /// <summary>The command recorded in README.md, if any.</summary>
    public string? CommandLine { get; init; }
    /// <summary>Called with (clips done, clips in all), from worker threads one at a time.</summary>
    public Action<int, int>? Progress { get; init; }
    public CancellationToken Cancellation { get; init; }
}

public sealed record SynthWriteResult(int Clips, double AudioSeconds, string Folder);

/// <summary>
/// Writes a generated data set in the DCASE 2023 dev layout:
/// <c>FOLDER/dev_data/raw/&lt;machine_type&gt;/{train,test}/*.wav</c>, <c>FOLDER/README.md</c> and
/// <c>FOLDER/synth_clips.csv</c> (ground truth per clip). Nothing half-written is ever visible: clips
/// are rendered in parallel into a hidden staging folder (a sibling of FOLDER when FOLDER does not
/// exist yet, inside it otherwise) that is renamed into place at the end and removed on failure or
/// cancellation. An existing data set is refused unless <see cref="SynthWriteOptions.Replace"/>.
/// A process killed mid-run can leave only a hidden <c>.synth-*</c> staging folder behind.
/// </summary>
public static class SynthDataset
{
    public const string GeneratorVersion = "asd-synth/1";
    public const string DataFolder = "dev_data";
    public const string ReadmeFile = "README.md";
    public const string ManifestFile = "synth_clips.csv";
    private static readonly string[] Outputs = [DataFolder, ReadmeFile, ManifestFile];

    /// <summary>Path of a clip below a data-set root.</summary>
    public static string ClipPath(string root, ClipSpec clip)
        => Path.Combine(root, DataFolder, "raw", clip.Machine.Name, SynthNames.Of(clip.Split), clip.FileName);

    /// <summary>Which of dev_data, README.md and synth_clips.csv already exist in <paramref name="folder"/>.</summary>
    public static IReadOnlyList<string> ExistingOutputs(string folder)
        => Outputs.Where(name => Path.Exists(Path.Combine(folder, name))).ToList();

    public static SynthWriteResult Write(SynthPlan plan, string folder, SynthWriteOptions options)
    {
        if (options.MaxDegreeOfParallelism < 1)
            throw new ArgumentException($"threads must be at least 1, got {options.MaxDegreeOfParallelism}");
        string root = Path.GetFullPath(folder);
        if (File.Exists(root))
            throw new IOException($"'{folder}' is a file, not a folder");
        var existing = ExistingOutputs(root);
        if (existing.Count > 0 && !options.Replace)
            throw new IOException($"'{folder}' already holds {string.Join(", ", existing)}; refusing to replace an existing data set");

        bool rootExists = Directory.Exists(root);
        string tag = $".synth-{Environment.ProcessId}-{Guid.NewGuid():N}"[..22];
        string staging = rootExists
            ? Path.Combine(root, tag)
            : Path.Combine(Path.GetDirectoryName(root)!, "." + Path.GetFileName(root) + tag);
        try
        {
            Render(plan, staging, options);
            File.WriteAllText(Path.Combine(staging, ManifestFile), Manifest(plan));
            File.WriteAllText(Path.Combine(staging, ReadmeFile), SynthReadme.Build(plan, options.CommandLine));
            options.Cancellation.ThrowIfCancellationRequested();
            if (rootExists)
                SwapInto(root, staging, existing);
            else
                Directory.Move(staging, root);
        }
        finally
        {
            if (Directory.Exists(staging))
                Directory.Delete(staging, recursive: true);
        }
        var s = plan.Settings;
        return new SynthWriteResult(plan.Clips.Count, plan.Clips.Count * (double)s.SamplesPerClip / SynthSettings.SampleRate, root);
    }

    private static void Render(SynthPlan plan, string staging, SynthWriteOptions options)
    {
        foreach (var machine in plan.MachineTypes)
            foreach (var split in new[] { SynthSplit.Train, SynthSplit.Test })
                Directory.CreateDirectory(Path.Combine(staging, DataFolder, "raw", machine.Name, SynthNames.Of(split)));
        int done = 0, total = plan.Clips.Count;
        var progressLock = new object();
        options.Progress?.Invoke(0, total);
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.MaxDegreeOfParallelism, CancellationToken = options.Cancellation };
        var buffers = new SampleBuffers(plan.Settings.SamplesPerClip);
        Parallel.For(0, total, parallel, i =>
        {
            var clip = plan.Clips[i];
            var samples = ArrayPool<float>.Shared.Rent(clip.Samples);
            try
            {
                ClipSynthesizer.Render(clip, samples.AsSpan(0, clip.Samples), buffers);
                PcmWavWriter.Write(ClipPath(staging, clip), samples.AsSpan(0, clip.Samples), SynthSettings.SampleRate);
            }
            finally
            {
                ArrayPool<float>.Shared.Return(samples);
            }
            int count = Interlocked.Increment(ref done);
            if (options.Progress is not null)
                lock (progressLock) options.Progress(count, total);
        });
    }

    /// <summary>Moves the staged outputs into an existing folder; replaced outputs go into the staging folder (deleted after) and come back if the move fails.</summary>
    private static void SwapInto(string root, string staging, IReadOnlyList<string> existing)
    {
        string old = Path.Combine(staging, ".replaced");
        Directory.CreateDirectory(old);
        var moved = new List<string>();
        try
        {
            foreach (var name in existing)
            {
                Move(Path.Combine(root, name), Path.Combine(old, name));
                moved.Add(name);
            }
            foreach (var name in Outputs)
                Move(Path.Combine(staging, name), Path.Combine(root, name));
        }
        catch
        {
            foreach (var name in moved)
            {
                try
                {
                    if (!Path.Exists(Path.Combine(root, name)))
                        Move(Path.Combine(old, name), Path.Combine(root, name));
                }
                catch (IOException)
                {
                    // best effort: the original exception is the one to report
                }
            }
            throw;
        }
    }

    private static void Move(string from, string to)
    {
        if (Directory.Exists(from)) Directory.Move(from, to);
        else File.Move(from, to);
    }

    /// <summary>synth_clips.csv: machine_type,split,file,domain,label,anomaly,severity,spd,load.</summary>
    public static string Manifest(SynthPlan plan)
    {
        var text = new StringBuilder("machine_type,split,file,domain,label,anomaly,severity,spd,load\n");
        foreach (var c in plan.Clips)
            text.Append(CultureInfo.InvariantCulture,
                $"{c.Machine.Name},{SynthNames.Of(c.Split)},{c.FileName},{SynthNames.Of(c.Domain)},{(c.IsAnomaly ? "anomaly" : "normal")},{SynthNames.Of(c.Anomaly)},{c.Severity:0.000},{c.Speed},{c.Load}\n");
        return text.ToString();
    }
}
