using TorchSharp;

namespace AsdOrleans.Encoder;

/// <summary>TorchSharp's native library is missing or cannot load on this host.</summary>
public sealed class TorchUnavailableException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// Loads TorchSharp's native library once, with a clear explanation when it cannot (on Debian 12 the
/// usual cause is libstdc++ without GLIBCXX_3.4.32), and picks the device: CUDA when available, else CPU.
/// </summary>
public static class TorchRuntime
{
    private static readonly Lazy<Exception?> LoadFailure = new(TryLoad);

    public static void EnsureAvailable()
    {
        if (LoadFailure.Value is { } failure)
            throw new TorchUnavailableException(Explain(failure), failure);
        OneDnnSwitch.TurnNnpackOff();
    }

    private static readonly Lock SeedLock = new();

    /// <summary>
    /// Runs <paramref name="create"/> right after seeding Torch's global generator, under a process-wide lock:
    /// module constructors draw their initial weights from that one generator, so two seeded constructions on
    /// different threads would otherwise interleave their draws and neither would be reproducible.
    /// </summary>
    public static T CreateSeeded<T>(ulong seed, Func<T> create)
    {
        EnsureAvailable();
        lock (SeedLock)
        {
            torch.manual_seed((long)(seed & 0x7FFFFFFFFFFFFFFF));
            return create();
        }
    }

    /// <summary>"auto" (CUDA if available, else CPU), "cpu", "cuda" or "cuda:N".</summary>
    public static torch.Device SelectDevice(string? requested = "auto")
    {
        EnsureAvailable();
        string name = string.IsNullOrWhiteSpace(requested) ? "auto" : requested.Trim().ToLowerInvariant();
        if (name == "auto")
            return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
        if (name == "cpu")
            return torch.CPU;
        if (name.StartsWith("cuda", StringComparison.Ordinal))
        {
            if (!torch.cuda.is_available())
                throw new ArgumentException($"device '{requested}' was asked for, but CUDA is not available (this build uses {BuildBackend}; GPU images build with -p:TorchBackend=cuda)");
            return torch.device(name);
        }
        throw new ArgumentException($"unknown device '{requested}': use auto, cpu, cuda or cuda:N");
    }

    /// <summary>Which TorchSharp backend package this build references.</summary>
    public static string BuildBackend =>
        AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name?.Contains("cuda", StringComparison.OrdinalIgnoreCase) == true)
            ? "TorchSharp, libtorch CUDA" : "TorchSharp, libtorch CPU";

    /// <summary>
    /// glibc returns freed heap tops to the kernel and serves big blocks with fresh mmaps, so every activation of a
    /// forward pass (tens of MB each) was page-faulted in anew: measured 0.76 clips/s at the paper's size on this
    /// CPU, 1.75 with the heap kept. Keep up to 2 GiB of freed heap, grow it in 1 GiB steps (address space
    /// only; pages are touched when used) and serve blocks up to 32 MiB from it. Like MALLOC_TRIM_THRESHOLD_ and
    /// MALLOC_TOP_PAD_ in the environment, but set in-process so
    /// every entry point (CLI, silo, tests) gets it.
    /// </summary>
    private static void KeepFreedHeap()
    {
        if (!OperatingSystem.IsLinux())
            return;
        try
        {
            const int TrimThreshold = -1, TopPad = -2, MmapThreshold = -3;
            Glibc.mallopt(TrimThreshold, int.MaxValue);
            Glibc.mallopt(TopPad, 1 << 30);
            Glibc.mallopt(MmapThreshold, 32 << 20); // glibc's ceiling for this setting (half of a 64 MiB heap)
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc (e.g. musl): nothing to tune.
        }
    }

    private static class Glibc
    {
        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mallopt")]
        public static extern int mallopt(int parameter, int value);
    }

    private static Exception? TryLoad()
    {
        KeepFreedHeap();
        try
        {
            torch.InitializeDeviceType(DeviceType.CPU);
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    internal static string Explain(Exception failure)
    {
        var messages = new List<string>();
        for (var e = failure; e is not null; e = e.InnerException)
            messages.Add(e.Message);
        string all = string.Join(" | ", messages);
        string cause = all.Contains("GLIBCXX", StringComparison.Ordinal)
            ? "the C++ runtime (libstdc++) is too old: TorchSharp 0.107 needs GLIBCXX_3.4.32 (GCC 13+), Debian 12 ships GCC 12. Fix: run ./asd setup (it installs libstdc++6 from Debian trixie, pinned at low priority)"
            : "see the loader's message; ./asd doctor checks the known requirements";
        return $"TorchSharp's native library could not be loaded: {cause}. Loader said: {all}";
    }
}
