using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Providers;
using Orleans.Runtime.Hosting;
using Orleans.Serialization;
using Orleans.Storage;

namespace AsdOrleans.Storage.Sqlite;

/// <summary>Registers <see cref="SqliteGrainStorage"/> as a named grain storage provider (a keyed
/// <see cref="IGrainStorage"/>, as Orleans' own providers are registered).</summary>
public static class SqliteGrainStorageRegistration
{
    /// <summary>Adds a SQLite grain storage provider named <paramref name="name"/>, used by
    /// <c>[PersistentState(stateName, name)]</c>.</summary>
    public static ISiloBuilder AddSqliteGrainStorage(this ISiloBuilder builder, string name, Action<SqliteGrainStorageOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddSqliteGrainStorage(name, configure);
        return builder;
    }

    /// <summary>Adds a SQLite grain storage provider as the silo's default provider (the one grains get when they
    /// name none).</summary>
    public static ISiloBuilder AddSqliteGrainStorageAsDefault(this ISiloBuilder builder, Action<SqliteGrainStorageOptions> configure) =>
        builder.AddSqliteGrainStorage(ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME, configure);

    /// <summary>Adds a SQLite grain storage provider named <paramref name="name"/> to a silo's services.</summary>
    public static IServiceCollection AddSqliteGrainStorage(this IServiceCollection services, string name, Action<SqliteGrainStorageOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configure);

        services.AddOptions<SqliteGrainStorageOptions>(name).Configure(configure);
        services.TryAddEnumerable(ServiceDescriptor.Transient<IPostConfigureOptions<SqliteGrainStorageOptions>, SqliteGrainStorageSerializerDefault>());
        services.AddTransient<IConfigurationValidator>(sp =>
            new SqliteGrainStorageOptionsValidator(sp.GetRequiredService<IOptionsMonitor<SqliteGrainStorageOptions>>().Get(name), name));
        services.ConfigureNamedOptionForLogging<SqliteGrainStorageOptions>(name);
        // Keyed IGrainStorage singleton under the name; also the unkeyed default when the name is "Default"; and,
        // since the provider is an ILifecycleParticipant<ISiloLifecycle>, a lifecycle participant (opens the file).
        return services.AddGrainStorage(name, SqliteGrainStorage.Create);
    }

    /// <summary>Adds a SQLite grain storage provider as the default provider to a silo's services.</summary>
    public static IServiceCollection AddSqliteGrainStorageAsDefault(this IServiceCollection services, Action<SqliteGrainStorageOptions> configure) =>
        services.AddSqliteGrainStorage(ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME, configure);
}

/// <summary>Fills an unset <see cref="SqliteGrainStorageOptions.GrainStorageSerializer"/>: the
/// <see cref="IGrainStorageSerializer"/> registered under the provider's name if any, else Orleans' binary format
/// (<see cref="CompactOrleansStorageSerializer"/>).</summary>
internal sealed class SqliteGrainStorageSerializerDefault(IServiceProvider services) : IPostConfigureOptions<SqliteGrainStorageOptions>
{
    public void PostConfigure(string? name, SqliteGrainStorageOptions options)
    {
        if (options.GrainStorageSerializer is not null)
            return;
        options.GrainStorageSerializer =
            (name is null ? null : services.GetKeyedService<IGrainStorageSerializer>(name))
            ?? new CompactOrleansStorageSerializer(services.GetRequiredService<Serializer>());
    }
}
