using AsdOrleans.Audio;
using AsdOrleans.Datasets.Synthesis;
using Microsoft.AspNetCore.Builder;

namespace AsdOrleans.Cli.Tests;

/// <summary>
/// What the tests that start silos of their own on 127.0.0.1 and drive them with the CLI share (SiloRestartUnderLoadTests,
/// SiloFailoverTests): a synthetic plant's clips on disk, a silo's settings (the training-free spectral embedder, one
/// key a role) and its stop.
/// </summary>
internal static class LoopbackSiloFiles
{
    /// <summary>One machine type's one-second clips: <c>train/</c> (12 source, 2 target) and <c>test/</c> (<paramref name="test"/>) under <paramref name="dir"/>.</summary>
    public static void WriteClips(string dir, int test, ulong seed)
    {
        var plan = SynthPlan.Create(new SynthSettings { MachineTypes = 1, SourceTrain = 12, TargetTrain = 2, Test = test, Seconds = 1, Seed = seed });
        foreach (var clip in plan.Clips)
        {
            string folder = Path.Combine(dir, clip.Split == SynthSplit.Train ? "train" : "test");
            Directory.CreateDirectory(folder);
            WavEncoder.WriteMono16(Path.Combine(folder, clip.FileName), ClipSynthesizer.Render(clip), 16_000);
        }
    }

    /// <summary>A silo with its data in <paramref name="dataFolder"/> under <paramref name="dir"/>; keys dev, lab and op.</summary>
    public static Dictionary<string, string?> Settings(string dir, string dataFolder) => new()
    {
        ["Asd:DataDirectory"] = Path.Combine(dir, dataFolder),
        ["Asd:Embedder"] = "spectral",
        ["Asd:Device"] = "cpu",
        ["Asd:ApiKeys:Device:0"] = "dev",
        ["Asd:ApiKeys:Labeller:0"] = "lab",
        ["Asd:ApiKeys:Operator:0"] = "op",
    };

    public static async Task Stop(WebApplication app)
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }

    public static ValueTask Delete(string dir)
    {
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        return ValueTask.CompletedTask;
    }
}
