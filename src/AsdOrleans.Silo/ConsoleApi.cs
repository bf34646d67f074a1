using AsdOrleans.Abstractions;
using AsdOrleans.Application;
using AsdOrleans.Audio;
using AsdOrleans.Method.Vocabulary;
using AsdOrleans.Audio.Features;
using AsdOrleans.Grains;

namespace AsdOrleans.Silo;

/// <summary>An alert as listed by <c>GET /api/alerts</c>: a clip of a machine's score history scored above φ.</summary>
/// <param name="AudioUrl">Where this API serves the clip's audio while the silo keeps it (a pending request, or one of the
/// machine's newest alerts); null otherwise.</param>
/// <param name="RequestOutcome">How its label request ended (normal, anomalous, declined, expired, withdrawn); null while
/// it is open or when none was asked.</param>
/// <param name="ClosedBy">The labeller who answered or declined it, when the answer named one.</param>
/// <param name="AudioReference">Where a gateway keeps the clip's audio (its own reference, say an s3:// URI); null for
/// clips the silo stored (see <see cref="AudioUrl"/>).</param>
public sealed record AlertView(string MachineId, string ClipId, long ClipIndex, double Score, double DecisionThreshold,
    DateTimeOffset At, bool LabelRequested, ClipLabelValue? Label, string? AudioUrl = null, LabelRequestOutcome? RequestOutcome = null,
    string? ClosedBy = null, string? AudioReference = null);

/// <summary>A clip a labeller labelled normal, kept as an example of the machine's normal sound.</summary>
public sealed record NormalExample(string ClipId, DateTimeOffset LabelledAt, string AudioUrl);

/// <summary>
/// The HTTP endpoints behind the console (all labeller): alerts, per-machine score histories, and a pending clip's
/// spectrogram. Alerts are the anomalous points of the machines' persisted score histories, so they survive restarts
/// and need no store of their own.
/// </summary>
public static class ConsoleApi
{
    public const int MaxLimit = 10_000;

    /// <summary>The plant's newest alerts, from the alert index's shards (not from every machine's history).</summary>
    public static async Task<List<AlertView>> PlantAlerts(IGrainFactory grains, DateTimeOffset? since, int take, ClipAudioStore? audio = null) =>
        Newest((await Task.WhenAll(AlertIndexShards.All(grains).Select(shard => shard.Newest(since, take)))).SelectMany(a => a), take, audio);

    /// <summary>One machine's newest alerts, from its score history.</summary>
    public static async Task<List<AlertView>> MachineAlerts(IGrainFactory grains, string machine, DateTimeOffset? since, int take, ClipAudioStore? audio = null) =>
        Newest((await grains.GetGrain<IScoreHistoryGrain>(machine).Get(since, MachineScoreHistory.Capacity)).Where(p => p.Anomalous).Select(p => new IndexedAlert(machine, p)), take, audio);

    private static List<AlertView> Newest(IEnumerable<IndexedAlert> alerts, int take, ClipAudioStore? audio) => alerts
        .OrderByDescending(a => a.Point.At).ThenBy(a => a.MachineId, StringComparer.Ordinal).Take(take)
        .Select(a => ViewOf(a, audio))
        .ToList();

    /// <summary>An indexed alert as the API and the webhook show it; <paramref name="apiUrl"/> (the API's address as its
    /// readers reach it), when given, makes its audio URL absolute.</summary>
    public static AlertView ViewOf(IndexedAlert a, ClipAudioStore? audio, string? apiUrl = null) =>
        new(a.MachineId, a.Point.ClipId, a.Point.ClipIndex, a.Point.Score, a.Point.DecisionThreshold, a.Point.At, a.Point.LabelRequested, a.Point.Label,
            audio?.StoredAudioOf(a.MachineId, a.Point.ClipId) is null ? null
                : (apiUrl?.TrimEnd('/') ?? "") + MachineApi.AudioUrlOf(a.MachineId, a.Point.ClipId),
            a.Point.RequestOutcome, a.Point.ClosedBy, audio?.GatewayReferenceOf(a.MachineId, a.Point.ClipId, a.Point.AudioReference));

