using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using AsdOrleans.Grains.Telemetry;
using Microsoft.Extensions.Options;

namespace AsdOrleans.Silo;

/// <summary>Endpoint metadata: the endpoint receives devices' clips, and <see cref="GatewayTraffic"/> counts its answers by gateway.</summary>
public sealed record CountedByGateway;

/// <summary>What this silo received from one gateway since it started (<c>GET /api/cluster</c>, the answering silo's row):
/// clips scored (2xx answers), the last one's time, and refusals (every other answer: 403 for a machine outside the
/// gateway's list, 4xx for a bad clip, 503 when the silo sheds work) with the last one's time and status.</summary>
public sealed record GatewayView(string Gateway, long Clips, DateTimeOffset? LastClip, long Refusals, DateTimeOffset? LastRefusal = null, int? LastRefusalStatus = null);

/// <summary>
/// Clips and refusals of <c>POST /api/machines/{id}/clips</c> by gateway, so that an operator sees which gateway sends
/// what and which went silent (its PC crashed: its machines just stop getting clips). The <c>gateway</c> tag is a
/// configured name only, never anything a client sends: the gateway whose own key (<c>Asd:ApiKeys:Gateways:&lt;name&gt;</c>)
/// came with the clip, <see cref="Plant"/> for a plant-wide device key (<c>Asd:ApiKeys:Device</c>), and <see cref="None"/>
/// for a request without a device key (none, an unknown one, another role's: 401/403). Neither can be a gateway's name
/// (names hold no parentheses). Counted in metrics (<c>asd_clips_received_total</c>, <c>asd_clips_refused_total</c>,
/// every configured gateway's series at 0 from the start) and per silo in memory for <c>GET /api/cluster</c>.
/// docs/decisions.md, stop 56.
/// </summary>
public sealed class GatewayTraffic
{
    /// <summary>The <c>gateway</c> of clips sent with a plant-wide device key.</summary>
    public const string Plant = "(plant)";
    /// <summary>The <c>gateway</c> of requests without a device key: refused 401 or 403, never received.</summary>
    public const string None = "(none)";

    private static readonly Counter<long> Received = AsdMetrics.Meter.CreateCounter<long>("asd.clips.received", "{clip}",
        "Clips this silo received over HTTP and scored (2xx), by gateway: the configured name of the gateway key they came with, or (plant) for a plant-wide device key");
    private static readonly Counter<long> Refused = AsdMetrics.Meter.CreateCounter<long>("asd.clips.refused", "{request}",
        "Clips this silo refused over HTTP, by gateway (as asd.clips.received; (none) without a device key) and status (403: a machine outside the gateway's list; 4xx: the clip; 503: the silo busy or its store unwritable)");

    private sealed class Tally
    {
        public long Clips, Refusals, LastClipTicks, LastRefusalTicks;
        public int LastRefusalStatus;
    }

    private readonly ApiKeys _keys;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, Tally> _tallies = new(StringComparer.Ordinal);
    private readonly string[] _configured;

    public GatewayTraffic(ApiKeys keys, IOptions<SiloOptions> options, TimeProvider? time = null)
    {
        _keys = keys;
        _time = time ?? TimeProvider.System;
        var apiKeys = options.Value.ApiKeys;
        // Configured gateways are listed before their first clip: a gateway silent since the silo started shows as such.
        _configured = [.. apiKeys.Gateways.Keys.Order(StringComparer.Ordinal), .. apiKeys.Device.Count > 0 ? new[] { Plant } : []];
        foreach (var name in _configured) _tallies.TryAdd(name, new Tally());
    }

    /// <summary>Every configured gateway's series at 0, so that a rate and a silent-gateway alert work before its first clip
    /// (called once the metrics exporter listens).</summary>
    public void NoneYet()
    {
        foreach (var name in _configured)
            Received.Add(0, new KeyValuePair<string, object?>("gateway", name));
    }

    /// <summary>The <c>gateway</c> tag of a request's <c>X-Api-Key</c>: a configured name, <see cref="Plant"/> or <see cref="None"/>.</summary>
    public string GatewayOf(string? key)
        => _keys.GatewayOf(key) is ({ } name, _) ? name : _keys.Allows(key, ApiRole.Device) ? Plant : None;

    /// <summary>Counts one answer to a clip by its status: 2xx received, anything else refused.</summary>
    public void Count(string gateway, int status)
    {
        var tally = _tallies.GetOrAdd(gateway, _ => new Tally()); // bounded: configured names, Plant and None
        long now = _time.GetUtcNow().UtcTicks;
        if (status is >= 200 and < 300)
        {
            Interlocked.Increment(ref tally.Clips);
            Interlocked.Exchange(ref tally.LastClipTicks, now);
            Received.Add(1, new KeyValuePair<string, object?>("gateway", gateway));
        }
        else
        {
            Interlocked.Increment(ref tally.Refusals);
            Interlocked.Exchange(ref tally.LastRefusalStatus, status);
            Interlocked.Exchange(ref tally.LastRefusalTicks, now);
            Refused.Add(1, new KeyValuePair<string, object?>("gateway", gateway), new KeyValuePair<string, object?>("status", status));
        }
    }

    /// <summary>This silo's counts since it started, configured gateways first (by name), then <see cref="Plant"/> and <see cref="None"/> when seen.</summary>
    public List<GatewayView> View()
    {
        static DateTimeOffset? At(long ticks) => ticks == 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero);
        int Rank(string name) => name == None ? 2 : name == Plant ? 1 : 0;
        return _tallies.OrderBy(t => Rank(t.Key)).ThenBy(t => t.Key, StringComparer.Ordinal)
            .Select(t =>
            {
                var s = t.Value;
                long lastRefusal = Interlocked.Read(ref s.LastRefusalTicks);
                return new GatewayView(t.Key, Interlocked.Read(ref s.Clips), At(Interlocked.Read(ref s.LastClipTicks)),
                    Interlocked.Read(ref s.Refusals), At(lastRefusal), lastRefusal == 0 ? null : Volatile.Read(ref s.LastRefusalStatus));
            })
            .ToList();
    }
}

public static class GatewayTrafficExtensions
{
    public static TBuilder CountByGateway<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder
        => builder.WithMetadata(new CountedByGateway());

    /// <summary>Counts the answers of endpoints marked <see cref="CountedByGateway"/>; before <see cref="RequestGate"/>, so
    /// that its refusals (401, 403 out of the gateway's list, 413) count as well as the rate limiter's and the endpoint's.</summary>
    public static IApplicationBuilder UseGatewayTraffic(this WebApplication app)
    {
        var traffic = app.Services.GetRequiredService<GatewayTraffic>();
        app.Lifetime.ApplicationStarted.Register(traffic.NoneYet);
        return app.Use(async (http, next) =>
        {
            if (http.GetEndpoint()?.Metadata.GetMetadata<CountedByGateway>() is null)
            {
                await next(http);
                return;
            }
            string gateway = traffic.GatewayOf(http.Request.Headers[ApiKeys.Header]);
            // Counted as the answer starts, with the status it goes out with: whatever set it (the endpoint, the gate, the
            // rate limiter, or the exception handler further out for a fault), and before the gateway can read it, so a
            // count is never behind an answer already received. A gateway that hung up gets no answer to count.
            http.Response.OnStarting(() =>
            {
                if (!http.RequestAborted.IsCancellationRequested)
                    traffic.Count(gateway, http.Response.StatusCode);
                return Task.CompletedTask;
            });
            await next(http);
        });
    }
}
