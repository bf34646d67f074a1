using System.Diagnostics.Metrics;
using AsdOrleans.Grains.Telemetry;

namespace AsdOrleans.Silo;

/// <summary>
/// Bounds the event streams (<c>GET /api/events</c>) a silo holds open: <see cref="SiloOptions.MaxEventStreams"/> in
/// all, refused 503 beyond it, and <see cref="SiloOptions.MaxEventStreamsPerLabeller"/> per person's own key, refused
/// 429 beyond it; each with <c>Retry-After</c> and a problem document naming the limit and the setting that raises it,
/// as the clip-work limit refuses (<see cref="RequestGate.Refuse"/>). Unbounded, every console, tab or script left
/// open held a connection, a request and a channel for as long as it liked. docs/decisions.md, stop 55.
/// </summary>
public static class EventStreamLimit
{
    /// <summary>Tens to hundreds of labellers with a console or two each, on one silo, with room to spare.</summary>
    public const int DefaultMaxEventStreams = 1_000;
    /// <summary>A person's desktop and phone, a few tabs, and <c>asd alerts --follow</c>.</summary>
    public const int DefaultMaxEventStreamsPerLabeller = 10;
    /// <summary>Seconds a refused client waits: places free up as consoles close, not in a moment.</summary>
    public const int RetryAfterSeconds = 15;
    public const string Title = "Too many event streams";

    /// <summary>Which limit refused a stream.</summary>
    public enum Reached { Silo, Labeller }

    private static readonly Counter<long> Refused = AsdMetrics.Meter.CreateCounter<long>("asd.event_streams.refused", "{stream}",
        "Event streams (GET /api/events) refused because this silo held its maximum (tag limit: silo, 503) or the person's own key did (limit: labeller, 429)");
    private static readonly AsdOrleans.Application.LogThrottle Warnings = new(ClipWorkLimit.WarningInterval);

    /// <summary>Both series at 0 from the start, so that a dashboard's rate and an alert on them work before the first refusal.</summary>
    internal static void NoneRefusedYet()
    {
        Refused.Add(0, new KeyValuePair<string, object?>("limit", "silo"));
        Refused.Add(0, new KeyValuePair<string, object?>("limit", "labeller"));
    }

    public static string SiloDetail(int max)
        => $"the silo holds its maximum of {max} event streams (Asd:MaxEventStreams, Asd__MaxEventStreams, raises it); retry after Retry-After seconds, or connect to another silo";

    public static string LabellerDetail(string labeller, int max)
        => $"{labeller}'s key holds its maximum of {max} event streams on this silo (Asd:MaxEventStreamsPerLabeller, Asd__MaxEventStreamsPerLabeller, raises it); close one, or retry after Retry-After seconds";

    /// <summary>Answers a stream refused by <paramref name="reached"/>; counted, and logged at most once a minute per limit.</summary>
    public static Task Refuse(HttpContext http, Reached reached, string? labeller, SiloOptions options)
    {
        bool silo = reached == Reached.Silo;
        Refused.Add(1, new KeyValuePair<string, object?>("limit", silo ? "silo" : "labeller"));
        if (Warnings.FirstInAWhile(silo ? "silo" : "labeller"))
            http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(EventStreamLimit)).LogWarning(
                "refusing event streams: {Detail}; asd_event_streams_refused_total counts each refusal, this warning repeats at most once a minute",
                silo ? SiloDetail(options.MaxEventStreams) : LabellerDetail(labeller!, options.MaxEventStreamsPerLabeller));
        return silo
            ? RequestGate.Refuse(http, StatusCodes.Status503ServiceUnavailable, SiloDetail(options.MaxEventStreams), Title, RetryAfterSeconds)
            : RequestGate.Refuse(http, StatusCodes.Status429TooManyRequests, LabellerDetail(labeller!, options.MaxEventStreamsPerLabeller), Title, RetryAfterSeconds);
    }
}