    public static void Map(WebApplication app)
    {
        var api = app.MapGroup("/api");

        api.MapGet("/alerts", async (string? machine, DateTimeOffset? since, int? limit, IClusterClient client, ClipAudioStore audio, MachineUseCases machines) =>
        {
            int take = limit ?? 100;
            if (take is < 1 or > MaxLimit)
                return Results.Problem($"limit must be in 1..{MaxLimit}", statusCode: StatusCodes.Status400BadRequest);
            if (machine is not null && !Identifiers.IsValidMachineId(machine))
                return Results.Problem($"'{machine}' is not a valid machine id", statusCode: StatusCodes.Status400BadRequest);
            if (machine is not null && !await machines.IsListed(machine)) // valid: checked above
                return MachineApi.UnknownMachine(machine);
            return Results.Ok(machine is not null ? await MachineAlerts(client, machine, since, take, audio) : await PlantAlerts(client, since, take, audio));
        }).RequireRole(ApiRole.Labeller).WithName("ListAlerts")
            .WithSummary("Alerts (clips scored above their machine's threshold), newest first")
            .WithDescription($"With machine: from its score history (its last {MachineScoreHistory.Capacity} clips). Without: from the plant-wide alert index (the newest {AlertIndexGrain.Capacity} alerts of each of its {MachineRegistryShards.Count} shards). Filters: machine, since (ISO 8601), limit (default 100).")
            .Produces<List<AlertView>>().ProducesProblem(400).ProducesProblem(404).ProducesProblem(503);

        api.MapGet("/machines/{id}/scores", async (string id, DateTimeOffset? since, int? limit, IClusterClient client, ClipAudioStore audio, MachineUseCases machines) =>
        {
            if (await MachineApi.RejectUnlistedMachine(id, machines) is { } rejected)
                return rejected;
            int take = limit ?? MachineScoreHistory.Capacity;
            if (take is < 1 or > MachineScoreHistory.Capacity)
                return Results.Problem($"limit must be in 1..{MachineScoreHistory.Capacity}", statusCode: StatusCodes.Status400BadRequest);
            // A clip pushed over HTTP has its path on this silo's volume as reference: no business of a labeller's.
            var points = await client.GetGrain<IScoreHistoryGrain>(id).Get(since, take);
            return Results.Ok(points.Select(p => p with { AudioReference = audio.GatewayReferenceOf(id, p.ClipId, p.AudioReference) }).ToList());
        }).RequireRole(ApiRole.Labeller).WithName("GetMachineScores")
            .WithSummary("A machine's score history: its last clips' time, score, threshold, alert, query and label")
            .WithDescription($"The last {MachineScoreHistory.Capacity} clips, oldest first; since (ISO 8601) and limit narrow it. Persisted (written behind every {MachineScoreHistory.FlushInterval.TotalSeconds:F0} s).")
            .Produces<List<ScorePoint>>().ProducesProblem(400).ProducesProblem(404).ProducesProblem(503);

        api.MapGet("/machines/{id}/normal-examples", async (string id, ClipAudioStore audio, MachineUseCases machines) =>
        {
            if (await MachineApi.RejectUnlistedMachine(id, machines) is { } rejected)
                return rejected;
            return Results.Ok(audio.NormalExamplesOf(id).Select(e => new NormalExample(e.ClipId, e.LabelledAt, MachineApi.AudioUrlOf(id, e.ClipId))).ToList());
        }).RequireRole(ApiRole.Labeller).WithName("ListNormalExamples")
            .WithSummary("A machine's newest clips labelled normal, kept so a labeller can hear how it sounds when it is fine")
            .WithDescription("Newest first; at most Asd:NormalExamplesPerMachine (default 3). Kept in the data directory the silos share; a clip that came from a gateway is not kept. A re-enrollment forgets them.")
            .Produces<List<NormalExample>>().ProducesProblem(400).ProducesProblem(404).ProducesProblem(503);

        api.MapGet("/machines/{id}/clips/{clipId}/spectrogram.png", (string id, string clipId, int? width, ClipAudioStore audio, HttpContext http) =>
        {
            if (!Identifiers.IsValidMachineId(id) || !Identifiers.IsValidMachineId(clipId) || clipId is "." or "..")
                return Results.Problem("machine and clip ids are 1–128 letters, digits, '.', '_' or '-'", statusCode: StatusCodes.Status400BadRequest);
            int columns = width ?? 800;
            if (columns is < 16 or > 4096)
                return Results.Problem("width must be in 16..4096", statusCode: StatusCodes.Status400BadRequest);
            if (audio.StoredAudioOf(id, clipId) is not { } path)
                return Results.Problem(ClipAudioStore.NoStoredAudio(id, clipId), statusCode: StatusCodes.Status404NotFound);
            AudioClip clip;
            try
            {
                clip = WavDecoder.Read(path);
            }
            catch (FileNotFoundException)
            {
                return Results.Problem($"the audio of clip '{clipId}' of machine {id} went meanwhile (labelled, expired, or a newer alert's took its place)", statusCode: StatusCodes.Status404NotFound);
            }
            http.Response.Headers.CacheControl = "private, max-age=3600";
            return Results.Bytes(Spectrogram.Png(clip.Samples, columns, rows: 256), "image/png");
        }).RequireRole(ApiRole.Labeller).LimitClipWork("spectrogram").WithName("GetClipSpectrogram") // decodes and transforms audio, as a clip does
            .WithSummary("A pending or recently alerting clip's log-STFT spectrogram as a PNG (time → right, frequency 0–8 kHz ↑)")
            .Produces(200, contentType: "image/png").ProducesProblem(400).ProducesProblem(404);
    }
}

