using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using MathNet.Numerics.IntegralTransforms;

namespace AsdOrleans.Datasets.Synthesis;

/// <summary>
/// One period of a periodic waveform, read at any phase with linear interpolation. A harmonic sound
/// whose fundamental varies over time is rendered by accumulating the phase (in cycles) and reading
/// the table, at a cost per sample that does not depend on the number of harmonics. Tables are built
/// from harmonic amplitudes and phases with one inverse FFT.
/// </summary>
internal sealed class Wavetable
{
    public const int Size = 8192;
    private readonly double[] _table; // Size + 2 entries: the last two repeat the first two, for interpolation at the wrap

    private Wavetable(double[] table) => _table = table;

    /// <summary>A unit-amplitude sine (phase 0 ↦ 0).</summary>
    public static Wavetable Sine { get; } = BuildSine();

    /// <summary>
    /// Σ_k amplitude[k-1]·cos(2π k φ + phase[k-1]) for k = 1…K (K &lt; Size/2), scaled to unit RMS.
    /// </summary>
    public static Wavetable FromHarmonics(ReadOnlySpan<double> amplitudes, ReadOnlySpan<double> phases)
    {
        if (amplitudes.Length != phases.Length || amplitudes.Length >= Size / 2)
            throw new ArgumentException("one phase per harmonic, fewer than Size/2 harmonics");
        var spectrum = ArrayPool<Complex>.Shared.Rent(Size); // a power of two: exactly Size long
        Array.Clear(spectrum);
        for (int k = 1; k <= amplitudes.Length; k++)
        {
            var bin = Complex.FromPolarCoordinates(amplitudes[k - 1] / 2, phases[k - 1]);
            spectrum[k] = bin;
            spectrum[Size - k] = Complex.Conjugate(bin);
        }
        Fourier.Inverse(spectrum, FourierOptions.NoScaling);
        var table = new double[Size + 2];
        for (int i = 0; i < Size; i++) table[i] = spectrum[i].Real;
        ArrayPool<Complex>.Shared.Return(spectrum);
        Signal.NormaliseRms(table.AsSpan(0, Size));
        table[Size] = table[0];
        table[Size + 1] = table[1];
        return new Wavetable(table);
    }

    /// <summary>The waveform at <paramref name="cycles"/> ∈ [0, 1].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double At(double cycles)
    {
        double x = cycles * Size;
        int i = (int)x;
        double frac = x - i;
        double a = _table[i];
        return a + frac * (_table[i + 1] - a);
    }

    /// <summary>Renders a constant-frequency tone: output[i] += gain × table(φ0 + i·hz/fs).</summary>
    public void AccumulateConstant(Span<double> output, double hz, double sampleRate, double startCycles, double gain)
    {
        double step = hz / sampleRate;
        double phase = Signal.Wrap(startCycles);
        for (int i = 0; i < output.Length; i++)
        {
            output[i] += gain * At(phase);
            phase += step;
            if (phase >= 1) phase -= 1;
        }
    }

    private static Wavetable BuildSine()
    {
        var table = new double[Size + 2];
        for (int i = 0; i < table.Length; i++) table[i] = Math.Sin(2 * Math.PI * i / Size);
        return new Wavetable(table);
    }
}
