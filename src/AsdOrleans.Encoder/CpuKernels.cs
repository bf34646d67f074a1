using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace AsdOrleans.Encoder;

/// <summary>What Torch does in this process.</summary>
public enum TorchWorkload
{
    /// <summary>Embedding clips: every instruction set the CPU has.</summary>
    Inference,
    /// <summary>Training: oneDNN capped below AVX-512 (see <see cref="CpuKernels"/>).</summary>
    Training,
}

/// <summary>
/// The dispatch cap for training. libtorch 2.10's oneDNN AVX-512 kernels gave NaN gradients intermittently when
/// training on AMD Zen 5 (docs/decisions.md, issue 9: from the first step, with finite inputs, losses and weights);
/// the AVX2 kernels never did. oneDNN reads ONEDNN_MAX_CPU_ISA once, at its first dispatch, from the C environment,
/// so the cap is set with libc's setenv before Torch runs anything. Inference keeps AVX-512: its embeddings stayed
/// finite and equal to the AVX2 ones within 1e-7. ASD_TRAINING_CPU_ISA overrides the cap (e.g. ALL to lift it).
/// </summary>
public static class CpuKernels
{
    public const string OneDnnIsaVariable = "ONEDNN_MAX_CPU_ISA";
    public const string OverrideVariable = "ASD_TRAINING_CPU_ISA";
    public const string TrainingCap = "AVX2";

    /// <summary>True when this CPU has the AVX-512 paths the cap keeps training away from.</summary>
    public static bool TrainingNeedsCap => Avx512F.IsSupported && Environment.GetEnvironmentVariable(OneDnnIsaVariable) is null;

    /// <summary>Applies the cap if this CPU needs it; returns the setting applied, or null.</summary>
    internal static string? CapForTraining()
    {
        if (Environment.GetEnvironmentVariable(OneDnnIsaVariable) is { } user)
            return $"oneDNN ISA: {OneDnnIsaVariable}={user}, set by the user";
        if (!Avx512F.IsSupported)
            return null;
        string cap = Environment.GetEnvironmentVariable(OverrideVariable) is { Length: > 0 } requested ? requested : TrainingCap;
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            return null;
        if (Libc.setenv(OneDnnIsaVariable, cap, 1) != 0)
            throw new InvalidOperationException($"could not set {OneDnnIsaVariable} for training (setenv failed)");
        Environment.SetEnvironmentVariable(OneDnnIsaVariable, cap); // keep .NET's view of the environment in step
        return $"oneDNN ISA for training: {OneDnnIsaVariable}={cap} (this CPU has AVX-512; {OverrideVariable} overrides)";
    }

    private static class Libc
    {
        [DllImport("libc", EntryPoint = "setenv", CharSet = CharSet.Ansi)]
        public static extern int setenv(string name, string value, int overwrite);
    }
}
