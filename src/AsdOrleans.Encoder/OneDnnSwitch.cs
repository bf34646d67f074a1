using System.Runtime.InteropServices;

namespace AsdOrleans.Encoder;

/// <summary>
/// Training runs without oneDNN. libtorch 2.10's oneDNN backward kernels gave NaN gradients intermittently on AMD Zen 5
/// whenever a layer had fewer channels than the kernels' vector blocking (16 on AVX-512, 8 on AVX2): capping the
/// instruction set only moved the fault to narrower models (docs/decisions.md, issue 9). ATen's native kernels were
/// finite and bit-reproducible in every run. Inference keeps oneDNN: its embeddings stayed finite and equal to the
/// capped ones within 1e-7. The switch is ATen's own (at::globalContext().setUserEnabledMkldnn), which TorchSharp does
/// not expose; it is process-wide, so overlapping training scopes are counted and the last one out turns oneDNN back on.
/// <c>ASD_TRAINING_ONEDNN=1</c> keeps oneDNN in training (to reproduce the fault).
/// </summary>
public static class OneDnnSwitch
{
    public const string KeepVariable = "ASD_TRAINING_ONEDNN";

    private delegate IntPtr GlobalContext();
    private delegate void SetEnabled(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    private static readonly Lazy<(GlobalContext Context, SetEnabled Set)?> Exports = new(Find);
    private static readonly Lock Gate = new();
    private static int trainingScopes;

    /// <summary>True when training in this process runs on ATen's native kernels (the default).</summary>
    public static bool TrainingAvoidsOneDnn => Environment.GetEnvironmentVariable(KeepVariable) != "1";

    /// <summary>oneDNN off until the returned scope is disposed (a no-op scope when <see cref="KeepVariable"/> is 1).</summary>
    public static IDisposable ForTraining()
    {
        if (!TrainingAvoidsOneDnn)
            return new Scope(active: false);
        var exports = Exports.Value ?? throw new InvalidOperationException(
            $"libtorch's oneDNN switch (at::Context::setUserEnabledMkldnn) was not found in libtorch_cpu; set {KeepVariable}=1 to train with oneDNN");
        lock (Gate)
        {
            if (trainingScopes++ == 0)
                exports.Set(exports.Context(), false);
        }
        return new Scope(active: true);
    }

    private sealed class Scope(bool active) : IDisposable
    {
        private bool open = active;

        public void Dispose()
        {
            if (!open) return;
            open = false;
            var exports = Exports.Value!.Value;
            lock (Gate)
            {
                if (--trainingScopes == 0)
                    exports.Set(exports.Context(), true);
            }
        }
    }

    private static (GlobalContext, SetEnabled)? Find()
    {
        TorchRuntime.EnsureAvailable();
        // libtorch_cpu is already loaded by TorchSharp; dlopen by soname returns that copy.
        if (!NativeLibrary.TryLoad("libtorch_cpu.so", out var library))
            return null;
        if (!NativeLibrary.TryGetExport(library, "_ZN2at13globalContextEv", out var context)
            || !NativeLibrary.TryGetExport(library, "_ZN2at7Context20setUserEnabledMkldnnEb", out var set))
            return null;
        return (Marshal.GetDelegateForFunctionPointer<GlobalContext>(context), Marshal.GetDelegateForFunctionPointer<SetEnabled>(set));
    }
}
