using Microsoft.Data.Sqlite;

namespace AsdOrleans.Tests;

/// <summary>What a silo's own SQLite reminder table (<c>reminders.db</c> in its data directory) holds, read directly.</summary>
public static class StoredReminders
{
    /// <summary>Rows of the grain whose id ends with <paramref name="grainKey"/>; only those named
    /// <paramref name="reminderName"/> when given.</summary>
    public static long Count(string dataDirectory, string grainKey, string? reminderName = null)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(dataDirectory, "reminders.db")};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM reminders WHERE grain_id LIKE $m" + (reminderName is null ? "" : " AND reminder_name = $n");
        command.Parameters.AddWithValue("$m", "%" + grainKey);
        if (reminderName is not null) command.Parameters.AddWithValue("$n", reminderName);
        return (long)command.ExecuteScalar()!;
    }
}