/// <summary>A log-magnitude spectrogram (Core's reference log-STFT, the paper's front end) drawn as an RGB PNG.</summary>
public static class Spectrogram
{
    public static byte[] Png(float[] samples, int columns, int rows)
    {
        var settings = LogStftSettings.Paper;
        if (samples.Length < settings.MinimumSamples)
            Array.Resize(ref samples, settings.MinimumSamples);
        float[] stft = LogStftReference.Compute(samples, settings, out int frames);
        int bins = settings.Bins;
        columns = Math.Min(columns, frames);
        rows = Math.Min(rows, bins);
        // Pool frames into columns and bins into rows (mean of the log values).
        var image = new float[rows * columns];
        for (int r = 0; r < rows; r++)
        {
            int b0 = r * bins / rows, b1 = Math.Max(b0 + 1, (r + 1) * bins / rows);
            for (int c = 0; c < columns; c++)
            {
                int t0 = c * frames / columns, t1 = Math.Max(t0 + 1, (c + 1) * frames / columns);
                double sum = 0;
                for (int b = b0; b < b1; b++)
                    for (int t = t0; t < t1; t++)
                        sum += stft[b * frames + t];
                image[r * columns + c] = (float)(sum / ((b1 - b0) * (t1 - t0)));
            }
        }
        var sorted = (float[])image.Clone();
        Array.Sort(sorted);
        float lo = sorted[(int)(0.05 * (sorted.Length - 1))], hi = sorted[^1];
        float span = Math.Max(hi - lo, 1e-3f);
        var rgb = new byte[rows * columns * 3];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
            {
                float v = Math.Clamp((image[r * columns + c] - lo) / span, 0, 1);
                var (red, green, blue) = Colour(v);
                int o = ((rows - 1 - r) * columns + c) * 3; // low frequencies at the bottom
                rgb[o] = red; rgb[o + 1] = green; rgb[o + 2] = blue;
            }
        return PngWriter.Rgb(columns, rows, rgb);
    }

    private static readonly float[] Stops = [68, 1, 84, 59, 82, 139, 33, 145, 140, 94, 201, 98, 253, 231, 37];

    /// <summary>A viridis-like map: dark blue → teal → green → yellow.</summary>
    private static (byte, byte, byte) Colour(float v)
    {
        float x = v * 4;
        int i = Math.Min((int)x, 3);
        float f = x - i;
        byte Mix(int k) => (byte)Math.Round(Stops[i * 3 + k] + (Stops[(i + 1) * 3 + k] - Stops[i * 3 + k]) * f);
        return (Mix(0), Mix(1), Mix(2));
    }
}

/// <summary>The smallest PNG encoder that will do: 8-bit RGB, no filtering, zlib-deflated.</summary>
public static class PngWriter
{
    private static readonly uint[] CrcTable = BuildCrcTable();

    public static byte[] Rgb(int width, int height, byte[] rgb)
    {
        if (rgb.Length != width * height * 3) throw new ArgumentException("rgb must hold width × height × 3 bytes");
        using var output = new MemoryStream();
        output.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header, width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; // bit depth
        header[9] = 2; // colour type: RGB
        Chunk(output, "IHDR", header);
        using var compressed = new MemoryStream();
        using (var zlib = new System.IO.Compression.ZLibStream(compressed, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
        {
            for (int y = 0; y < height; y++)
            {
                zlib.WriteByte(0); // filter: none
                zlib.Write(rgb, y * width * 3, width * 3);
            }
        }
        Chunk(output, "IDAT", compressed.ToArray());
        Chunk(output, "IEND", []);
        return output.ToArray();
    }

    private static void Chunk(Stream output, string type, byte[] data)
    {
        Span<byte> four = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(four, data.Length);
        output.Write(four);
        byte[] typeBytes = System.Text.Encoding.ASCII.GetBytes(type);
        output.Write(typeBytes);
        output.Write(data);
        uint crc = 0xFFFFFFFF;
        foreach (byte b in typeBytes) crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        foreach (byte b in data) crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(four, crc ^ 0xFFFFFFFF);
        output.Write(four);
    }

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }
}
