namespace AsdOrleans.Encoder.Inference;

/// <summary>
/// Number format of the convolutional trunk at inference. Pooling and the embedding layer always run in fp32:
/// their sums over a clip's frames need more than bf16's 8 significant bits.
/// </summary>
public enum InferencePrecision
{
    /// <summary>float32 everywhere, batch norms as trained: the reference.</summary>
    Fp32,

    /// <summary>float32 with batch norms folded into the convolutions: one pass less per layer.</summary>
    Fp32Folded,

    /// <summary>bfloat16 trunk with batch norms folded into the convolutions (oneDNN's AVX512_BF16/AMX kernels).</summary>
    Bf16,
}

public static class InferencePrecisions
{
    public static string Name(this InferencePrecision precision) => precision switch
    {
        InferencePrecision.Fp32 => "fp32",
        InferencePrecision.Fp32Folded => "fp32-folded",
        InferencePrecision.Bf16 => "bf16",
        _ => throw new ArgumentOutOfRangeException(nameof(precision)),
    };

    /// <summary>The setting that picks bf16 where the CPU computes it natively, fp32 elsewhere.</summary>
    public const string Auto = "auto";

    /// <summary>A precision setting as CLI options and silo configuration give it: a precision's name or <see cref="Auto"/>.</summary>
    public static InferencePrecision Resolve(string setting, TorchSharp.torch.Device device) =>
        setting == Auto ? CpuVectorFlags.DefaultFor(device) : Parse(setting);

    /// <summary>Throws <see cref="ArgumentException"/> when <paramref name="setting"/> is neither a precision nor <see cref="Auto"/>.</summary>
    public static void CheckSetting(string setting)
    {
        if (setting != Auto)
            Parse(setting);
    }

    public static InferencePrecision Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "fp32" or "float32" => InferencePrecision.Fp32,
        "fp32-folded" => InferencePrecision.Fp32Folded,
        "bf16" or "bfloat16" => InferencePrecision.Bf16,
        _ => throw new ArgumentException($"unknown precision '{text}': use fp32, fp32-folded or bf16"),
    };
}
