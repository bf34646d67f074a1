using System.Runtime.CompilerServices;
using AsdOrleans.Encoder;

namespace AsdOrleans.Encoder.Tests;

/// <summary>
/// This assembly trains: Torch's CPU kernels are chosen once per process, so training is declared before any test
/// touches Torch (CpuKernels caps oneDNN for training on AVX-512 CPUs).
/// </summary>
internal static class TorchTrainingWorkload
{
#pragma warning disable CA2255 // a test assembly's process-wide setting, made before any test runs
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Declare()
    {
        try
        {
            TorchRuntime.EnsureAvailable(TorchWorkload.Training);
        }
        catch (TorchUnavailableException)
        {
            // The tests that need Torch report it themselves.
        }
    }
}
