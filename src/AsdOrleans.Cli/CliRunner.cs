using System.CommandLine;
using AsdOrleans.Audio;
using AsdOrleans.Method.Io;
using AsdOrleans.Encoder;

namespace AsdOrleans.Cli;

/// <summary>
/// Runs the command line and turns every failure into one line on stderr (<c>error: …</c>, plus a hint where one helps)
/// and a documented exit code (<see cref="ExitCodesHelp"/>); never a stack trace, unless <c>--verbose</c> or
/// <c>ASD_DEBUG=1</c> asks for it.
/// </summary>
public static class CliRunner
{
    public const int Ok = 0;
    /// <summary>An unexpected failure (a bug, or something no check foresaw).</summary>
    public const int InternalError = 1;
    /// <summary>Bad input: an option out of range, a missing or malformed file, an unwritable output, options that do not go together.</summary>
    public const int BadInput = 2;
    /// <summary>The host lacks something the command needs (e.g. a loadable TorchSharp); ./asd setup fixes it.</summary>
    public const int MissingRequirement = 3;
    /// <summary>A computation produced a non-finite number (NaN or ±∞), e.g. while training or embedding.</summary>
    public const int NonFiniteNumber = 4;
    /// <summary>Some of the work was not done: a silo could not be reached, or kept failing, through every retry (e.g.
    /// clips `asd push` could not deliver, or `asd alerts follow` gave up on a silo after --give-up-after); what was done
    /// is reported and written, and the error line says what was not.</summary>
    public const int Incomplete = 5;
    /// <summary>Interrupted (Ctrl-C), as shells report SIGINT.</summary>
    public const int Cancelled = 130;

    public const string VerboseOption = "--verbose";
    public const string DebugVariable = "ASD_DEBUG";

    /// <summary>The exit codes, for `asd --help` and the README.</summary>
    public const string ExitCodesHelp = """
        Exit codes: 0 ok; 1 unexpected error (a bug: rerun with --verbose or ASD_DEBUG=1 for the stack trace);
        2 bad input or usage (nothing was written); 3 a host requirement is missing (./asd setup);
        4 a computation gave a non-finite number (NaN/∞) while training or embedding; 5 incomplete (a silo did not take
        some calls through every retry, or `alerts follow` gave up on one: what was done is reported, the error line says
        what was not); 130 interrupted.
        """;

    /// <summary>
    /// The one place where exception types map to exit codes and hints. Parallel loops and tasks wrap failures, so
    /// aggregates are unwrapped. Anything not listed is an internal error (exit 1), still printed as one line.
    /// </summary>
    public static (string Message, int ExitCode, string? Hint) Classify(Exception e)
    {
        if (e is AggregateException aggregate && aggregate.Flatten().InnerExceptions is [var first, ..])
            return Classify(first);
        if (e is System.Reflection.TargetInvocationException { InnerException: { } inner })
            return Classify(inner);
        return e switch
        {
            TorchUnavailableException => (e.Message, MissingRequirement, null),
            NonFiniteValueException or NotFiniteNumberException => (e.Message, NonFiniteNumber, null),
            OperationCanceledException => ("interrupted", Cancelled, null),
            InputDataException or UsageException or ArgumentException or AudioFormatException
                or IOException or InvalidDataException or UnauthorizedAccessException
                or AsdOrleans.Silo.SiloConfigurationException => (e.Message, BadInput, null),
            AsdOrleans.Storage.Sqlite.SqliteGrainStorageException or AsdOrleans.Storage.Sqlite.SqliteReminderTableException
                => (e.Message, BadInput, "the silo's SQLite database could not be opened or written: free disk space if it is full; a damaged "
                    + "database is restored from a backup, grains.db and reminders.db with their -wal files together (docs/deploy.md, \"Backups\")"),
            OutOfMemoryException => ($"out of memory: {e.Message}", InternalError, "try smaller --batch-size or --threads"),
            _ => ($"{e.Message} ({e.GetType().Name})", InternalError, $"this is a bug; rerun with {VerboseOption} or {DebugVariable}=1 for the stack trace"),
        };
    }

