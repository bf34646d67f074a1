using System.CommandLine;
using AsdOrleans.Core.Io;

namespace AsdOrleans.Cli;

/// <summary>Runs the command line and turns known failures into one clear message and exit code 2.</summary>
public static class CliRunner
{
    public const int BadInput = 2;

    private static bool IsHelpRequest(string[] args) => args.Any(a => a is "-h" or "--help" or "-?");

    public static async Task<int> RunAsync(RootCommand root, string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        if (output is not null) config.Output = output;
        if (error is not null) config.Error = error;
        var err = error ?? Console.Error;
        try
        {
            var parse = root.Parse(args);
            if (parse.Errors.Count > 0 && !IsHelpRequest(args))
            {
                foreach (var parseError in parse.Errors)
                    await err.WriteLineAsync($"error: {parseError.Message}");
                await err.WriteLineAsync("(see --help)");
                return BadInput;
            }
            return await parse.InvokeAsync(config);
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
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await err.WriteLineAsync($"error: {e.Message}");
            return BadInput;
        }
    }
}

/// <summary>A command-line argument that parses but makes no sense (e.g. a budget of 1.5).</summary>
public sealed class UsageException(string message) : Exception(message);
