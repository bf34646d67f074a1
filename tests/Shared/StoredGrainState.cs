using Orleans;
using Orleans.Runtime;
using Microsoft.Data.Sqlite;

namespace AsdOrleans.Tests;

/// <summary>
/// Damage done to a silo's own SQLite grain storage (<c>grains.db</c> in its data directory), as a damaged disk or a fault
/// between two writes would leave it. Deactivate the grains first (their state is written on the way out).
/// </summary>
public static class StoredGrainState
{
    /// <summary>Overwrites the stored state <paramref name="stateName"/> of the grain whose id ends with
    /// <paramref name="grainKey"/> with bytes no serializer reads; returns the rows changed.</summary>
    public static int MakeUnreadable(string dataDirectory, string stateName, string grainKey)
        => Execute(dataDirectory, "UPDATE grain_state SET payload = $garbage WHERE state_name = $state AND grain_id LIKE $grain",
            ("$garbage", Enumerable.Repeat((byte)0xEE, 64).ToArray()), ("$state", stateName), ("$grain", "%/" + grainKey));

    /// <summary>Overwrites every stored state named <paramref name="stateName"/> (of all grains) with bytes no serializer
    /// reads; returns the rows changed.</summary>
    public static int MakeAllUnreadable(string dataDirectory, string stateName)
        => Execute(dataDirectory, "UPDATE grain_state SET payload = $garbage WHERE state_name = $state",
            ("$garbage", Enumerable.Repeat((byte)0xEE, 64).ToArray()), ("$state", stateName));

    /// <summary>Deactivates every idle grain (each writes its state on the way out) and waits until no machine is active:
    /// Orleans' call answers before the activations have gone, and a machine still going could answer from memory, or
    /// write over the damage done next. Then collects again until no registry shard is active either: a machine going
    /// to sleep hands its shard its status, and a shard busy taking it is not idle, so it could outlive the first
    /// collection and answer a listing with that status instead of letting the machine be read.</summary>
    public static async Task DeactivateMachines(IGrainFactory grains)
    {
        var management = grains.GetGrain<IManagementGrain>(0);
        await management.ForceActivationCollection(TimeSpan.Zero);
        await Waiting.Until(async () => !await AnyActive(management, "MachineGrain"), "every machine deactivated");
        await Waiting.Until(async () =>
        {
            await management.ForceActivationCollection(TimeSpan.Zero);
            return !await AnyActive(management, "MachineRegistryShardGrain");
        }, "every machine registry shard deactivated, with the statuses it kept");
    }

    private static async Task<bool> AnyActive(IManagementGrain management, string grainClass)
        => (await management.GetSimpleGrainStatistics()).Any(s => s.GrainType.Contains(grainClass, StringComparison.Ordinal) && s.ActivationCount > 0);

    /// <summary>The stored payloads of every state named <paramref name="stateName"/>, by grain id, to be put back by
    /// <see cref="RestorePayloads"/>.</summary>
    public static Dictionary<string, byte[]> Payloads(string dataDirectory, string stateName)
    {
        using var connection = Open(dataDirectory);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT grain_id, payload FROM grain_state WHERE state_name = $state";
        command.Parameters.AddWithValue("$state", stateName);
        using var reader = command.ExecuteReader();
        var payloads = new Dictionary<string, byte[]>();
        while (reader.Read()) payloads[reader.GetString(0)] = (byte[])reader.GetValue(1);
        return payloads;
    }

    /// <summary>Puts back payloads <see cref="Payloads"/> read, in place (their versions unchanged, so a grain that
    /// activates meanwhile reads either the damage or the restored record); returns the rows changed.</summary>
    public static int RestorePayloads(string dataDirectory, string stateName, Dictionary<string, byte[]> payloads)
        => payloads.Sum(p => Execute(dataDirectory, "UPDATE grain_state SET payload = $payload WHERE state_name = $state AND grain_id = $grain",
            ("$payload", p.Value), ("$state", stateName), ("$grain", p.Key)));

    /// <summary>Deletes every stored state named <paramref name="stateName"/>; returns the rows deleted.</summary>
    public static int Delete(string dataDirectory, string stateName)
        => Execute(dataDirectory, "DELETE FROM grain_state WHERE state_name = $state", ("$state", stateName));

    private static int Execute(string dataDirectory, string sql, params (string Name, object Value)[] parameters)
    {
        using var connection = Open(dataDirectory);
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        return command.ExecuteNonQuery();
    }

    private static SqliteConnection Open(string dataDirectory)
    {
        var connection = new SqliteConnection($"Data Source={Path.Combine(dataDirectory, "grains.db")};Pooling=False");
        connection.Open();
        return connection;
    }
}
