using System.Diagnostics;
using AsdOrleans.Audio.Features;
using AsdOrleans.Method.Randomness;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Inference;
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
    public sealed record Settings(int Width, double ClipSeconds, IReadOnlyList<int> BatchSizes, double MinSecondsPerCase, string Device)
    {
        /// <summary>Number formats measured side by side; the first is the reference for ratios and fidelity.</summary>
        public IReadOnlyList<InferencePrecision> Precisions { get; init; } = [InferencePrecision.Fp32];

        /// <summary>A trained model to measure (its width wins); null: an untrained model of <see cref="Width"/>.</summary>
        public string? ModelPath { get; init; }

        /// <summary>
        /// A PyTorch anchor script (../shared/anchors/torch_encoder_bench.py) to run between two measurements of
        /// ours at batch 1, for a ratio measured in one sitting; null: no anchor.
        /// </summary>
        public string? AnchorScript { get; init; }

        /// <summary>Real clips for the fidelity check (cosine to the reference precision); null: the benchmark's noise clips.</summary>
        public IReadOnlyList<float[]>? FidelityClips { get; init; }
    }

    public static void Run(TextWriter output, Settings s)
    {
        var device = TorchRuntime.SelectDevice(s.Device);
        using var model = s.ModelPath is null
            ? EncoderModel.Untrained(new EncoderArchitecture { Width = s.Width }, seed: 1, device, LogStftSettings.Paper)
            : EncoderModel.Load(s.ModelPath, s.Device);
        var architecture = model.Info.Architecture;
        var frontEnd = model.Info.FrontEnd;
        int samples = (int)(s.ClipSeconds * frontEnd.SampleRate);
        int frames = frontEnd.FrameCount(samples);
        double flopsPerClip = EncoderFlops.Forward(architecture, frames);
        output.WriteLine($"encoder benchmark on {device} ({TorchRuntime.BuildBackend}, {get_num_threads()} Torch threads, {Environment.ProcessorCount} cores, " +
                         $"CPU {CpuVectorFlags.Summary})");
        output.WriteLine($"{(s.ModelPath is null ? "untrained" : model.VersionId)} width {architecture.Width}: {model.Info.ParameterCount:N0} parameters; " +
                         $"clip {s.ClipSeconds:0.##} s = {frames} frames × {frontEnd.Bins} bins; {flopsPerClip / 1e9:F1} GFLOP per clip (counted)");

        var random = RandomState.FromSeed(7);
        float[] Clip() => Enumerable.Range(0, samples).Select(_ => (float)(0.1 * random.NextGaussian())).ToArray();
        int largest = s.BatchSizes.Max();
        var clips = Enumerable.Range(0, largest).Select(_ => Clip()).ToList();
        var reference = s.Precisions[0];
        foreach (var precision in s.Precisions)
        {
            model.SetPrecision(precision);
            model.Embed(clips.Take(1).ToList()); // warm-up: allocator and kernel selection
        }

        output.WriteLine();
        output.WriteLine($"{"precision",12} {"batch",6} {"per pass",9} {"clips",6} {"seconds",9} {"clips/s",9} {"× batch 1",10} {$"× {reference.Name()}",9} {"GFLOP/s",9}");
        var firstBatch = new Dictionary<InferencePrecision, double>();
        int defaultChunk = model.MaxForwardBatch;
        foreach (int batch in s.BatchSizes)
        {
            // Each batch size twice when they differ: the whole batch in one forward pass, and the device's default split.
            foreach (int perPass in new[] { batch, Math.Min(batch, defaultChunk) }.Distinct())
            {
                // Precisions alternate within each case, so they share the machine's state of the moment.
                double? referenceRate = null;
                foreach (var precision in s.Precisions)
                {
                    model.SetPrecision(precision);
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
                    firstBatch.TryAdd(precision, rate);
                    referenceRate ??= rate;
                    output.WriteLine($"{precision.Name(),12} {batch,6} {perPass,9} {done,6} {watch.Elapsed.TotalSeconds,9:F2} {rate,9:F3} " +
                                     $"{rate / firstBatch[precision],10:F2} {rate / referenceRate.Value,9:F2} {rate * flopsPerClip / 1e9,9:F1}");
                }
            }
        }
        model.MaxForwardBatch = defaultChunk;

        if (s.Precisions.Count > 1)
            WriteFidelity(output, model, s.Precisions, s.FidelityClips ?? clips);
        if (s.AnchorScript is not null)
            CompareWithAnchor(output, model, s, clips[0]);
        model.SetPrecision(InferencePrecision.Fp32);

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

    /// <summary>Cosine of each precision's embeddings to the reference precision's, over the same clips.</summary>
    private static void WriteFidelity(TextWriter output, EncoderModel model, IReadOnlyList<InferencePrecision> precisions, IReadOnlyList<float[]> clips)
    {
        model.SetPrecision(precisions[0]);
        var reference = model.Embed(clips);
        output.WriteLine();
        output.WriteLine($"fidelity over {clips.Count} clips: cosine of each clip's embedding to its {precisions[0].Name()} embedding");
        foreach (var precision in precisions.Skip(1))
        {
            model.SetPrecision(precision);
            var embeddings = model.Embed(clips);
            var cosines = embeddings.Select((e, i) => Cosine(e, reference[i])).ToArray();
            output.WriteLine($"{precision.Name(),12}: min {cosines.Min():F6}, mean {cosines.Average():F6}");
        }
    }

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return dot / Math.Sqrt(na * nb);
    }

    /// <summary>
    /// Ours at batch 1 (every precision), then the PyTorch anchor, then ours again: the anchor is quoted against the
    /// mean of the two, so drift in the machine's load shows as a gap between them.
    /// </summary>
    private static void CompareWithAnchor(TextWriter output, EncoderModel model, Settings s, float[] clip)
    {
        double seconds = Math.Max(s.MinSecondsPerCase, 10);
        Dictionary<InferencePrecision, double> Measure()
        {
            var rates = new Dictionary<InferencePrecision, double>();
            foreach (var precision in s.Precisions)
            {
                model.SetPrecision(precision);
                model.MaxForwardBatch = 1;
                model.Embed([clip]);
                int done = 0;
                var watch = Stopwatch.StartNew();
                do { model.Embed([clip]); done++; } while (watch.Elapsed.TotalSeconds < seconds);
                rates[precision] = done / watch.Elapsed.TotalSeconds;
            }
            return rates;
        }
        output.WriteLine();
        output.WriteLine($"against the PyTorch anchor ({s.AnchorScript}), batch 1, 10 s clips, in one sitting: ours, anchor, ours");
        var before = Measure();
        var anchor = AnchorClipsPerSecond(s.AnchorScript!, output);
        var after = Measure();
        output.WriteLine($"anchor (PyTorch eager fp32, 2 threads): {anchor:F3} clips/s");
        output.WriteLine($"{"precision",12} {"before",9} {"after",9} {"mean",9} {"× anchor",9}");
        foreach (var precision in s.Precisions)
        {
            double mean = (before[precision] + after[precision]) / 2;
            output.WriteLine($"{precision.Name(),12} {before[precision],9:F3} {after[precision],9:F3} {mean,9:F3} {mean / anchor,9:F2}");
        }
    }

    /// <summary>Runs the anchor with the glibc heap settings its README prescribes and reads its batch-1 rate.</summary>
    private static double AnchorClipsPerSecond(string script, TextWriter output)
    {
        var start = new ProcessStartInfo("/usr/bin/python3", [script, "2"]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var variable in new[] { "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_THRESHOLD_" })
            start.Environment[variable] = "1000000000";
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start /usr/bin/python3");
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            output.WriteLine($"  anchor> {line}");
        var match = System.Text.RegularExpressions.Regex.Match(stdout, @"batch 1: ([0-9.]+) clips/s");
        if (process.ExitCode != 0 || !match.Success)
            throw new InvalidOperationException($"the anchor failed (exit {process.ExitCode}): {stderr.Result.Trim()}");
        return double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }
}
