using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Hosting;

namespace AsdOrleans.Storage.Sqlite;

/// <summary>
/// Orleans' reminder table in one local SQLite file, so reminders of the embedded silo survive a restart (Orleans
/// ships only an in-memory table besides the server-backed ones).
/// </summary>
/// <remarks>
/// <para><b>Schema</b> (<c>PRAGMA user_version</c> = 1): <c>reminders(grain_id TEXT, reminder_name TEXT,
/// grain_hash INTEGER, start_at_ticks INTEGER, period_ticks INTEGER, etag TEXT, PRIMARY KEY(grain_id, reminder_name))</c>
/// with an index on <c>grain_hash</c> (the reminder service reads its share of the hash ring).</para>
/// <para><b>ETags</b> are fresh GUIDs on every upsert, never reused, so an ETag from before a remove and re-add
/// cannot remove the new row. As Orleans' other tables do, an upsert overwrites unconditionally and a remove
/// deletes only when the ETag matches (false otherwise).</para>
/// <para><b>Durability</b> as the grain storage: WAL, <c>synchronous = FULL</c>; a registration is on disk before
/// the grain's call returns. Writes are rare (a registration or removal per machine that gains or loses pending
/// requests), so one writer connection behind a lock is enough; reads use pooled connections.</para>
/// </remarks>
public sealed partial class SqliteReminderTable : IReminderTable, IDisposable
{
    public const int SchemaVersion = 1;

    private readonly SqliteReminderTableOptions _options;
    private readonly ILogger _logger;
    private readonly string _readConnectionString;
    private readonly string _writeConnectionString;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private SqliteConnection? _writer;
    private bool _disposed;

