using System.Globalization;
using AsdOrleans.Method.Randomness;
using AsdOrleans.Method.Strategies;
using AsdOrleans.Datasets.Synthesis;

namespace AsdOrleans.Cli.Demo;

/// <summary>
/// What `asd demo` builds and runs. Defaults: 3 machine types × 2 machines, each machine with 60 + 10 training clips
/// and 200 test clips of 2 s (DCASE dev: 990 + 10 and 200 of 10 s), embedded by the training-free <c>spectral</c> embedder
/// (log-mel mean, std, maximum and smoothed maximum, and envelope-modulation peaks, whitened per machine) — sized to finish in a few minutes on 2 cores.
/// <c>--embedder model</c> trains an encoder instead: the spectrum-branch recipe for 20 epochs on whole clips, or with
/// <c>--recipe resnet-issue3 --epochs 10</c> the demo before issue 11 (a width-8 ResNet18 on 1 s crops).
/// </summary>
public sealed record DemoSettings
{
    public int MachineTypes { get; init; } = 3;
    public int MachinesPerType { get; init; } = 2;
    public int SourceTrain { get; init; } = 60;
    public int TargetTrain { get; init; } = 10;
    public int Test { get; init; } = 200;
    public double Seconds { get; init; } = 2;
    /// <summary>What the silo embeds with: <c>spectral</c> (training-free, the default) or <c>model</c> (an encoder trained on the plant).</summary>
    public string Embedder { get; init; } = SpectralEmbedder;
    public const string SpectralEmbedder = "spectral", ModelEmbedder = "model";
    public bool TrainsEncoder => Embedder == ModelEmbedder;
    public string Recipe { get; init; } = AsdOrleans.Encoder.Training.TrainingRecipe.Default.Name;
    public int Width { get; init; } = 8;
    public int Epochs { get; init; } = 20;
    public int BatchSize { get; init; } = 16;
    public double CropSeconds { get; init; } = 1;
    public string Strategy { get; init; } = "hybrid";
    public double Budget { get; init; } = 0.1;
    public ulong Seed { get; init; }

    public DemoSettings Validate()
    {
        if (Embedder is not (SpectralEmbedder or ModelEmbedder))
            throw new ArgumentException($"--embedder must be '{SpectralEmbedder}' or '{ModelEmbedder}', got '{Embedder}'");
        if (MachinesPerType is < 1 or > 9)
            throw new ArgumentException($"--machines-per-type must be between 1 and 9, got {MachinesPerType}");
        if (QueryStrategyNames.Parse(Strategy) == QueryStrategyKind.None)
            throw new ArgumentException("--strategy: the demo compares active learning with the offline model; pick a strategy that queries");
        if (!(Budget > 0 && Budget <= 1))
            throw new ArgumentException($"--budget must be in (0, 1], got {Budget.ToString(CultureInfo.InvariantCulture)}");
        AsdOrleans.Encoder.Training.TrainingRecipe.Named(Recipe);
        if (Width < 1) throw new ArgumentException($"--width must be at least 1, got {Width}");
        if (Epochs < 1) throw new ArgumentException($"--epochs must be at least 1, got {Epochs}");
        Plant(1).Validate();
        return this;
    }

    /// <summary>The synthetic data set of machine <paramref name="instance"/> (1-based) of every type: its own seed, so its own factory.</summary>
    public SynthSettings Plant(int instance) => new()
    {
        MachineTypes = MachineTypes,
        SourceTrain = SourceTrain,
        TargetTrain = TargetTrain,
        Test = Test,
        Seconds = Seconds,
        Seed = RandomState.DeriveSeed(Seed, 0xDE40, (ulong)instance),
    };

    /// <summary>Everything the generated plant depends on; a cached plant is reused only when this matches.</summary>
    public string PlantFingerprint => string.Create(CultureInfo.InvariantCulture,
        $"{SynthDataset.GeneratorVersion} types={MachineTypes} per-type={MachinesPerType} train={SourceTrain}+{TargetTrain} test={Test} seconds={Seconds} seed={Seed}");

    /// <summary>Everything the trained encoder depends on; a cached model is reused only when this matches.</summary>
    public string ModelFingerprint => string.Create(CultureInfo.InvariantCulture,
        $"{PlantFingerprint} recipe={Recipe} width={Width} epochs={Epochs} batch={BatchSize} crop={CropSeconds}");
}
