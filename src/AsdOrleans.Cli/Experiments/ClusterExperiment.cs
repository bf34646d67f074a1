using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Cli.Commands;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Strategies;
using AsdOrleans.Method.Vocabulary;

namespace AsdOrleans.Cli.Experiments;

/// <summary>
/// The prequential protocol through a live silo's HTTP API: one machine grain per planned run, configured with the
/// run's settings and seed, enrolled from the same training embeddings (POST …/enrollment), the test clips' audio
/// posted in the run's stream order (the silo's encoder embeds them), and every label request answered from the
/// ground truth before the next clip. With the same model on the silo this reproduces the in-process numbers.
/// </summary>
public sealed class ClusterExperiment(ClusterHttp operatorApi, ClusterHttp deviceApi, string runId)
{
    private static readonly JsonSerializerOptions Json = JsonSerializerOptions.Web;

    /// <summary>Enroll with "standardize" (raw baseline features: the silo fits μ and σ and standardises each clip).</summary>
    public bool StandardizeEnrollment { get; init; }
    /// <summary>Enroll with "whiten" (raw spectral features: the silo fits a whitening transform and whitens each clip).</summary>
    public bool WhitenEnrollment { get; init; }

    /// <summary>A fresh prefix for this run's machine ids, so a rerun never meets an earlier run's grains.</summary>
    public static string NewRunId() => $"exp-{DateTime.UtcNow:yyyyMMddTHHmmss}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";

    /// <summary>The grain id of one planned run; hashed when the readable form would pass 128 characters.</summary>
    public string MachineId(string machine, PlannedRun run)
    {
        string readable = $"{runId}.{machine}.{run.Strategy.ToName()}.b{run.Budget.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}.{run.Point.Label}.t{run.Trial}";
        if (readable.Length <= 128 && EmbeddingTable.IsValidMachineName(readable))
            return readable;
        return $"{runId}.{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(readable)))[..24]}";
    }

    /// <summary>Runs every planned run's stream, up to <paramref name="parallelStreams"/> at once, and returns their traces in plan order.</summary>
    public async Task<StreamTrace[]> RunAsync(ExperimentPlan plan, string modelVersion, Func<string, string, string> audioPath,
        int parallelStreams, Action<int, int> progress, CancellationToken cancellation = default)
    {
        var traces = new StreamTrace[plan.Runs.Count];
        int done = 0;
        await Parallel.ForAsync(0, plan.Runs.Count, new ParallelOptions { MaxDegreeOfParallelism = parallelStreams, CancellationToken = cancellation },
            async (i, token) =>
            {
                var run = plan.Runs[i];
                var machine = plan.Machines[run.MachineIndex];
                traces[i] = await RunStreamAsync(machine, run, modelVersion, file => audioPath(machine.Name, file), token);
                progress(Interlocked.Increment(ref done), plan.Runs.Count);
            });
        return traces;
    }

    private async Task<StreamTrace> RunStreamAsync(PreparedMachine machine, PlannedRun run, string modelVersion, Func<string, string> audioPath,
        CancellationToken cancellation)
    {
        string id = MachineId(machine.Name, run);
        var config = run.Config;
        // The machine names the embedder its enrollment came from, so the silo embeds its clips alike whatever its own default.
        var settings = Grains.MachineSettingsMapping.ToSettings(config) with
        {
            Embedder = Method.Machines.EmbedderNames.ToName(Method.Machines.EmbedderNames.FromFeatureTransform(StandardizeEnrollment, WhitenEnrollment)),
        };
        await operatorApi.SendAsync(HttpMethod.Put, $"/api/machines/{id}", JsonContent.Create(settings, options: Json), cancellation);
        var enrollment = new EnrollmentRequest(machine.Training.Select(c => new EnrollmentClip(c.Embedding, c.IsTargetDomain)).ToList(), modelVersion, StandardizeEnrollment, WhitenEnrollment);
        await operatorApi.SendAsync(HttpMethod.Post, $"/api/machines/{id}/enrollment", JsonContent.Create(enrollment, options: Json), cancellation);

        var trace = PrequentialExperiment.NewTrace(machine, run.Order);
        for (int i = 0; i < run.Order.Length; i++)
        {
            int clip = run.Order[i];
            string clipId = $"c{i:D5}";
            var wav = await File.ReadAllBytesAsync(audioPath(machine.TestRecords[clip].File), cancellation);
            var verdict = await deviceApi.SendAsync(HttpMethod.Post, $"/api/machines/{id}/clips?clipId={clipId}", ClusterHttp.Wav(wav), cancellation);
            trace.Scores[i] = verdict.GetProperty("score").GetDouble();
            trace.Alerts[i] = verdict.GetProperty("anomalous").GetBoolean();
            trace.QueryReasons[i] = Method.Strategies.QueryReasonNames.OfVerdict(verdict.GetProperty("labelRequested").GetBoolean(),
                ClusterHttp.OptionalString(verdict, "queryReason"));
            if (trace.Queried(i))
            {
                if (run.Answer(machine, clip) is { } answer)
                {
                    var label = new { label = ClipWords.Label(answer == Method.Machines.ClipLabel.Anomalous) };
                    await operatorApi.SendAsync(HttpMethod.Post, $"/api/machines/{id}/clips/{clipId}/label", JsonContent.Create(label, options: Json), cancellation);
                    trace.LabelsGiven[i] = answer;
                }
                else
                {
                    await operatorApi.SendAsync(HttpMethod.Post, $"/api/machines/{id}/clips/{clipId}/decline", null, cancellation);
                }
            }
        }
        return trace;
    }
}
