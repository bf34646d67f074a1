namespace AsdOrleans.Grains.Tests.Storage;

/// <summary>State of the storage test grains: small, with a list so that a write is more than one scalar.</summary>
[GenerateSerializer]
public sealed class StorageTestState
{
    [Id(0)] public int Value { get; set; }
    [Id(1)] public string Text { get; set; } = "";
    [Id(2)] public List<int> History { get; set; } = [];
}

/// <summary>What a storage test grain holds, as seen from outside.</summary>
[GenerateSerializer]
public sealed record StorageTestSnapshot(
    [property: Id(0)] int Value,
    [property: Id(1)] string Text,
    [property: Id(2)] IReadOnlyList<int> History,
    [property: Id(3)] bool RecordExists,
    [property: Id(4)] string? ETag);

public interface ISqliteStorageTestGrain : IGrainWithStringKey
{
    Task Set(int value, string text);
    Task<StorageTestSnapshot> Get();
    Task Clear();
}

public interface IDefaultStorageTestGrain : IGrainWithStringKey
{
    Task Set(int value, string text);
    Task<StorageTestSnapshot> Get();
}

/// <summary>Persists through the provider named "sqlite"; every call that changes state writes before it returns.</summary>
public sealed class SqliteStorageTestGrain([PersistentState("state", SqliteStorageTestGrain.ProviderName)] IPersistentState<StorageTestState> state)
    : Grain, ISqliteStorageTestGrain
{
    public const string ProviderName = "sqlite";

    public Task Set(int value, string text)
    {
        state.State.Value = value;
        state.State.Text = text;
        state.State.History.Add(value);
        return state.WriteStateAsync();
    }

    public Task<StorageTestSnapshot> Get() => Task.FromResult(StorageTestSnapshots.Of(state));

    public Task Clear() => state.ClearStateAsync();
}

/// <summary>Persists through the silo's default provider (no provider name).</summary>
public sealed class DefaultStorageTestGrain([PersistentState("state")] IPersistentState<StorageTestState> state) : Grain, IDefaultStorageTestGrain
{
    public Task Set(int value, string text)
    {
        state.State.Value = value;
        state.State.Text = text;
        state.State.History.Add(value);
        return state.WriteStateAsync();
    }

    public Task<StorageTestSnapshot> Get() => Task.FromResult(StorageTestSnapshots.Of(state));
}

internal static class StorageTestSnapshots
{
    public static StorageTestSnapshot Of(IPersistentState<StorageTestState> state) =>
        new(state.State.Value, state.State.Text, [.. state.State.History], state.RecordExists, state.Etag);
}
