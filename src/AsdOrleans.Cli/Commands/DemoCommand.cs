using System.CommandLine;
using AsdOrleans.Core.Experiments;

namespace AsdOrleans.Cli.Commands;

/// <summary>
/// `asd demo`: until the cluster exists, the prequential experiment on a generated embedding set,
/// so a newcomer sees offline vs active-learning AUC/pAUC in one command.
/// </summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var outDir = new Option<string>("--out") { Description = "run folder", DefaultValueFactory = _ => Path.Combine("out", "demo") };
        var machines = new Option<int>("--machines") { Description = "generated machine types", DefaultValueFactory = _ => 7 };
        var protocol = new ExperimentCommand.ProtocolOptions();
        var command = new Command("demo", "generate a synthetic plant's embeddings and run the active-learning experiment on them") { outDir, machines };
        protocol.AddTo(command);
        command.SetAction(parse =>
        {
            var settings = protocol.Read(parse);
            string output = parse.GetValue(outDir)!;
            ExperimentCommand.CheckOutputFolder(output);
            SyntheticEmbeddingSettings synth;
            try
            {
                synth = new SyntheticEmbeddingSettings { Machines = parse.GetValue(machines), Seed = settings.Seed }.Validate();
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }
            var writer = parse.InvocationConfiguration.Output;
            writer.WriteLine($"Generating embeddings for {synth.Machines} machine types ({synth.SourceTrain} source + {synth.TargetTrain} target training clips, {4 * synth.TestPerDomainAndLabel} test clips each)…");
            var table = SyntheticEmbeddings.Generate(synth);
            Directory.CreateDirectory(output);
            table.Save(Path.Combine(output, "embeddings.csv"));
            writer.WriteLine($"Running {settings.Strategies.Count} strategies × {settings.Budgets.Count} budgets × {settings.Trials} trials per machine…");
            ExperimentCommand.Run(table, settings, output, writer);
            return 0;
        });
        return command;
    }
}
