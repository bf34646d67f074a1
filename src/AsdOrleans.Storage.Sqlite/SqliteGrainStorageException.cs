namespace AsdOrleans.Storage.Sqlite;

/// <summary>The SQLite grain storage could not open its file, or could not read, write or decode a state. The message
/// names the database file; ETag conflicts are reported as Orleans' <c>InconsistentStateException</c> instead.</summary>
[GenerateSerializer]
public class SqliteGrainStorageException : Exception
{
    public SqliteGrainStorageException() { }

    public SqliteGrainStorageException(string message) : base(message) { }

    public SqliteGrainStorageException(string message, Exception innerException) : base(message, innerException) { }
}

/// <summary>A stored state's bytes do not decode as its type (a damaged row, or one written by an incompatible build). Not
/// a fault a retry gets past, unlike its base: the grain cannot be read until the row is repaired or removed.</summary>
[GenerateSerializer]
public sealed class SqliteGrainStateUndecodableException : SqliteGrainStorageException
{
    public SqliteGrainStateUndecodableException() { }

    public SqliteGrainStateUndecodableException(string message) : base(message) { }

    public SqliteGrainStateUndecodableException(string message, Exception innerException) : base(message, innerException) { }
}

/// <summary>SQLite reports the database file damaged (SQLITE_CORRUPT, SQLITE_NOTADB): no retry gets past it; an operator
/// restores the file (with its -wal) from a backup. The message says so and names the file.</summary>
[GenerateSerializer]
public sealed class SqliteGrainStorageCorruptException : SqliteGrainStorageException
{
    public SqliteGrainStorageCorruptException() { }

    public SqliteGrainStorageCorruptException(string message) : base(message) { }

    public SqliteGrainStorageCorruptException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>What an operator does about a damaged file.</summary>
    public const string Remedy = "restore it, with its -wal file, from a backup (PRAGMA integrity_check lists the damage)";

    /// <summary>Whether <paramref name="exception"/> or an inner one is SQLite's report of a damaged file (codes 11 and 26).</summary>
    public static bool IsCorruption(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
            if (e is SqliteGrainStorageCorruptException or Microsoft.Data.Sqlite.SqliteException { SqliteErrorCode: 11 or 26 })
                return true;
        return false;
    }
}
