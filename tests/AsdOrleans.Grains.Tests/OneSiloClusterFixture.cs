using Orleans.TestingHost;

namespace AsdOrleans.Grains.Tests;

/// <summary>One in-process Orleans test cluster of one silo, configured by <typeparamref name="TSilo"/>, shared by a
/// test class; <see cref="Configure"/> adds what a fixture needs besides (a client configurator).</summary>
public abstract class OneSiloClusterFixture<TSilo> : IAsyncLifetime where TSilo : ISiloConfigurator, new()
{
    public TestCluster Cluster { get; private set; } = null!;

    protected virtual void Configure(TestClusterBuilder builder) { }

    public virtual async ValueTask InitializeAsync()
    {
        var builder = new TestClusterBuilder(1);
        builder.AddSiloBuilderConfigurator<TSilo>();
        Configure(builder);
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public virtual async ValueTask DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
    }
}
