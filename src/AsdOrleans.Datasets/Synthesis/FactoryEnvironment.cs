using AsdOrleans.Method.Randomness;

namespace AsdOrleans.Datasets.Synthesis;

/// <summary>
/// Where one machine type is recorded in one domain: the factory's mains hum, a distant machine's
/// hum, the rate of distant impacts, the range of machine-to-background SNR and the microphone.
/// Fixed per (seed, machine type, domain), so every clip of a domain shares its acoustic setting;
/// the target domain is another plant: 60 Hz mains instead of 50, a busier and louder background
/// (lower SNR) and a duller microphone with a low cut and a mid-range peak.
/// </summary>
public sealed record FactoryEnvironment
{
    public required SynthDomain Domain { get; init; }
    public required double MainsHz { get; init; }
    public required double HumDb { get; init; }
    public required double DistantMachineHz { get; init; }
    public required double DistantMachineDb { get; init; }
    public required double ImpactsPerSecond { get; init; }
    public required double ImpactDb { get; init; }
    public required double MinSnrDb { get; init; }
    public required double MaxSnrDb { get; init; }
    public required MicrophoneResponse Microphone { get; init; }

    private const ulong EnvironmentTag = 0xE7;

    public static FactoryEnvironment Draw(ulong seed, int machineIndex, SynthDomain domain)
    {
        var r = RandomState.FromSeed(RandomState.DeriveSeed(seed, (ulong)machineIndex, EnvironmentTag, (ulong)domain));
        return domain == SynthDomain.Source
            ? new FactoryEnvironment
            {
                Domain = domain,
                MainsHz = 50,
                HumDb = Signal.Uniform(ref r, -12, -6),
                DistantMachineHz = Signal.Uniform(ref r, 70, 200),
                DistantMachineDb = Signal.Uniform(ref r, -8, -3),
                ImpactsPerSecond = Signal.Uniform(ref r, 0.2, 0.6),
                ImpactDb = Signal.Uniform(ref r, -2, 2),
                MinSnrDb = 6,
                MaxSnrDb = 14,
                Microphone = new MicrophoneResponse(40, 2000, Signal.Uniform(ref r, -1, 1), Signal.Uniform(ref r, 1500, 4000), 1, Signal.Uniform(ref r, -2, 2)),
            }
            : new FactoryEnvironment
            {
                Domain = domain,
                MainsHz = 60,
                HumDb = Signal.Uniform(ref r, -9, -3),
                DistantMachineHz = Signal.Uniform(ref r, 200, 400),
                DistantMachineDb = Signal.Uniform(ref r, -6, 0),
                ImpactsPerSecond = Signal.Uniform(ref r, 0.5, 1.5),
                ImpactDb = Signal.Uniform(ref r, 0, 4),
                MinSnrDb = 0,
                MaxSnrDb = 8,
                Microphone = new MicrophoneResponse(150, 2000, Signal.Uniform(ref r, -7, -4), Signal.Uniform(ref r, 600, 1500), 1.5, Signal.Uniform(ref r, 3, 6)),
            };
    }
}
