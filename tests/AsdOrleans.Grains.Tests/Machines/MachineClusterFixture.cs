using AsdOrleans.Grains;
using AsdOrleans.Grains.Placement;
using Orleans.TestingHost;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>One in-process Orleans test cluster with memory storage for the machine grains, shared by a test class.</summary>
public sealed class MachineClusterFixture : IAsyncLifetime
{
    public TestCluster Cluster { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var builder = new TestClusterBuilder(1);
        builder.AddSiloBuilderConfigurator<SiloConfigurator>();
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
    }

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo) => silo.AddMemoryGrainStorage(MachineGrain.StorageName).AddAsdSiloRoles(SiloRoles.All);
    }
}
