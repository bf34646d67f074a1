using System.Runtime.CompilerServices;

namespace AsdOrleans.Tests;

/// <summary>
/// Cluster silos that these tests start, in process or as child processes (which inherit the environment), do not spread
/// machines by themselves after a silo joins (the product's default: after 60 quiet seconds), so that where a test's
/// machines live is what the test did. The tests of that spreading set Asd:SpreadOnJoinSeconds for their own silos.
/// </summary>
internal static class ClusterSiloDefaults
{
    [ModuleInitializer]
    internal static void NoSpreadOnJoin()
    {
        if (Environment.GetEnvironmentVariable("Asd__SpreadOnJoinSeconds") is null)
            Environment.SetEnvironmentVariable("Asd__SpreadOnJoinSeconds", "0");
    }
}
