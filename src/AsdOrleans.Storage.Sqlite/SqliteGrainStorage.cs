using System.Globalization;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization.Serializers;
using Orleans.Storage;

namespace AsdOrleans.Storage.Sqlite;

/// <summary>
/// Orleans grain storage in one local SQLite file: one row per (state name, grain id) holding the serialized state
/// and a version number that serves as the ETag.
/// </summary>
/// <remarks>
/// <para><b>Schema</b> (<c>PRAGMA user_version</c> = 1):
/// <c>grain_state(state_name TEXT, grain_id TEXT, version INTEGER, payload BLOB NULL, updated_ms INTEGER,
/// PRIMARY KEY(state_name, grain_id)) WITHOUT ROWID</c>. The ETag is <c>version</c> in decimal; every write and every
/// clear increments it. <c>grain_id</c> is <see cref="GrainId.ToString"/> (grain type and key).</para>
/// <para><b>Clear</b> keeps the row as a tombstone (payload NULL, version incremented) rather than deleting it, so a
/// version number is never reused: an activation still holding an ETag from before the clear cannot mistake a later
/// write for the one it read. After a clear the grain's ETag is the tombstone's version and RecordExists is false; a
/// read of a tombstone gives the default state, that ETag and RecordExists false. Clearing a state that was never
/// written (no row, null ETag) writes nothing.</para>
/// <para><b>Concurrency.</b> SQLite admits one writer at a time. All writes and clears of this provider go through one
/// queue drained by a single writer connection; each drain applies everything queued in one transaction (one fsync
/// for the whole group) and only then completes the callers' tasks, so grains writing concurrently share fsyncs
/// instead of queueing for the write lock one by one. Every operation in a group is ETag-checked on its own; a
/// conflict fails that operation only. Reads use pooled connections and, thanks to WAL, never wait for the writer;
/// they run on the calling thread (one indexed lookup; Microsoft.Data.Sqlite has no truly asynchronous I/O anyway).
/// Another process or provider instance on the same file takes turns through SQLite's lock
/// (<see cref="SqliteGrainStorageOptions.BusyTimeout"/>).</para>
/// <para><b>Cancellation.</b> A cancelled token is honoured before an operation is queued; once queued, a write runs
/// to the end (abandoning it could leave the grain holding an ETag that no longer matches a committed write).</para>
/// </remarks>
public sealed partial class SqliteGrainStorage : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>, IAsyncDisposable, IDisposable
{
    /// <summary>Schema version kept in <c>PRAGMA user_version</c>; a file with a higher one is refused.</summary>
    public const int SchemaVersion = 1;

    private const int MaxGroupSize = 512;

