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
