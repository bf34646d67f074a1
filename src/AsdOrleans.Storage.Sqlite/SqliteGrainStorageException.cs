namespace AsdOrleans.Storage.Sqlite;

/// <summary>The SQLite grain storage could not open its file, or could not read, write or decode a state. The message
/// names the database file; ETag conflicts are reported as Orleans' <c>InconsistentStateException</c> instead.</summary>
[GenerateSerializer]
public sealed class SqliteGrainStorageException : Exception
{
    public SqliteGrainStorageException() { }

    public SqliteGrainStorageException(string message) : base(message) { }

    public SqliteGrainStorageException(string message, Exception innerException) : base(message, innerException) { }
}
