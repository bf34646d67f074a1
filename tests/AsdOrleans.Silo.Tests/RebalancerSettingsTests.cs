using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace AsdOrleans.Silo.Tests;

/// <summary>With Asd:ActivationRebalancer the silo limits the machines moved per cycle (Orleans' default is no limit,
/// which stalled a 30,000-machine cluster when a silo joined); Asd:Rebalancer settings still override it.</summary>
public sealed class RebalancerSettingsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-rebalancer-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<int> MigrationLimit(string? configured)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Asd:DataDirectory"] = Path.Combine(_dir, Guid.NewGuid().ToString("N")),
            ["Asd:ActivationRebalancer"] = "true",
        };
        if (configured is not null) settings["Asd:Rebalancer:ActivationMigrationCountLimit"] = configured;
        var (app, _) = await SiloApp.StartOnLoopbackAsync(settings);
        try
        {
            return app.Services.GetRequiredService<IOptions<ActivationRebalancerOptions>>().Value.ActivationMigrationCountLimit;
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_silo_limits_migrations_per_cycle_unless_configured()
    {
        Assert.Equal(SiloOptions.DefaultMigrationsPerRebalancerCycle, await MigrationLimit(null));
        Assert.Equal(1_000, await MigrationLimit("1000"));
    }
}
