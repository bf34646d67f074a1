namespace AsdOrleans.Abstractions;

/// <summary>The ids of all configured machines, so operators and labellers can list them (key 0).</summary>
public interface IMachineRegistryGrain : IGrainWithIntegerKey
{
    Task Register(string machineId);
    Task<IReadOnlyList<string>> List();
}
