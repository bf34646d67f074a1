using AsdOrleans.Audio;
using AsdOrleans.Datasets.Dcase;

namespace AsdOrleans.Cli.Commands;

/// <summary>Reads a DCASE-layout data set's clips for the encoder commands, in parallel.</summary>
public static class AudioData
{
    public static IReadOnlyList<DcaseClip> Scan(string root, string? groundTruth, Func<DcaseClip, bool> keep)
    {
        if (!Directory.Exists(root))
            throw new UsageException($"--data: '{root}' is not a folder");
        var clips = DcaseDataset.Scan(root, groundTruth).Where(keep).ToList();
        if (clips.Count == 0)
            throw new UsageException($"--data: no matching clips under '{root}'");
        return clips;
    }

    /// <summary>Decodes every clip to 16 kHz mono; the first bad file stops the command with its name.</summary>
    public static float[][] Load(IReadOnlyList<DcaseClip> clips, Action<int, int> progress)
    {
        var samples = new float[clips.Count][];
        int done = 0;
        Parallel.For(0, clips.Count, i =>
        {
            samples[i] = WavDecoder.Read(clips[i].Path).Samples;
            progress(Interlocked.Increment(ref done), clips.Count);
        });
        return samples;
    }

    /// <summary>The experiment's machine name for a clip: the machine type, plus the section when it is not 00.</summary>
    public static string MachineName(DcaseClip clip) => clip.Section == "00" ? clip.MachineType : $"{clip.MachineType}.section_{clip.Section}";
}
