using System.CommandLine;
using AsdOrleans.Cli;
using AsdOrleans.Cli.Commands;

var root = new RootCommand("asd — stream-based active learning for anomalous sound detection\n\n" + CliRunner.ExitCodesHelp);
foreach (var command in CommandCatalog.All())
    root.Subcommands.Add(command);
return await CliRunner.RunAsync(root, args);
