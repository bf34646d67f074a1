using System.CommandLine;
using AsdOrleans.Core.Io;

namespace AsdOrleans.Cli;

/// <summary>Runs the command line and turns known failures into one clear message and exit code 2.</summary>
public static class CliRunner
{
    public const int BadInput = 2;

    public static async Task<int> RunAsync(RootCommand root, string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        if (output is not null) config.Output = output;
        if (error is not null) config.Error = error;
        var err = error ?? Console.Error;
        try
        {
            return await root.Parse(args).InvokeAsync(config);
        }
        catch (InputDataException e)
        {
            await err.WriteLineAsync($"error: {e.Message}");
            return BadInput;
        }
        catch (UsageException e)
        {
            await err.WriteLineAsync($"error: {e.Message}");
            return BadInput;
        }
        catch (ArgumentException e)
        {
            await err.WriteLineAsync($"error: {e.Message}");
            return BadInput;
        }
    }
}

/// <summary>A command-line argument that parses but makes no sense (e.g. a budget of 1.5).</summary>
public sealed class UsageException(string message) : Exception(message);
