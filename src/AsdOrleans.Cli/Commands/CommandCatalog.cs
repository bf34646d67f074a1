using System.CommandLine;

namespace AsdOrleans.Cli.Commands;

/// <summary>Every `asd` subcommand, in the order `asd --help` lists them.</summary>
public static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return DemoCommand.Create();
        yield return ExperimentCommand.Create();
        yield return PoolCommand.Create();
        yield return SynthEmbeddingsCommand.Create();
        yield return SynthCommand.Create();
        yield return TrainCommand.Create();
        yield return EmbedCommand.Create();
        yield return ModelInfoCommand.Create();
        yield return SiloCommand.Create();
        yield return EnrollCommand.Create();
        yield return PushCommand.Create();
        yield return LabelCommand.Create();
        yield return AlertsCommand.Create();
        yield return MachinesCommand.Create();
        yield return ClusterCommand.Create();
        yield return MetricsCommand.Create();
        yield return BenchCommand.Create();
    }
}
