using Orleans.Runtime;
using Orleans.Storage;

namespace AsdOrleans.Storage.Sqlite;

/// <summary>Options of one <see cref="SqliteGrainStorage"/> provider (named options, keyed by the provider's name).</summary>
public sealed class SqliteGrainStorageOptions : IStorageProviderSerializerOptions
{
    /// <summary>Path of the SQLite database file; relative paths resolve against the working directory. The folder is
    /// created when missing. Required.</summary>
    public string DatabasePath { get; set; } = "";

    /// <summary>How long a write waits for another process (or another provider instance on the same file) that holds
    /// SQLite's single write lock before it fails. Default 30 s.</summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Silo lifecycle stage at which the file is opened (and a missing or corrupt file reported). Default
    /// <see cref="ServiceLifecycleStage.ApplicationServices"/>, before any grain activates.</summary>
    public int InitStage { get; set; } = ServiceLifecycleStage.ApplicationServices;

    /// <summary>
    /// Serializer of the state blobs. Left unset, the registration fills it with a serializer registered as a keyed
    /// <see cref="IGrainStorageSerializer"/> under the provider's name, or else with Orleans' binary format
    /// (<see cref="CompactOrleansStorageSerializer"/>: the bytes of <see cref="OrleansGrainStorageSerializer"/>, fewer allocations). Note that this differs from Orleans' own providers, which fall
    /// back to the silo-wide <see cref="IGrainStorageSerializer"/>; in Orleans 10 that default is the Newtonsoft JSON
    /// serializer, and the design asks for the binary one.
    /// </summary>
    public IGrainStorageSerializer GrainStorageSerializer { get; set; } = null!;

    /// <summary>Throws <see cref="OrleansConfigurationException"/> naming the provider when the options are unusable.</summary>
    internal void Validate(string providerName)
    {
        if (string.IsNullOrWhiteSpace(DatabasePath))
            throw new OrleansConfigurationException(
                $"SQLite grain storage '{providerName}': {nameof(SqliteGrainStorageOptions)}.{nameof(DatabasePath)} is required.");
        if (DatabasePath.IndexOfAny(Path.GetInvalidPathChars()) >= 0)
            throw new OrleansConfigurationException(
                $"SQLite grain storage '{providerName}': {nameof(DatabasePath)} '{DatabasePath}' contains invalid characters.");
        if (BusyTimeout <= TimeSpan.Zero)
            throw new OrleansConfigurationException(
                $"SQLite grain storage '{providerName}': {nameof(BusyTimeout)} must be positive (was {BusyTimeout}).");
        if (GrainStorageSerializer is null)
            throw new OrleansConfigurationException(
                $"SQLite grain storage '{providerName}': {nameof(GrainStorageSerializer)} is not set.");
    }
}

/// <summary>Checks a named <see cref="SqliteGrainStorageOptions"/> when the silo starts.</summary>
internal sealed class SqliteGrainStorageOptionsValidator(SqliteGrainStorageOptions options, string name) : IConfigurationValidator
{
    public void ValidateConfiguration() => options.Validate(name);
}
