using Microsoft.Data.Sqlite;

namespace AsdOrleans.Storage.Sqlite;

/// <summary>One-statement helpers shared by the SQLite grain storage and reminder table (schema, pragmas, counts).</summary>
internal static class SqliteCommands
{
    public static void Execute(this SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public static object? Scalar(this SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }
}
