using System.Globalization;
using System.Net.Http.Headers;
using AsdOrleans.Abstractions;
using AsdOrleans.Audio;
using AsdOrleans.Datasets.Synthesis;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Model;
using AsdOrleans.EncoderGrains;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Cli.Benchmarks;

public static partial class ClusterBenchmark
{
    private const string DeviceKey = "bench-device-key";

    private static async Task RunIngestAsync(TextWriter output, Settings settings, IReadOnlyList<EnrollmentClip> enrollmentClips)
    {
        string folder = Directory.CreateTempSubdirectory("asd-bench-ingest-").FullName;
        try
        {
            var architecture = new EncoderArchitecture { Width = settings.Width };
            string modelPath = Path.Combine(folder, "encoder.asdm");
            string modelVersion;
            long parameters;
            using (var model = EncoderModel.Untrained(architecture, seed: 1, TorchRuntime.SelectDevice(settings.Device)))
            {
                model.Save(modelPath);
                (modelVersion, parameters) = (model.VersionId, model.Info.ParameterCount);
            }
            // Synthetic enrollment with the silo's model version: the ingest cost does not depend on what N holds.
            if (enrollmentClips[0].Embedding.Length != architecture.EmbeddingDimension)
                throw new InvalidOperationException("the synthetic enrollment embeddings must have the encoder's dimension");
            var wavs = RenderClips(settings.ClipSeconds, count: Math.Min(settings.Devices, 8));

            output.WriteLine();
            output.WriteLine($"http ingest: POST /api/machines/{{id}}/clips, {settings.ClipSeconds:0.##} s WAV clips ({wavs[0].Length:N0} bytes), " +
                             $"{settings.Devices} concurrent devices (one machine each), untrained encoder width {settings.Width} " +
                             $"({parameters:N0} parameters) on {settings.Device}, {settings.Duration:0.###} s per mode");
            output.WriteLine($"{"mode",-10} {"max batch",9} {"clips",7} {"clips/s",9} {"p50 ms",9} {"p99 ms",9} {"batches",8} {"mean batch",10}");
            // Both silos run side by side and take turns in short slices, so a change in the machine's other load
            // falls on both modes alike instead of on whichever ran second.
            var modes = new[] { new IngestMode("batching", 16), new IngestMode("batch 1", 1) };
            try
            {
                foreach (var mode in modes)
                    mode.Silo = await StartIngestSiloAsync(mode.MaxBatch, modelPath, settings, wavs, Path.Combine(folder, $"silo-{mode.MaxBatch}"));
                foreach (var mode in modes)
                    await mode.PrepareAsync(settings, wavs, enrollmentClips, modelVersion);
                double slice = Math.Max(settings.Duration / 3, 0.25); // long against one call, so draining at a slice's end costs little
                for (double measured = 0; measured < settings.Duration - 1e-9; measured += slice)
                    foreach (var mode in modes)
                        await mode.MeasureSliceAsync(TimeSpan.FromSeconds(Math.Min(slice, settings.Duration - measured)));
            }
            finally
            {
                foreach (var mode in modes)
                {
                    mode.Dispose();
                    if (mode.Silo is not null) await mode.Silo.DisposeAsync();
                }
            }
            var rates = new List<double>();
            foreach (var mode in modes)
            {
                var load = LoadResult.Combine(mode.Slices);
                rates.Add(load.CallsPerSecond);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{mode.Name,-10} {mode.MaxBatch,9} {load.Calls,7} {load.CallsPerSecond,9:F2} {load.P50Milliseconds,9:F1} {load.P99Milliseconds,9:F1} " +
                    $"{mode.Batches,8} {(mode.Batches == 0 ? 0 : (double)mode.Clips / mode.Batches),10:F2}"));
            }
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ratio batching / batch 1: {rates[0] / rates[1]:F2}x clips/s"));
            output.WriteLine("(mean batch: clips per call of the model, from the batcher's counters over the measured window; " +
                             "on a CPU the model still runs one forward pass per clip inside a batch, only the STFT is batched)");
        }
        finally
        {
            try { Directory.Delete(folder, recursive: true); }
            catch (IOException) { /* a leftover temporary folder is harmless */ }
        }
    }

    private static Task<EmbeddedSilo> StartIngestSiloAsync(int maxBatch, string modelPath, Settings settings, IReadOnlyList<byte[]> wavs, string folder)
    {
        Directory.CreateDirectory(folder);
        return EmbeddedSilo.StartAsync(new Dictionary<string, string?>
        {
            ["Asd:ModelPath"] = modelPath,
            ["Asd:Device"] = settings.Device,
            ["Asd:EncoderMaxBatchSize"] = maxBatch.ToString(CultureInfo.InvariantCulture),
            ["Asd:MaxClipBytes"] = (wavs.Max(w => w.Length) + 1024).ToString(CultureInfo.InvariantCulture),
            ["Asd:ApiKeys:Device:0"] = DeviceKey,
            // The benchmark measures throughput at --concurrency devices: each waits its turn rather than being refused 503.
            ["Asd:QueuedClips"] = Math.Max(AsdOrleans.Silo.ClipWorkLimit.DefaultQueued, settings.Devices).ToString(CultureInfo.InvariantCulture),
        }, folder);
    }

    /// <summary>One silo's batcher setting under the ingest load: its devices, and what its slices measured.</summary>
    private sealed class IngestMode(string name, int maxBatch)
    {
        private HttpClient? _http;
        private string[] _machineIds = [];
        private IReadOnlyList<byte[]> _wavs = [];
        private long _sequence;

        public string Name => name;
        public int MaxBatch => maxBatch;
        public EmbeddedSilo? Silo { get; set; }
        public List<LoadResult> Slices { get; } = [];
        public long Batches { get; private set; }
        public long Clips { get; private set; }

        public async Task PrepareAsync(Settings settings, IReadOnlyList<byte[]> wavs, IReadOnlyList<EnrollmentClip> enrollmentClips, string modelVersion)
        {
            var grains = Silo!.App.Services.GetRequiredService<IGrainFactory>();
            _wavs = wavs;
            _machineIds = Enumerable.Range(0, settings.Devices).Select(d => $"bench.device-{d:D4}").ToArray();
            var enrollment = new EnrollmentRequest(enrollmentClips, modelVersion);
            await Task.WhenAll(_machineIds.Select(id => grains.GetGrain<IMachineGrain>(id).Enroll(enrollment)));
            _http = new HttpClient { BaseAddress = Silo.Address, Timeout = TimeSpan.FromMinutes(10) };
            _http.DefaultRequestHeaders.Add("X-Api-Key", DeviceKey);
            // Warm-up: loads the model, JIT-compiles the path and lets Torch's allocator settle, outside the figures.
            await ClosedLoopLoad.RunAsync(settings.Devices, TimeSpan.FromSeconds(Math.Clamp(settings.Duration / 4, 0.5, 3)), Post);
        }

        public async Task MeasureSliceAsync(TimeSpan duration)
        {
            var encoder = Silo!.App.Services.GetRequiredService<EncoderService>();
            var before = encoder.Statistics;
            Slices.Add(await ClosedLoopLoad.RunAsync(_machineIds.Length, duration, Post));
            var after = encoder.Statistics;
            Batches += after.Batches - before.Batches;
            Clips += after.Clips - before.Clips;
        }

        private async Task Post(int device, long _)
        {
            using var content = new ByteArrayContent(_wavs[device % _wavs.Count]);
            content.Headers.ContentType = new MediaTypeHeaderValue("audio/wav");
            long clip = Interlocked.Increment(ref _sequence);
            using var response = await _http!.PostAsync($"/api/machines/{_machineIds[device]}/clips?clipId=clip-{clip}", content);
            if (!response.IsSuccessStatusCode)
                throw new InvalidOperationException($"ingest answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }

        public void Dispose() => _http?.Dispose();
    }

    /// <summary>Machine-like test clips from the synthetic plant generator, as 16-bit WAV files.</summary>
    private static List<byte[]> RenderClips(double seconds, int count)
    {
        var plan = SynthPlan.Create(new SynthSettings { MachineTypes = 1, SourceTrain = 1, TargetTrain = 1, Test = 4 * ((count + 3) / 4), Seconds = seconds, Seed = 5 });
        return plan.Clips.Where(c => c.Split == SynthSplit.Test).Take(count)
            .Select(c => WavEncoder.EncodeMono16(ClipSynthesizer.Render(c), SynthSettings.SampleRate)).ToList();
    }
}
