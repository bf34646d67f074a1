namespace AsdOrleans.Encoder.Inference;

/// <summary>The CPU's vector-instruction flags (Linux /proc/cpuinfo), which decide the kernels oneDNN can use.</summary>
public static class CpuVectorFlags
{
    private static readonly Lazy<IReadOnlySet<string>> Flags = new(Read);

    /// <summary>Native bf16 dot products (AVX512_BF16 or AMX): bf16 inference is faster than fp32, not emulated.</summary>
    public static bool HasBf16 => Flags.Value.Contains("avx512_bf16") || Flags.Value.Contains("amx_bf16");

    /// <summary>The flags that matter for the encoder, for reports.</summary>
    public static string Summary
    {
        get
        {
            var shown = new[] { "avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16" }.Where(Flags.Value.Contains).ToList();
            return Flags.Value.Count == 0 ? "flags unknown" : shown.Count == 0 ? "no AVX2" : string.Join(' ', shown);
        }
    }

    /// <summary>bf16 on a CPU that computes it natively, fp32 elsewhere (GPUs and CPUs without bf16 keep the reference).</summary>
    public static InferencePrecision DefaultFor(TorchSharp.torch.Device device) =>
        device.type == TorchSharp.DeviceType.CPU && HasBf16 ? InferencePrecision.Bf16 : InferencePrecision.Fp32;

    private static IReadOnlySet<string> Read()
    {
        const string cpuInfo = "/proc/cpuinfo";
        if (!File.Exists(cpuInfo))
            return new HashSet<string>();
        var line = File.ReadLines(cpuInfo).FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal));
        return line is null ? new HashSet<string>() : line.Split(':', 2)[1].Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
    }
}
