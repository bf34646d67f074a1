using AsdOrleans.Silo.Telemetry;

namespace AsdOrleans.Silo;

/// <summary>
/// The people in the loop: the console (/ui/), its endpoints (alerts, score histories, spectrograms, /api/events),
/// metrics (/metrics) and API docs (/docs). SiloApp calls these two methods; everything else lives in these files.
/// </summary>
public static class ConsoleRegistration
{
    public static WebApplicationBuilder AddAsdConsole(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ConsoleEventHub>();
        builder.Services.AddHostedService(s => s.GetRequiredService<ConsoleEventHub>());
        builder.AddAsdTelemetry();
        builder.AddAsdApiDocs();
        return builder;
    }

    public static WebApplication MapAsdConsole(this WebApplication app)
    {
        ConsoleApi.Map(app);
        EventsApi.Map(app);
        ConsoleUi.Map(app);
        app.MapAsdTelemetry();
        app.MapAsdApiDocs();
        return app;
    }
}
