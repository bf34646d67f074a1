using AsdOrleans.Grains;
using AsdOrleans.Grains.Encoding;
using AsdOrleans.Grains.Storage;

namespace AsdOrleans.Silo;

/// <summary>One silo host process: the grains, the HTTP API, on the embedded default (localhost clustering).</summary>
public static class SiloApp
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        configure?.Invoke(builder);
        var options = builder.Configuration.GetSection(SiloOptions.Section).Get<SiloOptions>() ?? new SiloOptions();
        builder.Services.Configure<SiloOptions>(builder.Configuration.GetSection(SiloOptions.Section));
        builder.Services.AddSingleton<ApiKeys>();
        builder.Services.AddSingleton<ClipAudioStore>();
        builder.Services.AddProblemDetails();
        builder.Services.AddAsdEncoder(e => { e.ModelPath = options.ModelPath; e.Device = options.Device; });
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort);
            // Embedded default: grain state in one SQLite file under the data directory (WAL, synchronous=FULL).
            silo.AddSqliteGrainStorage(MachineGrain.StorageName,
                o => o.DatabasePath = Path.Combine(Path.GetFullPath(options.DataDirectory), "grains.db"));
        });
        var app = builder.Build();
        app.UseExceptionHandler();
        MachineApi.Map(app);
        return app;
    }
}
