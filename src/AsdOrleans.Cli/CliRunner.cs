using System.CommandLine;
using AsdOrleans.Core.Audio;
using AsdOrleans.Core.Io;
using AsdOrleans.Encoder;

namespace AsdOrleans.Cli;

/// <summary>Runs the command line and turns known failures into one clear message and exit code 2.</summary>
public static class CliRunner
{
    public const int BadInput = 2;
    /// <summary>The host lacks something the command needs (e.g. a loadable TorchSharp); ./asd setup fixes it.</summary>
    public const int MissingRequirement = 3;
    /// <summary>Training or embedding produced a NaN or infinity; the message says where and what to try.</summary>
    public const int NonFiniteNumber = 4;

    /// <summary>
    /// Known failures (bad input, bad files, a host requirement missing) become one line and an exit code;
    /// anything else is a bug and keeps its stack trace. Parallel loops wrap failures, so aggregates are unwrapped.
    /// </summary>
    private static (string Message, int ExitCode)? Classify(Exception e)
    {
        if (e is AggregateException aggregate && aggregate.Flatten().InnerExceptions is [var first, ..])
            return Classify(first);
        return e switch
        {
            TorchUnavailableException => (e.Message, MissingRequirement),
            NonFiniteValueException => (e.Message, NonFiniteNumber),
            InputDataException or UsageException or ArgumentException or AudioFormatException
                or IOException or InvalidDataException or UnauthorizedAccessException
                or AsdOrleans.Silo.SiloConfigurationException => (e.Message, BadInput),
            _ => null,
        };
    }

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
        catch (Exception e) when (Classify(e) is { } known)
        {
            await err.WriteLineAsync($"error: {known.Message}");
            return known.ExitCode;
        }
    }
}

/// <summary>A command-line argument that parses but makes no sense (e.g. a budget of 1.5).</summary>
public sealed class UsageException(string message) : Exception(message);
