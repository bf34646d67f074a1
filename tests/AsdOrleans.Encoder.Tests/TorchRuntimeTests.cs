namespace AsdOrleans.Encoder.Tests;

public class TorchRuntimeTests
{
    [Fact]
    public void A_missing_glibcxx_symbol_is_explained_with_the_command_that_fixes_it()
    {
        // What the loader reports on Debian 12 (GCC 12) for TorchSharp 0.107's native library.
        var failure = new TypeInitializationException("TorchSharp.torch",
            new DllNotFoundException("Unable to load shared library 'LibTorchSharp': /lib/x86_64-linux-gnu/libstdc++.so.6: version `GLIBCXX_3.4.32' not found"));
        string message = TorchRuntime.Explain(failure);
        Assert.Contains("GLIBCXX_3.4.32", message);
        Assert.Contains("./asd setup", message);
        Assert.Contains("trixie", message);
    }

    [Fact]
    public void Other_load_failures_point_at_the_doctor()
    {
        string message = TorchRuntime.Explain(new DllNotFoundException("libtorch_cpu.so: cannot open shared object file"));
        Assert.Contains("./asd doctor", message);
        Assert.Contains("libtorch_cpu.so", message);
    }

    [Fact]
    public void This_host_loads_torch_and_picks_a_device()
    {
        TorchRuntime.EnsureAvailable();
        var device = TorchRuntime.SelectDevice("auto");
        Assert.Equal(TorchSharp.torch.cuda.is_available() ? TorchSharp.DeviceType.CUDA : TorchSharp.DeviceType.CPU, device.type);
    }
}
