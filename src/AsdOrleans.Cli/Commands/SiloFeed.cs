using System.Net.Http.Json;
using AsdOrleans.Datasets.Dcase;
using AsdOrleans.Method.Vocabulary;

namespace AsdOrleans.Cli.Commands;

/// <summary>
/// What a clip pushed to a silo came back with, and whether its label request was answered. <c>LabelRefused</c>: the
/// machine no longer held the request when the answer came (it expired, was withdrawn beyond the machine's limit of
/// open requests, or was lost with a silo before it was written), so the label was not applied. <c>QueryReason</c>: why
/// the machine asked (uncertain, random, committee, budget-floor), null when it did not.
/// </summary>
/// <c>LabelNotSent</c>: the answer could not be delivered (the silo was not reached, or kept failing, through every
/// retry); the request stays open on the machine for a labeller.
public sealed record PushedClip(string ClipId, double Score, bool Anomalous, bool LabelRequested, bool Labelled, bool LabelRefused, string? QueryReason = null,
    bool Repeated = false, bool LabelNotSent = false);

/// <summary>
/// The two calls a plant makes into a silo's HTTP API — enroll a machine from training WAVs, push a clip (and, as an
/// annotator, answer the label request it caused) — shared by `asd enroll`, `asd push` and `asd demo`.
/// </summary>
public static class SiloFeed
{
    /// <summary>Sends the training WAVs as one multipart upload (DCASE names give the domain; others count as source).</summary>
    public static async Task<System.Text.Json.JsonElement> EnrollAsync(ClusterHttp http, string machineId, IReadOnlyList<string> files, CancellationToken cancellation,
        bool keepLabels = false)
    {
        using var form = new MultipartFormDataContent();
        foreach (var file in files)
        {
            bool target = DcaseFileName.TryParse(Path.GetFileName(file), out var parts) && parts!.IsTarget == true;
            form.Add(ClusterHttp.Wav(await File.ReadAllBytesAsync(file, cancellation)), target ? "target" : "source", Path.GetFileName(file));
        }
        return await http.SendAsync(HttpMethod.Post, $"/api/machines/{Uri.EscapeDataString(machineId)}/enrollment/audio{(keepLabels ? "?keepLabels=true" : "")}", form, cancellation);
    }

    /// <summary>
    /// Posts one clip (its id: the file name without extension); when the machine asks for its label and
    /// <paramref name="oracleLabel"/> is given, answers at once with the labeller key, as an annotator would.
    /// </summary>
    public static async Task<PushedClip> PushAsync(ClusterHttp http, string machineId, string file, bool? oracleLabel, string labellerKey, CancellationToken cancellation)
    {
        string id = Uri.EscapeDataString(machineId);
        string clipId = Path.GetFileNameWithoutExtension(file);
        var verdict = await http.SendAsync(HttpMethod.Post, $"/api/machines/{id}/clips?clipId={Uri.EscapeDataString(clipId)}",
            ClusterHttp.Wav(await File.ReadAllBytesAsync(file, cancellation)), cancellation);
        bool requested = verdict.GetProperty("labelRequested").GetBoolean();
        bool labelled = false, refused = false, notSent = false;
        if (requested && oracleLabel is bool anomalous)
        {
            try
            {
                await http.SendAsync(HttpMethod.Post, $"/api/machines/{id}/clips/{Uri.EscapeDataString(clipId)}/label",
                    JsonContent.Create(new { label = ClipWords.Label(anomalous) }), cancellation, labellerKey);
                labelled = true;
            }
            catch (SiloRefusedException e) when (RequestGone(e, clipId))
            {
                refused = true; // the oracle answers from the verdict, not from the offered queue, so it can be too late
            }
            catch (Exception e) when (IsTransient(e, cancellation))
            {
                notSent = true; // the verdict is the silo's: keep it; the request stays open for a labeller
            }
        }
        return new PushedClip(clipId, verdict.GetProperty("score").GetDouble(), verdict.GetProperty("anomalous").GetBoolean(), requested, labelled, refused,
            requested ? ClusterHttp.QueryReason(verdict) : null,
            verdict.TryGetProperty("repeated", out var repeated) && repeated.ValueKind == System.Text.Json.JsonValueKind.True, notSent);
    }

    /// <summary>A call that failed through every retry because the silo was not there or not well (no connection, a
    /// timeout, 408, 429, 5xx), as against a refusal (another 4xx: a key, an id, the audio), which the same call would
    /// meet again. A stream goes on past the first kind (a silo restarting) and stops at the second.</summary>
    public static bool IsTransient(Exception e, CancellationToken cancellation) => e switch
    {
        SiloRefusedException refused => refused.Status is >= 500 or 408 or 429,
        UsageException => true, // "cannot reach the silo" (ClusterHttp wraps the connection failure)
        HttpRequestException or IOException => true,
        OperationCanceledException => !cancellation.IsCancellationRequested, // a client timeout, not the user
        _ => false,
    };

    /// <summary>"101 uncertain, 25 random": label requests counted by why they were asked, most first.</summary>
    public static string ByReason(IEnumerable<string?> reasons)
        => string.Join(", ", reasons.OfType<string>().GroupBy(r => r).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => $"{g.Count()} {g.Key}"));

    /// <summary>410: the request expired or was withdrawn; 400 "no label request" for this clip: it was never written
    /// (the verdict goes back before the request is written, so a silo that dies in between loses it).</summary>
    internal static bool RequestGone(SiloRefusedException e, string clipId)
        => e.Status == 410 || e.Status == 400 && e.Detail.Contains($"has no label request for clip '{clipId}'", StringComparison.Ordinal);
}