    /// <summary>Why the command line is refused (nothing: it runs, or its help is printed). A help request is refused only
    /// for an unknown command: with --help the parser reports no error at all, so `asd frobnicate --help` would print
    /// the main help and exit 0.</summary>
    private static IEnumerable<string> ParseRefusals(ParseResult parse, bool help)
    {
        if (!help) return ParseErrorMessages(parse.Errors);
        if (parse.Errors.Count == 0) return parse.UnmatchedTokens.Select(token => $"Unrecognized command or argument '{token}'.");
        return parse.Errors.Any(IsUnknownCommand) ? ParseErrorMessages(parse.Errors) : [];
    }

    private static bool IsUnknownCommand(System.CommandLine.Parsing.ParseError error)
        => error.Message.StartsWith("Unrecognized command or argument", StringComparison.Ordinal);

    /// <summary>The parser's errors in the user's terms: a value that is not a number says so instead of naming a .NET
    /// type, and "Required command was not provided" is left out when the command given was not recognised.</summary>
    internal static IEnumerable<string> ParseErrorMessages(IReadOnlyList<System.CommandLine.Parsing.ParseError> errors)
    {
        bool unknownCommand = errors.Any(IsUnknownCommand);
        foreach (var error in errors)
        {
            if (unknownCommand && error.Message.StartsWith("Required command was not provided", StringComparison.Ordinal))
                continue;
            yield return InUserTerms(error.Message);
        }
    }

    private static readonly System.Text.RegularExpressions.Regex CannotParse = new(
        @"^Cannot parse argument '(?<value>.*)' for (?<what>option|command) '(?<name>[^']*)' as expected type '(?<type>[^']*)'\.?$",
        System.Text.RegularExpressions.RegexOptions.Singleline);

    internal static string InUserTerms(string message)
    {
        var match = CannotParse.Match(message);
        if (!match.Success) return message;
        string kind = AsdOrleans.Silo.ValueForms.InWords(match.Groups["type"].Value) ?? "a value of another form";
        string where = match.Groups["what"].Value == "option" ? match.Groups["name"].Value : $"the argument of '{match.Groups["name"].Value}'";
        return $"{where} needs {kind}, got '{match.Groups["value"].Value}'";
    }

    private static bool IsHelpRequest(string[] args) => args.Any(a => a is "-h" or "--help" or "-?");

    private static bool WantsStackTrace(string[] args) =>
        args.Contains(VerboseOption) || Environment.GetEnvironmentVariable(DebugVariable) is { Length: > 0 } v && v != "0";

    public static async Task<int> RunAsync(RootCommand root, string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        if (output is not null) config.Output = output;
        if (error is not null) config.Error = error;
        var err = error ?? Console.Error;
        bool verbose = WantsStackTrace(args);
        if (!root.Options.Any(o => o.Name == VerboseOption))
            root.Options.Add(new Option<bool>(VerboseOption) { Description = $"on an error, also print its stack trace (or set {DebugVariable}=1)", Recursive = true });
        try
        {
            var parse = root.Parse(args);
            var refusals = ParseRefusals(parse, IsHelpRequest(args)).ToList();
            if (refusals.Count > 0)
            {
                foreach (var message in refusals)
                    await err.WriteLineAsync($"error: {message}");
                await err.WriteLineAsync("(see --help)");
                return BadInput;
            }
            return await parse.InvokeAsync(config);
        }
        catch (Exception e)
        {
            var (message, code, hint) = Classify(e);
            await err.WriteLineAsync($"error: {message}");
            if (hint is not null) await err.WriteLineAsync($"hint: {hint}");
            if (verbose) await err.WriteLineAsync(e.ToString());
            return code;
        }
    }
}

/// <summary>A command-line argument that parses but makes no sense (e.g. a budget of 1.5), or a request the silo refused.</summary>
public class UsageException(string message) : Exception(message);
