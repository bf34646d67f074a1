using AsdOrleans.Method.Randomness;

namespace AsdOrleans.Datasets.Synthesis;

/// <summary>
/// The factory around the machine: pink-ish noise, mains hum (odd harmonics stronger), a distant
/// machine's muffled hum, and distant impacts (decaying noise bursts through a low-pass) arriving as
/// a Poisson process. Component levels come from the <see cref="FactoryEnvironment"/> with ±3 dB
/// per clip; the result has unit RMS and is mixed under the machine at the clip's SNR.
/// </summary>
internal static class FactoryBackground
{
    public static double[] Render(FactoryEnvironment environment, ref RandomState random, int sampleRate, SampleBuffers.Scope buffers)
    {
        var background = buffers.Take();
        int samples = background.Length;
        Noise.Pink(ref random, background, sampleRate);

        var hum = Wavetable.FromHarmonics([1, 0.3, 0.5, 0.15, 0.3, 0.1, 0.15], RandomPhases(ref random, 7));
        hum.AccumulateConstant(background, environment.MainsHz, sampleRate, random.NextDouble(),
            Signal.FromDb(environment.HumDb + Signal.Uniform(ref random, -3, 3)));

        var distant = buffers.Take();
        double distantHz = environment.DistantMachineHz * Signal.Uniform(ref random, 0.99, 1.01);
        var distantTable = Wavetable.FromHarmonics([1, 0.6, 0.4, 0.3, 0.2, 0.15, 0.1, 0.08], RandomPhases(ref random, 8));
        distantTable.AccumulateConstant(distant, distantHz, sampleRate, random.NextDouble(), 1);
        Biquad.LowPass(sampleRate, 700).Run(distant);
        Signal.NormaliseRms(distant);
        Signal.Mix(background, distant, Signal.FromDb(environment.DistantMachineDb + Signal.Uniform(ref random, -3, 3)));

        var impacts = buffers.Take();
        double seconds = (double)samples / sampleRate;
        double t = -Math.Log(1 - random.NextDouble()) / environment.ImpactsPerSecond;
        while (t < seconds)
        {
            int start = (int)(t * sampleRate);
            double tau = Signal.Uniform(ref random, 0.015, 0.06) * sampleRate;
            double amplitude = Signal.Uniform(ref random, 1, 4);
            int end = Math.Min(samples, start + (int)(5 * tau));
            double envelope = amplitude, decay = Math.Exp(-1 / tau);
            for (int i = start; i < end; i++)
            {
                impacts[i] += envelope * (2 * random.NextDouble() - 1);
                envelope *= decay;
            }
            t += -Math.Log(1 - random.NextDouble()) / environment.ImpactsPerSecond;
        }
        Biquad.LowPass(sampleRate, Signal.Uniform(ref random, 400, 1500)).Run(impacts);
        Signal.Mix(background, impacts, Signal.FromDb(environment.ImpactDb));

        Signal.NormaliseRms(background);
        return background;
    }

    private static double[] RandomPhases(ref RandomState random, int count)
    {
        var phases = new double[count];
        for (int i = 0; i < count; i++) phases[i] = Signal.Uniform(ref random, 0, 2 * Math.PI);
        return phases;
    }
}
