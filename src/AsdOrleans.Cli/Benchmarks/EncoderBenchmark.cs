using System.Diagnostics;
using AsdOrleans.Audio.Features;
using AsdOrleans.Method.Randomness;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Model;
using static TorchSharp.torch;

namespace AsdOrleans.Cli.Benchmarks;

/// <summary>
/// Encoder throughput on this machine's device: clips/s for one clip length at several batch sizes
/// (ratios to batch 1 measured side by side), the front end's cost in torch against the MathNet
/// reference, and the measured FLOP rate against the encoder's counted FLOPs per clip.
/// </summary>
public static class EncoderBenchmark
{
    public sealed record Settings(int Width, double ClipSeconds, IReadOnlyList<int> BatchSizes, double MinSecondsPerCase, string Device);

    public static void Run(TextWriter output, Settings s)
    {
        var device = TorchRuntime.SelectDevice(s.Device);
        var architecture = new EncoderArchitecture { Width = s.Width };
        var frontEnd = LogStftSettings.Paper;
        int samples = (int)(s.ClipSeconds * frontEnd.SampleRate);
        int frames = frontEnd.FrameCount(samples);
        double flopsPerClip = EncoderFlops.Forward(architecture, frames);
        using var model = EncoderModel.Untrained(architecture, seed: 1, device, frontEnd);
        output.WriteLine($"encoder benchmark on {device} ({TorchRuntime.BuildBackend}, {get_num_threads()} Torch threads, {Environment.ProcessorCount} cores)");
        output.WriteLine($"width {s.Width}: {model.Info.ParameterCount:N0} parameters; clip {s.ClipSeconds:0.##} s = {frames} frames × {frontEnd.Bins} bins; " +
                         $"{flopsPerClip / 1e9:F1} GFLOP per clip (counted)");

        var random = RandomState.FromSeed(7);
        float[] Clip() => Enumerable.Range(0, samples).Select(_ => (float)(0.1 * random.NextGaussian())).ToArray();
        int largest = s.BatchSizes.Max();
        var clips = Enumerable.Range(0, largest).Select(_ => Clip()).ToList();
        model.Embed(clips.Take(1).ToList()); // warm-up: allocator and kernel selection

        output.WriteLine();
        output.WriteLine($"{"batch",6} {"per pass",9} {"clips",6} {"seconds",9} {"clips/s",9} {"× batch 1",10} {"GFLOP/s",9}");
        double? baseline = null;
        int defaultChunk = model.MaxForwardBatch;
        foreach (int batch in s.BatchSizes)
        {
            // Each batch size twice when they differ: the whole batch in one forward pass, and the device's default split.
            foreach (int perPass in new[] { batch, Math.Min(batch, defaultChunk) }.Distinct())
            {
                model.MaxForwardBatch = perPass;
                var input = clips.Take(batch).ToList();
                int done = 0;
                var watch = Stopwatch.StartNew();
                do
                {
                    model.Embed(input);
                    done += batch;
                } while (watch.Elapsed.TotalSeconds < s.MinSecondsPerCase);
                double rate = done / watch.Elapsed.TotalSeconds;
                baseline ??= rate;
                output.WriteLine($"{batch,6} {perPass,9} {done,6} {watch.Elapsed.TotalSeconds,9:F2} {rate,9:F3} {rate / baseline.Value,10:F2} {rate * flopsPerClip / 1e9,9:F1}");
            }
        }
        model.MaxForwardBatch = defaultChunk;

        output.WriteLine();
        int stftClips = Math.Min(32, largest);
        var stftInput = clips.Take(stftClips).ToList();
        double torchMs;
        using (NewDisposeScope())
        using (no_grad())
        {
            var flat = stftInput.SelectMany(c => c).ToArray();
            var waveforms = tensor(flat, [stftClips, samples]).to(device);
            model.Frontend.Compute(waveforms); // warm-up
            var watch = Stopwatch.StartNew();
            int reps = 0;
            do { model.Frontend.Compute(waveforms).Dispose(); reps++; } while (watch.Elapsed.TotalSeconds < 1);
            torchMs = watch.Elapsed.TotalMilliseconds / (reps * stftClips);
        }
        var referenceWatch = Stopwatch.StartNew();
        int referenceClips = 0;
        do { LogStftReference.Compute(clips[referenceClips % clips.Count], frontEnd, out _); referenceClips++; } while (referenceWatch.Elapsed.TotalSeconds < 1);
        double referenceMs = referenceWatch.Elapsed.TotalMilliseconds / referenceClips;
        output.WriteLine($"log-STFT per {s.ClipSeconds:0.##} s clip: torch.stft (batch of {stftClips}) {torchMs:F2} ms, MathNet reference {referenceMs:F2} ms " +
                         $"(reference / torch = {referenceMs / torchMs:F1}×)");
    }
}
