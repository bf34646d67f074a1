using AsdOrleans.Grains.Telemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace AsdOrleans.Silo.Telemetry;

/// <summary>
/// OpenTelemetry metrics of the silo, exported at <see cref="MetricsPath"/> in Prometheus' text format: the project's
/// meter "AsdOrleans" (<see cref="AsdMetrics"/>, the encoder's histograms), Orleans' meter and ASP.NET Core's.
/// /metrics needs no key, like /healthz: it carries counts per machine type, never machine ids, clips or keys; the only
/// names in it are those the operator gave named labeller keys (asd_answers_total's labeller tag).
/// </summary>
public static class AsdTelemetry
{
    public const string MetricsPath = "/metrics";

    /// <summary>Meters exported besides the project's own.</summary>
    public static readonly string[] Meters =
    [
        AsdMetrics.MeterName,
        "Microsoft.Orleans",
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "Microsoft.AspNetCore.Routing",
        "Microsoft.AspNetCore.Diagnostics",
        "Microsoft.AspNetCore.RateLimiting", // leases held and queued under the clip-work limit (ClipWorkLimit)
        "System.Runtime",
    ];

    public static WebApplicationBuilder AddAsdTelemetry(this WebApplicationBuilder builder)
    {
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("asd-orleans"))
            .WithMetrics(m => m.AddMeter(Meters).AddPrometheusExporter());
        return builder;
    }

    public static WebApplication MapAsdTelemetry(this WebApplication app)
    {
        app.MapPrometheusScrapingEndpoint(MetricsPath);
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(AsdTelemetry).FullName!);
        AsdMetrics.TypesOverflowed = type => logger.LogWarning(
            "more than {Max} machine types (the machine id's last '.'-segment without a trailing number, here {Type}): the metrics report " +
            "the machines of further types as machine_type=\"{Other}\"; machine ids that end in a type and a number (line-3.pump-07) keep the series few",
            AsdMetrics.MaxMachineTypes, type, AsdMetrics.OtherTypes);
        return app;
    }
}