    public SqliteReminderTable(IOptions<SqliteReminderTableOptions> options, ILogger<SqliteReminderTable> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        _options = options.Value;
        _options.Validate();
        _logger = logger;
        DatabasePath = Path.GetFullPath(_options.DatabasePath);
        int timeoutSeconds = (int)Math.Ceiling(_options.BusyTimeout.TotalSeconds);
        _readConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath, Mode = SqliteOpenMode.ReadWrite, Pooling = true, DefaultTimeout = timeoutSeconds,
        }.ToString();
        _writeConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false, DefaultTimeout = timeoutSeconds,
        }.ToString();
    }

    /// <summary>Full path of the database file.</summary>
    public string DatabasePath { get; }

    public Task StartAsync(CancellationToken cancellationToken = default) => Locked(() => { EnsureOpen(); return true; }, "open");

    public Task Init() => StartAsync();

    public Task StopAsync(CancellationToken cancellationToken = default)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public Task<ReminderTableData> ReadRows(GrainId grainId)
        => Read($"read the reminders of {grainId}", "grain_id = $grain", c => c.Parameters.AddWithValue("$grain", grainId.ToString()));

    /// <summary>Rows whose grain hash is in (begin, end], or, when begin ≥ end, the ring's wrap-around: hash &gt; begin or hash ≤ end.</summary>
    public Task<ReminderTableData> ReadRows(uint begin, uint end)
        => Read($"read the reminders in hash range ({begin}, {end}]",
            begin < end ? "grain_hash > $begin AND grain_hash <= $end" : "grain_hash > $begin OR grain_hash <= $end",
            c => { c.Parameters.AddWithValue("$begin", (long)begin); c.Parameters.AddWithValue("$end", (long)end); });

    public async Task<ReminderEntry?> ReadRow(GrainId grainId, string reminderName)
    {
        var rows = await Read($"read reminder '{reminderName}' of {grainId}", "grain_id = $grain AND reminder_name = $name", c =>
        {
            c.Parameters.AddWithValue("$grain", grainId.ToString());
            c.Parameters.AddWithValue("$name", reminderName);
        });
        return rows.Reminders.FirstOrDefault(); // null when absent, as Orleans' tables answer
    }

    public Task<string?> UpsertRow(ReminderEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentException.ThrowIfNullOrEmpty(entry.ReminderName);
        return Locked(() =>
        {
            string etag = Guid.NewGuid().ToString("N");
            using var command = EnsureOpen().CreateCommand();
            command.CommandText = """
                INSERT INTO reminders (grain_id, reminder_name, grain_hash, start_at_ticks, period_ticks, etag)
                VALUES ($grain, $name, $hash, $start, $period, $etag)
                ON CONFLICT (grain_id, reminder_name) DO UPDATE SET
                    start_at_ticks = excluded.start_at_ticks, period_ticks = excluded.period_ticks, etag = excluded.etag;
                """;
            command.Parameters.AddWithValue("$grain", entry.GrainId.ToString());
            command.Parameters.AddWithValue("$name", entry.ReminderName);
            command.Parameters.AddWithValue("$hash", (long)entry.GrainId.GetUniformHashCode());
            command.Parameters.AddWithValue("$start", ToUtc(entry.StartAt).Ticks);
            command.Parameters.AddWithValue("$period", entry.Period.Ticks);
            command.Parameters.AddWithValue("$etag", etag);
            command.ExecuteNonQuery();
            return (string?)etag;
        }, $"write reminder '{entry.ReminderName}' of {entry.GrainId}");
    }

    public Task<bool> RemoveRow(GrainId grainId, string reminderName, string eTag)
        => Locked(() =>
        {
            using var command = EnsureOpen().CreateCommand();
            command.CommandText = "DELETE FROM reminders WHERE grain_id = $grain AND reminder_name = $name AND etag = $etag;";
            command.Parameters.AddWithValue("$grain", grainId.ToString());
            command.Parameters.AddWithValue("$name", reminderName ?? "");
            command.Parameters.AddWithValue("$etag", eTag ?? "");
            return command.ExecuteNonQuery() == 1;
        }, $"remove reminder '{reminderName}' of {grainId}");

    public Task TestOnlyClearTable() => Locked(() =>
    {
        using var command = EnsureOpen().CreateCommand();
        command.CommandText = "DELETE FROM reminders;";
        return command.ExecuteNonQuery();
    }, "clear the reminders");

    public void Dispose()
    {
        _writeLock.Wait();
        try
        {
            _disposed = true;
            _writer?.Dispose();
            _writer = null;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task<ReminderTableData> Read(string what, string where, Action<SqliteCommand> bind)
    {
        // Make sure the file and table exist (the writer creates them) before a pooled read-only-create connection opens it.
        if (Volatile.Read(ref _writer) is null)
            await StartAsync();
        try
        {
            using var connection = new SqliteConnection(_readConnectionString);
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT grain_id, reminder_name, start_at_ticks, period_ticks, etag FROM reminders WHERE {where};";
            bind(command);
            using var reader = command.ExecuteReader();
            var entries = new List<ReminderEntry>();
            while (reader.Read())
            {
                entries.Add(new ReminderEntry
                {
                    GrainId = GrainId.Parse(reader.GetString(0)),
                    ReminderName = reader.GetString(1),
                    StartAt = new DateTime(reader.GetInt64(2), DateTimeKind.Utc),
                    Period = TimeSpan.FromTicks(reader.GetInt64(3)),
                    ETag = reader.GetString(4),
                });
            }
            return new ReminderTableData(entries);
        }
        catch (Exception ex) when (ex is not SqliteReminderTableException)
        {
            throw Failure(what, ex);
        }
    }

    private async Task<T> Locked<T>(Func<T> action, string what)
    {
        await _writeLock.WaitAsync();
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return action();
        }
        catch (Exception ex) when (ex is not SqliteReminderTableException and not ObjectDisposedException)
        {
            throw Failure(what, ex);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private SqliteReminderTableException Failure(string what, Exception ex)
    {
        LogFailed(ex, what, DatabasePath);
        return new SqliteReminderTableException($"SQLite reminder table could not {what} in '{DatabasePath}': {ex.Message}", ex);
    }

    /// <summary>Opens the writer (creating folder, file and table when missing); called under the write lock.</summary>
    private SqliteConnection EnsureOpen()
    {
        if (_writer is { } open)
            return open;
        var folder = Path.GetDirectoryName(DatabasePath);
        if (!string.IsNullOrEmpty(folder))
            Directory.CreateDirectory(folder);
        var connection = new SqliteConnection(_writeConnectionString);
        try
        {
            connection.Open();
            connection.Execute($"PRAGMA busy_timeout = {(long)_options.BusyTimeout.TotalMilliseconds};");
            // WAL + synchronous=FULL: COMMIT returns after the -wal file is fsynced, so an acknowledged registration
            // survives a process kill and a power loss (see SqliteGrainStorage for the longer argument).
            var journalMode = Convert.ToString(connection.Scalar("PRAGMA journal_mode = WAL;"), CultureInfo.InvariantCulture);
            if (!string.Equals(journalMode, "wal", StringComparison.OrdinalIgnoreCase))
                throw new SqliteReminderTableException($"SQLite reminder table: '{DatabasePath}' could not be switched to WAL journal mode (it reports '{journalMode}').");
            connection.Execute("PRAGMA synchronous = FULL;");
            var schema = Convert.ToInt64(connection.Scalar("PRAGMA user_version;"), CultureInfo.InvariantCulture);
            if (schema > SchemaVersion)
                throw new SqliteReminderTableException($"SQLite reminder table: '{DatabasePath}' has schema version {schema}, newer than this build's {SchemaVersion}.");
            connection.Execute("""
                CREATE TABLE IF NOT EXISTS reminders (
                    grain_id       TEXT    NOT NULL,
                    reminder_name  TEXT    NOT NULL,
                    grain_hash     INTEGER NOT NULL,
                    start_at_ticks INTEGER NOT NULL,
                    period_ticks   INTEGER NOT NULL,
                    etag           TEXT    NOT NULL,
                    PRIMARY KEY (grain_id, reminder_name)
                ) WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS reminders_by_hash ON reminders (grain_hash);
                """);
            if (schema < SchemaVersion)
                connection.Execute($"PRAGMA user_version = {SchemaVersion};");
            var rows = Convert.ToInt64(connection.Scalar("SELECT count(*) FROM reminders;"), CultureInfo.InvariantCulture);
            LogOpened(DatabasePath, rows);
            _writer = connection;
            return connection;
        }
        catch (Exception ex)
        {
            connection.Dispose();
            if (ex is SqliteReminderTableException) throw;
            throw new SqliteReminderTableException($"SQLite reminder table could not open database file '{DatabasePath}': {ex.Message}", ex);
        }
    }

    private static DateTime ToUtc(DateTime time) => time.Kind switch
    {
        DateTimeKind.Utc => time,
        DateTimeKind.Local => time.ToUniversalTime(),
        _ => DateTime.SpecifyKind(time, DateTimeKind.Utc), // Orleans passes UTC times
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "SQLite reminder table opened '{Path}' ({Rows} reminders)")]
    private partial void LogOpened(string path, long rows);

    [LoggerMessage(Level = LogLevel.Error, Message = "SQLite reminder table could not {What} in '{Path}'")]
    private partial void LogFailed(Exception exception, string what, string path);
}

/// <summary>Options of the <see cref="SqliteReminderTable"/>.</summary>
public sealed class SqliteReminderTableOptions
{
    /// <summary>Path of the SQLite file (its folder is created when missing). Required.</summary>
    public string DatabasePath { get; set; } = "";

    /// <summary>How long a write waits for SQLite's write lock held by another connection. Default 30 s.</summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(DatabasePath))
            throw new OrleansConfigurationException($"SQLite reminder table: {nameof(SqliteReminderTableOptions)}.{nameof(DatabasePath)} is required.");
        if (DatabasePath.IndexOfAny(Path.GetInvalidPathChars()) >= 0)
            throw new OrleansConfigurationException($"SQLite reminder table: {nameof(DatabasePath)} '{DatabasePath}' contains invalid characters.");
        if (BusyTimeout <= TimeSpan.Zero)
            throw new OrleansConfigurationException($"SQLite reminder table: {nameof(BusyTimeout)} must be positive (was {BusyTimeout}).");
    }
}

/// <summary>The SQLite reminder table could not open its file or read or write a reminder; the message names the file.</summary>
[GenerateSerializer]
public sealed class SqliteReminderTableException : Exception
{
    public SqliteReminderTableException() { }

    public SqliteReminderTableException(string message) : base(message) { }

    public SqliteReminderTableException(string message, Exception innerException) : base(message, innerException) { }
}

public static class SqliteReminderTableRegistration
{
    /// <summary>Adds Orleans' reminder service with its table in a local SQLite file.</summary>
    public static ISiloBuilder UseSqliteReminderService(this ISiloBuilder builder, Action<SqliteReminderTableOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.AddReminders();
        builder.Services.AddOptions<SqliteReminderTableOptions>().Configure(configure);
        builder.Services.AddSingleton<SqliteReminderTable>();
        builder.Services.AddSingleton<IReminderTable>(sp => sp.GetRequiredService<SqliteReminderTable>());
        return builder;
    }
}
