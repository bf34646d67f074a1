using System.Runtime.InteropServices;

namespace AsdOrleans.Encoder;

/// <summary>
/// Training runs without oneDNN. libtorch 2.10's oneDNN backward kernels gave NaN gradients intermittently on AMD Zen 5
/// whenever a layer had fewer channels than the kernels' vector blocking (16 on AVX-512, 8 on AVX2): capping the
/// instruction set only moved the fault to narrower models (docs/decisions.md, issue 9). ATen's native kernels were
/// finite and bit-reproducible in every run. Inference keeps oneDNN: its embeddings stayed finite and equal to the
/// capped ones within 1e-7. The switch is ATen's own (at::globalContext().setUserEnabledMkldnn), which TorchSharp does
/// not expose; it is process-wide, so training and inference scopes of one process take turns (see <see cref="ForTraining"/>).
/// <c>ASD_TRAINING_ONEDNN=1</c> keeps oneDNN in training (to reproduce the fault).
/// </summary>
public static class OneDnnSwitch
{
    public const string KeepVariable = "ASD_TRAINING_ONEDNN";

    private delegate IntPtr GlobalContext();
    private delegate void SetEnabled(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    private static readonly Lazy<(GlobalContext Context, SetEnabled Set, SetEnabled SetNnpack)?> Exports = new(Find);
    private static readonly object Gate = new();
    private static bool trainingMode;
    private static int holders;
    [ThreadStatic] private static int trainingScopesOnThisThread;

    /// <summary>True when training in this process runs on ATen's native kernels (the default).</summary>
    public static bool TrainingAvoidsOneDnn => Environment.GetEnvironmentVariable(KeepVariable) != "1";

    /// <summary>
    /// Training kernels (oneDNN off) until the scope is disposed. The switch is process-wide, so training and
    /// inference scopes exclude each other: an embedding computed while another thread trains would otherwise run
    /// on the other kernels and differ in its last bits. Trainings share their mode, and so do inferences.
    /// </summary>
    public static IDisposable ForTraining() => Enter(training: true);

    /// <summary>Inference kernels (oneDNN on) until the scope is disposed; waits while a training in this process runs.</summary>
    public static IDisposable ForInference() => Enter(training: false);

    private static readonly Lazy<bool> NnpackOff = new(() =>
    {
        if (Exports.Value is not { } exports) return false;
        exports.SetNnpack(exports.Context(), false);
        return true;
    });

    /// <summary>
    /// NNPACK off for the process (called once Torch has loaded): where it cannot start, as on this CPU, ATen retried
    /// and warned on every native convolution of a batch of 16 or more (10,400 warnings in one demo, twice as slow);
    /// oneDNN or ATen's own kernels serve those convolutions.
    /// </summary>
    internal static void TurnNnpackOff() => _ = NnpackOff.Value;

    private static IDisposable Enter(bool training)
    {
        if (!TrainingAvoidsOneDnn)
            return new Scope(active: false);
        var exports = Exports.Value ?? throw new InvalidOperationException(
            $"libtorch's oneDNN switch (at::Context::setUserEnabledMkldnn) was not found in libtorch_cpu; set {KeepVariable}=1 to train with oneDNN");
        if (!training && trainingScopesOnThisThread > 0)
            throw new InvalidOperationException("embedding inside a training scope on the same thread would wait for itself; embed after training returns");
        lock (Gate)
        {
            while (holders > 0 && trainingMode != training)
                Monitor.Wait(Gate);
            if (holders == 0 && trainingMode != training)
            {
                exports.Set(exports.Context(), !training);
                trainingMode = training;
            }
            holders++;
        }
        if (training) trainingScopesOnThisThread++;
        return new Scope(active: true, training);
    }

    private sealed class Scope(bool active, bool training = false) : IDisposable
    {
        private bool open = active;

        public void Dispose()
        {
            if (!open) return;
            open = false;
            if (training) trainingScopesOnThisThread--;
            lock (Gate)
            {
                if (--holders == 0)
                    Monitor.PulseAll(Gate);
            }
        }
    }

    private static (GlobalContext, SetEnabled, SetEnabled)? Find()
    {
        // libtorch_cpu is already loaded by TorchSharp; dlopen by soname returns that copy.
        if (!NativeLibrary.TryLoad("libtorch_cpu.so", out var library))
            return null;
        if (!NativeLibrary.TryGetExport(library, "_ZN2at13globalContextEv", out var context)
            || !NativeLibrary.TryGetExport(library, "_ZN2at7Context20setUserEnabledMkldnnEb", out var set)
            || !NativeLibrary.TryGetExport(library, "_ZN2at7Context20setUserEnabledNNPACKEb", out var setNnpack))
            return null;
        return (Marshal.GetDelegateForFunctionPointer<GlobalContext>(context), Marshal.GetDelegateForFunctionPointer<SetEnabled>(set),
            Marshal.GetDelegateForFunctionPointer<SetEnabled>(setNnpack));
    }
}
