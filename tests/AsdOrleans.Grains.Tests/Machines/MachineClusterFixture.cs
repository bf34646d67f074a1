using AsdOrleans.Grains;
using AsdOrleans.Grains.Placement;
using Orleans.TestingHost;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>One in-process Orleans test cluster with memory storage for the machine grains, shared by a test class.</summary>
public sealed class MachineClusterFixture : OneSiloClusterFixture<MachineClusterFixture.SiloConfigurator>
{
    public sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo) => silo.AddMemoryGrainStorage(MachineGrain.StorageName).AddAsdSiloRoles(SiloRoles.All);
    }
}
