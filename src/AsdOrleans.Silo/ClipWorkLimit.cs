using System.Diagnostics.Metrics;
using System.Threading.RateLimiting;
using AsdOrleans.Grains.Telemetry;
using Microsoft.AspNetCore.RateLimiting;

namespace AsdOrleans.Silo;

/// <summary>
/// Bounds the clip work a silo takes on at once (decoding and embedding audio: clips and audio enrollments) with
/// ASP.NET Core's concurrency limiter: <see cref="SiloOptions.MaxConcurrentClips"/> requests run, up to
/// <see cref="SiloOptions.QueuedClips"/> more wait (oldest first) without their bodies being read, and the rest are
/// refused at once with 503, <c>Retry-After</c> and a problem document, before their body is read. Without it every
/// request of a burst was taken and all slowed together (400 clips of 59 s: all answered after 35 s, RSS 2.9 GB,
/// /healthz 4.7 s): a gateway never saw the silo was busy. docs/decisions.md, stop 52.
/// </summary>
public static class ClipWorkLimit
{
    /// <summary>The rate-limiting policy of the endpoints that decode and embed audio.</summary>
    public const string Policy = "clip-work";
    /// <summary>Seconds a refused client waits before it tries again.</summary>
    public const int RetryAfterSeconds = 5;
    public const string Title = "The silo is busy";
    public const string Detail = "the silo is working on as many clips as it takes at once and its queue is full; retry after Retry-After seconds";
    /// <summary>How often a warning says that requests are being refused (the counter counts each).</summary>
    internal static readonly TimeSpan WarningInterval = TimeSpan.FromMinutes(1);

    private static readonly Counter<long> Refused = AsdMetrics.Meter.CreateCounter<long>("asd.requests.refused_busy", "{request}",
        "Requests refused 503 because the silo had as many clips in progress and queued as it takes (tag endpoint: clip, enrollment_audio, enrollment or spectrogram)");

    /// <summary>Default permits: enough to fill the encoder's batches on small hosts, scaled by the cores on bigger ones.</summary>
    public static int DefaultMaxConcurrent => Math.Max(8, 4 * Environment.ProcessorCount);
    /// <summary>Default queue: as many again as run, twice over; a queued request holds a connection and at most Kestrel's buffer.</summary>
    public static int DefaultQueued => Math.Max(16, 8 * Environment.ProcessorCount);

    public static IServiceCollection AddClipWorkLimit(this IServiceCollection services, SiloOptions options)
    {
        var warnings = new AsdOrleans.Application.LogThrottle(WarningInterval);
        return services.AddRateLimiter(r =>
        {
            r.RejectionStatusCode = StatusCodes.Status503ServiceUnavailable;
            r.AddConcurrencyLimiter(Policy, c =>
            {
                c.PermitLimit = options.MaxConcurrentClips;
                c.QueueLimit = options.QueuedClips;
                c.QueueProcessingOrder = QueueProcessingOrder.OldestFirst;
            });
            r.OnRejected = async (context, cancellation) =>
            {
                var http = context.HttpContext;
                string endpoint = http.GetEndpoint()?.Metadata.GetMetadata<ClipWork>()?.Endpoint ?? "other";
                Refused.Add(1, new KeyValuePair<string, object?>("endpoint", endpoint));
                if (warnings.FirstInAWhile("busy"))
                    http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ClipWorkLimit))
                        .LogWarning("refusing clip work with 503: {Running} requests in progress and {Queued} queued (Asd:MaxConcurrentClips, Asd:QueuedClips); " +
                                    "asd_requests_refused_busy_total counts each refusal, this warning repeats at most once a minute", options.MaxConcurrentClips, options.QueuedClips);
                // The body is not read (that is the point): the connection closes after this answer, as the gate's refusals do.
                await RequestGate.Refuse(http, StatusCodes.Status503ServiceUnavailable, Detail, Title, RetryAfterSeconds);
            };
        });
    }

    /// <summary>Puts an endpoint under the clip-work limit; <paramref name="name"/> tags its refusals in the metrics.</summary>
    public static TBuilder LimitClipWork<TBuilder>(this TBuilder builder, string name) where TBuilder : IEndpointConventionBuilder
        => builder.RequireRateLimiting(Policy).WithMetadata(new ClipWork(name));

    /// <summary>Endpoint metadata: the endpoint decodes and embeds audio under <see cref="Policy"/>.</summary>
    public sealed record ClipWork(string Endpoint);
}
