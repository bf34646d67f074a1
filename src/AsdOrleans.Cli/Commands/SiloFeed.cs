using System.Net.Http.Json;
using AsdOrleans.Datasets.Dcase;
using AsdOrleans.Method.Vocabulary;

namespace AsdOrleans.Cli.Commands;

/// <summary>What a clip pushed to a silo came back with, and whether its label request was answered.</summary>
public sealed record PushedClip(string ClipId, double Score, bool Anomalous, bool LabelRequested, bool Labelled);

/// <summary>
/// The two calls a plant makes into a silo's HTTP API — enroll a machine from training WAVs, push a clip (and, as an
/// annotator, answer the label request it caused) — shared by `asd enroll`, `asd push` and `asd demo`.
/// </summary>
public static class SiloFeed
{
    /// <summary>Sends the training WAVs as one multipart upload (DCASE names give the domain; others count as source).</summary>
    public static async Task<System.Text.Json.JsonElement> EnrollAsync(ClusterHttp http, string machineId, IReadOnlyList<string> files, CancellationToken cancellation)
    {
        using var form = new MultipartFormDataContent();
        foreach (var file in files)
        {
            bool target = DcaseFileName.TryParse(Path.GetFileName(file), out var parts) && parts!.IsTarget == true;
            form.Add(ClusterHttp.Wav(await File.ReadAllBytesAsync(file, cancellation)), target ? "target" : "source", Path.GetFileName(file));
        }
        return await http.SendAsync(HttpMethod.Post, $"/api/machines/{Uri.EscapeDataString(machineId)}/enrollment/audio", form, cancellation);
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
        bool labelled = false;
        if (requested && oracleLabel is bool anomalous)
        {
            await http.SendAsync(HttpMethod.Post, $"/api/machines/{id}/clips/{Uri.EscapeDataString(clipId)}/label",
                JsonContent.Create(new { label = ClipWords.Label(anomalous) }), cancellation, labellerKey);
            labelled = true;
        }
        return new PushedClip(clipId, verdict.GetProperty("score").GetDouble(), verdict.GetProperty("anomalous").GetBoolean(), requested, labelled);
    }
}