    private readonly string _name;
    private readonly SqliteGrainStorageOptions _options;
    private readonly IGrainStorageSerializer _serializer;
    private readonly IActivatorProvider _activators;
    private readonly ILogger _logger;
    private readonly string _readConnectionString;
    private readonly string _writeConnectionString;
    private readonly Channel<PendingWrite> _queue =
        Channel.CreateUnbounded<PendingWrite>(new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = false });
    private readonly Lazy<Writer> _writer;
    private int _disposed;

    /// <summary>Creates the provider; the file is opened on the silo's <see cref="SqliteGrainStorageOptions.InitStage"/>
    /// or, outside a silo, on the first operation.</summary>
    public SqliteGrainStorage(string name, SqliteGrainStorageOptions options, IActivatorProvider activatorProvider, ILogger<SqliteGrainStorage> logger)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(activatorProvider);
        ArgumentNullException.ThrowIfNull(logger);
        options.Validate(name);

        _name = name;
        _options = options;
        _serializer = options.GrainStorageSerializer;
        _activators = activatorProvider;
        _logger = logger;
        DatabasePath = Path.GetFullPath(options.DatabasePath);

        var timeoutSeconds = (int)Math.Ceiling(options.BusyTimeout.TotalSeconds);
        _readConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = true,
            DefaultTimeout = timeoutSeconds,
        }.ToString();
        _writeConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = timeoutSeconds,
        }.ToString();
        _writer = new Lazy<Writer>(OpenWriter, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>Full path of the database file.</summary>
    public string DatabasePath { get; }

    /// <summary>What SQLite said of the file when it found it damaged (the check after opening, or a read or write that met
    /// SQLITE_CORRUPT/NOTADB); null while it has not. The damage is permanent until an operator restores the file.</summary>
    public string? Damage => Volatile.Read(ref _damage);
    private string? _damage;
    /// <summary>States whose damage was logged: once each, not on every read a listing makes.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _damageLogged = new();

    /// <summary>Creates the provider named <paramref name="name"/> from its named options (used by the registration).</summary>
    public static SqliteGrainStorage Create(IServiceProvider services, string name)
    {
        var options = services.GetRequiredService<IOptionsMonitor<SqliteGrainStorageOptions>>().Get(name);
        return ActivatorUtilities.CreateInstance<SqliteGrainStorage>(services, name, options);
    }

    /// <inheritdoc />
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(OptionFormattingUtilities.Name<SqliteGrainStorage>(_name), _options.InitStage, _ =>
        {
            Open();
            return Task.CompletedTask;
        });

    /// <summary>Opens the file now (creating it, its folder and its table when missing) instead of on first use;
    /// throws <see cref="SqliteGrainStorageException"/> naming the path when it is not a usable database.</summary>
    public void Open() => _ = EnsureOpen();

    /// <inheritdoc />
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        ReadStateAsync(stateName, grainId, grainState, CancellationToken.None);

    /// <inheritdoc />
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stateName);
        ArgumentNullException.ThrowIfNull(grainState);
        if (cancellationToken.IsCancellationRequested)
            return Task.FromCanceled(cancellationToken);
        try
        {
            EnsureOpen();
            var id = grainId.ToString();
            long? version;
            byte[]? payload = null;
            using (var connection = new SqliteConnection(_readConnectionString))
            {
                connection.Open();
                using var command = connection.CreateCommand();
                command.CommandText = "SELECT version, payload FROM grain_state WHERE state_name = $state AND grain_id = $grain";
                command.Parameters.AddWithValue("$state", stateName);
                command.Parameters.AddWithValue("$grain", id);
                using var reader = command.ExecuteReader();
                if (reader.Read())
                {
                    version = reader.GetInt64(0);
                    if (!reader.IsDBNull(1))
                        payload = reader.GetFieldValue<byte[]>(1);
                }
                else
                {
                    version = null;
                }
            }

            if (payload is null)
            {
                grainState.State = CreateDefault<T>();
                grainState.RecordExists = false;
            }
            else
            {
                grainState.State = Deserialize<T>(payload, stateName, id);
                grainState.RecordExists = true;
            }
            grainState.ETag = version is { } v ? FormatETag(v) : null;
            return Task.CompletedTask;
        }
        catch (Exception ex) when (ex is not SqliteGrainStorageException and not ObjectDisposedException && SqliteGrainStorageCorruptException.IsCorruption(ex))
        {
            NoteDamage(ex.Message);
            if (_damageLogged.TryAdd(stateName + "\n" + grainId, 0))
                LogReadDamaged(ex, _name, stateName, grainId, DatabasePath);
            return Task.FromException(new SqliteGrainStorageCorruptException(
                $"SQLite grain storage '{_name}' could not read state '{stateName}' of {grainId}: the database file '{DatabasePath}' is damaged ({ex.Message}); {SqliteGrainStorageCorruptException.Remedy}", ex));
        }
        catch (Exception ex) when (ex is not SqliteGrainStorageException and not ObjectDisposedException)
        {
            LogReadFailed(ex, _name, stateName, grainId, DatabasePath);
            return Task.FromException(new SqliteGrainStorageException(
                $"SQLite grain storage '{_name}' could not read state '{stateName}' of {grainId} from '{DatabasePath}': {ex.Message}", ex));
        }
        catch (Exception ex)
        {
            return Task.FromException(ex);
        }
    }

    /// <inheritdoc />
    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        WriteStateAsync(stateName, grainId, grainState, CancellationToken.None);

    /// <inheritdoc />
    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stateName);
        ArgumentNullException.ThrowIfNull(grainState);
        cancellationToken.ThrowIfCancellationRequested();

        // Serialize on the caller's thread: the blob is a snapshot of the state as it was when the write was asked for.
        byte[] payload;
        try
        {
            payload = ToArray(_serializer.Serialize(grainState.State));
        }
        catch (Exception ex)
        {
            throw new SqliteGrainStorageException(
                $"SQLite grain storage '{_name}' could not serialize state '{stateName}' of {grainId} ({typeof(T)}): {ex.Message}", ex);
        }

        var version = await Enqueue(new PendingWrite(stateName, grainId.ToString(), grainState.ETag, payload)).ConfigureAwait(false);
        grainState.ETag = FormatETag(version!.Value);
        grainState.RecordExists = true;
    }

    /// <inheritdoc />
    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        ClearStateAsync(stateName, grainId, grainState, CancellationToken.None);

    /// <inheritdoc />
    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stateName);
        ArgumentNullException.ThrowIfNull(grainState);
        cancellationToken.ThrowIfCancellationRequested();

        var version = await Enqueue(new PendingWrite(stateName, grainId.ToString(), grainState.ETag, payload: null)).ConfigureAwait(false);
        grainState.ETag = version is { } v ? FormatETag(v) : null;
        grainState.RecordExists = false;
        grainState.State = CreateDefault<T>();
    }

    /// <summary>Finishes the queued writes, then closes the file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _queue.Writer.TryComplete();
        if (_writer.IsValueCreated)
        {
            Writer writer;
            try
            {
                writer = _writer.Value;
            }
            catch (SqliteGrainStorageException)
            {
                return; // never opened: nothing to close
            }
            await writer.Loop.ConfigureAwait(false);
            writer.Dispose();
        }
        using var pooled = new SqliteConnection(_readConnectionString);
        SqliteConnection.ClearPool(pooled);
    }

    /// <inheritdoc />
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private Writer EnsureOpen()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _writer.Value; // a failure to open is cached: every later call reports the same error
    }

    private Task<long?> Enqueue(PendingWrite write)
    {
        EnsureOpen();
        return _queue.Writer.TryWrite(write)
            ? write.Completion.Task
            : Task.FromException<long?>(new ObjectDisposedException(nameof(SqliteGrainStorage), $"SQLite grain storage '{_name}' is closed."));
    }

    private Writer OpenWriter()
    {
        SqliteConnection? connection = null;
        try
        {
            var folder = Path.GetDirectoryName(DatabasePath);
            if (!string.IsNullOrEmpty(folder))
                Directory.CreateDirectory(folder);

            connection = new SqliteConnection(_writeConnectionString);
            connection.Open();
            connection.Execute($"PRAGMA busy_timeout = {(long)_options.BusyTimeout.TotalMilliseconds};");

            // Durability. In WAL mode a commit appends to the -wal file; with synchronous=FULL SQLite fsyncs that file
            // before COMMIT returns, and this provider completes a write's task only after COMMIT. So an acknowledged
            // write is on stable storage: it survives the process being killed (kill -9, which even synchronous=NORMAL
            // would survive, since the data is already in the OS's page cache) and also an OS crash or power loss
            // (which synchronous=NORMAL would not: in WAL mode NORMAL fsyncs only at checkpoints, so the last commits
            // could roll back). WAL also lets reads proceed while a write commits. journal_mode is stored in the file;
            // synchronous is per connection, and this is the only connection that writes.
            var journalMode = Convert.ToString(connection.Scalar("PRAGMA journal_mode = WAL;"), CultureInfo.InvariantCulture);
            if (!string.Equals(journalMode, "wal", StringComparison.OrdinalIgnoreCase))
                throw new SqliteGrainStorageException(
                    $"SQLite grain storage '{_name}': '{DatabasePath}' could not be switched to WAL journal mode (it reports '{journalMode}').");
            connection.Execute("PRAGMA synchronous = FULL;");

            var schema = Convert.ToInt64(connection.Scalar("PRAGMA user_version;"), CultureInfo.InvariantCulture);
            if (schema > SchemaVersion)
                throw new SqliteGrainStorageException(
                    $"SQLite grain storage '{_name}': '{DatabasePath}' has schema version {schema}, newer than this build's {SchemaVersion}.");
            connection.Execute("""
                CREATE TABLE IF NOT EXISTS grain_state (
                    state_name TEXT    NOT NULL,
                    grain_id   TEXT    NOT NULL,
                    version    INTEGER NOT NULL,
                    payload    BLOB    NULL,
                    updated_ms INTEGER NOT NULL,
                    PRIMARY KEY (state_name, grain_id)
                ) WITHOUT ROWID;
                """);
            if (schema < SchemaVersion)
                connection.Execute($"PRAGMA user_version = {SchemaVersion};");

            var rows = Convert.ToInt64(connection.Scalar("SELECT count(*) FROM grain_state;"), CultureInfo.InvariantCulture);
            LogOpened(_name, DatabasePath, rows);
            var writer = new Writer(connection);
            connection = null;
            writer.Loop = Task.Run(() => WriteLoopAsync(writer));
            _ = Task.Run(CheckForDamage); // ≈ 1 s per 200 MB (docs/decisions.md, stop 53): in the background, not delaying the start
            return writer;
        }
        catch (Exception ex) when (ex is not SqliteGrainStorageException)
        {
            LogOpenFailed(ex, _name, DatabasePath);
            throw new SqliteGrainStorageException(
                $"SQLite grain storage '{_name}' could not open database file '{DatabasePath}': {ex.Message}", ex);
        }
        finally
        {
            connection?.Dispose();
        }
    }

    /// <summary>SQLite's <c>PRAGMA quick_check</c> over the whole file, once after opening, on a connection of its own: a
    /// damaged page is found before a grain on it is read, and <see cref="Damage"/> tells the readiness check.</summary>
    private void CheckForDamage()
    {
        try
        {
            using var connection = new SqliteConnection(_readConnectionString);
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA quick_check(5);";
            using var reader = command.ExecuteReader();
            var problems = new List<string>();
            while (reader.Read())
                problems.Add(reader.GetString(0));
            if (problems is ["ok"])
                return;
            NoteDamage(string.Join("; ", problems));
        }
        catch (Exception ex) when (SqliteGrainStorageCorruptException.IsCorruption(ex))
        {
            NoteDamage(ex.Message);
        }
        catch (Exception ex)
        {
            LogDamageCheckFailed(ex, _name, DatabasePath); // not a verdict on the file (locked, closed meanwhile)
        }
    }

    /// <summary>Keeps the first damage found, and logs it once with what to do.</summary>
    private void NoteDamage(string what)
    {
        if (Interlocked.CompareExchange(ref _damage, what, null) is null)
            LogDamaged(_name, DatabasePath, what, SqliteGrainStorageCorruptException.Remedy);
    }

    private async Task WriteLoopAsync(Writer writer)
    {
        var group = new List<PendingWrite>(MaxGroupSize);
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (group.Count < MaxGroupSize && reader.TryRead(out var write))
                group.Add(write);
            CommitGroup(writer, group);
            group.Clear();
        }
    }

    /// <summary>Applies a group of writes in one transaction, then completes each caller's task with its new version
    /// (or its conflict). A failure of the transaction itself fails every write of the group; none of them is kept. After
    /// damage (SQLITE_CORRUPT/NOTADB) the group's writes are committed one by one instead, so only those that meet it fail.</summary>
    private void CommitGroup(Writer writer, List<PendingWrite> group)
    {
        var outcomes = new (long? Version, Exception? Error)[group.Count];
        try
        {
            using (var transaction = writer.Connection.BeginTransaction(deferred: false)) // BEGIN IMMEDIATE
            {
                writer.Enlist(transaction);
                var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                for (var i = 0; i < group.Count; i++)
                    outcomes[i] = Apply(writer, group[i], now);
                transaction.Commit();
            }
        }
        catch (Exception ex)
        {
            LogWriteFailed(ex, _name, group.Count, DatabasePath);
            var corrupt = SqliteGrainStorageCorruptException.IsCorruption(ex);
            if (corrupt) NoteDamage(ex.Message);
            if (corrupt && group.Count > 1)
            {
                // One write met a damaged page: the others, on sound pages, would commit alone; damage is no reason to
                // fail them (their callers would be told the file is damaged where their state is not).
                foreach (var write in group)
                    CommitGroup(writer, [write]);
                return;
            }
            var error = corrupt
                ? new SqliteGrainStorageCorruptException(
                    $"SQLite grain storage '{_name}' could not commit to '{DatabasePath}': the file is damaged ({ex.Message}); {SqliteGrainStorageCorruptException.Remedy}", ex)
                : new SqliteGrainStorageException(
                    $"SQLite grain storage '{_name}' could not commit to '{DatabasePath}': {ex.Message}", ex);
            foreach (var write in group)
                write.Completion.TrySetException(error);
            return;
        }

        for (var i = 0; i < group.Count; i++)
        {
            if (outcomes[i].Error is { } conflict)
                group[i].Completion.TrySetException(conflict);
            else
                group[i].Completion.TrySetResult(outcomes[i].Version);
        }
    }

    private (long? Version, Exception? Error) Apply(Writer writer, PendingWrite write, long now)
    {
        writer.Select.Parameters["$state"].Value = write.StateName;
        writer.Select.Parameters["$grain"].Value = write.GrainId;
        var stored = writer.Select.ExecuteScalar() is { } value and not DBNull ? Convert.ToInt64(value, CultureInfo.InvariantCulture) : (long?)null;
        var storedETag = stored is { } s ? FormatETag(s) : null;

        if (!string.Equals(storedETag, write.ETag, StringComparison.Ordinal))
        {
            var operation = write.Payload is null ? "clear" : "write";
            return (null, new InconsistentStateException(
                $"SQLite grain storage '{_name}': ETag conflict on {operation} of state '{write.StateName}' of {write.GrainId}: " +
                $"stored ETag '{storedETag ?? "(none)"}', grain's ETag '{write.ETag ?? "(none)"}'. Nothing was changed.",
                storedETag, write.ETag));
        }

        if (stored is null)
        {
            if (write.Payload is null)
                return (null, null); // clearing a state that was never written: nothing to do
            var insert = writer.Insert;
            insert.Parameters["$state"].Value = write.StateName;
            insert.Parameters["$grain"].Value = write.GrainId;
            insert.Parameters["$payload"].Value = write.Payload;
            insert.Parameters["$now"].Value = now;
            insert.ExecuteNonQuery();
            return (1, null);
        }

        var next = stored.Value + 1;
        var update = writer.Update;
        update.Parameters["$state"].Value = write.StateName;
        update.Parameters["$grain"].Value = write.GrainId;
        update.Parameters["$version"].Value = next;
        update.Parameters["$payload"].Value = (object?)write.Payload ?? DBNull.Value;
        update.Parameters["$now"].Value = now;
        update.ExecuteNonQuery();
        return (next, null);
    }

    private T Deserialize<T>(byte[] payload, string stateName, string grainId)
    {
        try
        {
            return _serializer.Deserialize<T>(new BinaryData(payload)) ?? CreateDefault<T>();
        }
        catch (Exception ex)
        {
            throw new SqliteGrainStateUndecodableException(
                $"SQLite grain storage '{_name}': state '{stateName}' of {grainId} in '{DatabasePath}' could not be decoded as {typeof(T)}: {ex.Message}", ex);
        }
    }

    private T CreateDefault<T>() => _activators.GetActivator<T>().Create();

    private static string FormatETag(long version) => version.ToString(CultureInfo.InvariantCulture);

    private static byte[] ToArray(BinaryData data)
    {
        var memory = data.ToMemory();
        return MemoryMarshal.TryGetArray(memory, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : memory.ToArray();
    }

    /// <summary>A write (Payload set) or a clear (Payload null) waiting for the writer.</summary>
    private sealed class PendingWrite(string stateName, string grainId, string? eTag, byte[]? payload)
    {
        public string StateName { get; } = stateName;
        public string GrainId { get; } = grainId;
        public string? ETag { get; } = eTag;
        public byte[]? Payload { get; } = payload;
        public TaskCompletionSource<long?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>The single writing connection and its prepared statements; used only by the write loop.</summary>
    private sealed class Writer : IDisposable
    {
        public Writer(SqliteConnection connection)
        {
            Connection = connection;
            Select = Command("SELECT version FROM grain_state WHERE state_name = $state AND grain_id = $grain", "$state", "$grain");
            Insert = Command(
                "INSERT INTO grain_state (state_name, grain_id, version, payload, updated_ms) VALUES ($state, $grain, 1, $payload, $now)",
                "$state", "$grain", "$payload", "$now");
            Update = Command(
                "UPDATE grain_state SET version = $version, payload = $payload, updated_ms = $now WHERE state_name = $state AND grain_id = $grain",
                "$state", "$grain", "$version", "$payload", "$now");
        }

        public SqliteConnection Connection { get; }
        public SqliteCommand Select { get; }
        public SqliteCommand Insert { get; }
        public SqliteCommand Update { get; }
        public Task Loop { get; set; } = Task.CompletedTask;

        public void Enlist(SqliteTransaction transaction)
        {
            Select.Transaction = transaction;
            Insert.Transaction = transaction;
            Update.Transaction = transaction;
        }

        public void Dispose()
        {
            Select.Dispose();
            Insert.Dispose();
            Update.Dispose();
            Connection.Dispose();
        }

        private SqliteCommand Command(string sql, params string[] parameters)
        {
            var command = Connection.CreateCommand();
            command.CommandText = sql;
            foreach (var parameter in parameters)
                command.Parameters.Add(new SqliteParameter { ParameterName = parameter });
            return command;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "SQLite grain storage {Name} opened {Path} (WAL, synchronous=FULL, {Rows} rows)")]
    private partial void LogOpened(string name, string path, long rows);

    [LoggerMessage(Level = LogLevel.Error, Message = "SQLite grain storage {Name} could not open {Path}")]
    private partial void LogOpenFailed(Exception exception, string name, string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "SQLite grain storage {Name} could not read state {StateName} of {GrainId} from {Path}")]
    private partial void LogReadFailed(Exception exception, string name, string stateName, GrainId grainId, string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "SQLite grain storage {Name}: the database file {Path} is damaged ({Damage}); {Remedy}")]
    private partial void LogDamaged(string name, string path, string damage, string remedy);

    [LoggerMessage(Level = LogLevel.Error, Message = "SQLite grain storage {Name} could not read state {StateName} of {GrainId}: {Path} is damaged there")]
    private partial void LogReadDamaged(Exception exception, string name, string stateName, GrainId grainId, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SQLite grain storage {Name} could not check {Path} for damage")]
    private partial void LogDamageCheckFailed(Exception exception, string name, string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "SQLite grain storage {Name} could not commit {Count} writes to {Path}")]
    private partial void LogWriteFailed(Exception exception, string name, int count, string path);
}
