using System.CommandLine;
using AsdOrleans.Evaluation.Experiments;

namespace AsdOrleans.Cli.Commands;

/// <summary>`asd synth-embeddings`: a seeded embedding set in the paper's situation (see SyntheticEmbeddings).</summary>
public static class SynthEmbeddingsCommand
{
    public static Command Create()
    {
        var outFile = new Option<string>("--out") { Description = "embeddings CSV to write (an existing file needs --force)", Required = true };
        var force = new Option<bool>("--force") { Description = "replace an existing --out" };
        var machines = new Option<int>("--machines") { Description = "machine types", DefaultValueFactory = _ => 7 };
        var dim = new Option<int>("--dim") { Description = "embedding dimension", DefaultValueFactory = _ => 128 };
        var seed = new Option<ulong>("--seed") { Description = "generator seed", DefaultValueFactory = _ => 0UL };
        var command = new Command("synth-embeddings", "write a generated embeddings CSV: source/target modes, few target training clips, unseen normal modes, anomalies near normals")
        {
            outFile, machines, dim, seed, force,
        };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(outFile)!;
            OutputPaths.CheckFile("--out", path);
            SyntheticEmbeddingSettings settings;
            try
            {
                settings = new SyntheticEmbeddingSettings { Machines = parse.GetValue(machines), Dimension = parse.GetValue(dim), Seed = parse.GetValue(seed) }.Validate();
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }
            OutputPaths.CheckReplace("--out", path, parse.GetValue(force));
            var table = SyntheticEmbeddings.Generate(settings);
            table.Save(path);
            parse.InvocationConfiguration.Output.WriteLine($"wrote {table.Records.Count} embeddings of {settings.Machines} machines (d = {settings.Dimension}) to {path}");
            return 0;
        });
        return command;
    }
}
