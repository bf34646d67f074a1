using Spectre.Console;

namespace AsdOrleans.Cli;

/// <summary>Spectre.Console consoles for a command's output: rich on a terminal, plain text when redirected or captured.</summary>
public static class Terminal
{
    public const int RedirectedWidth = 180;

    public static bool IsInteractive(TextWriter output)
        => ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected && !Console.IsErrorRedirected;

    public static IAnsiConsole For(TextWriter output)
    {
        if (IsInteractive(output))
            return AnsiConsole.Console;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = RedirectedWidth; // files and logs have no terminal width; don't wrap tables at 80
        return console;
    }

    /// <summary>Runs <paramref name="work"/> with a progress bar on a terminal, silently otherwise.</summary>
    public static T WithProgress<T>(TextWriter output, string description, Func<Action<int, int>, T> work)
    {
        if (!IsInteractive(output))
            return work((_, _) => { });
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask(description);
                result = work((done, total) =>
                {
                    task.MaxValue = total;
                    task.Value = done;
                });
            });
        return result;
    }

    /// <summary>The asynchronous form of <see cref="WithProgress{T}"/>.</summary>
    public static async Task<T> WithProgressAsync<T>(TextWriter output, string description, Func<Action<int, int>, Task<T>> work)
    {
        if (!IsInteractive(output))
            return await work((_, _) => { });
        T result = default!;
        await AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(description);
                result = await work((done, total) =>
                {
                    task.MaxValue = total;
                    task.Value = done;
                });
            });
        return result;
    }
}
