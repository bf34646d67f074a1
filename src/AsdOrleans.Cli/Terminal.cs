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

    /// <summary>
    /// Runs <paramref name="work"/> with a progress bar on a terminal; otherwise silently, or with a line per tenth
    /// done when <paramref name="linesWhenRedirected"/> (long runs into a log).
    /// </summary>
    public static T WithProgress<T>(TextWriter output, string description, Func<Action<int, int>, T> work, bool linesWhenRedirected = false)
    {
        if (!IsInteractive(output))
            return work(linesWhenRedirected ? ProgressLines(output, description) : (_, _) => { });
        T result = default!;
        Bar().Start(context =>
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
    public static async Task<T> WithProgressAsync<T>(TextWriter output, string description, Func<Action<int, int>, Task<T>> work, bool linesWhenRedirected = false)
    {
        if (!IsInteractive(output))
            return await work(linesWhenRedirected ? ProgressLines(output, description) : (_, _) => { });
        T result = default!;
        await Bar().StartAsync(async context =>
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

    /// <summary>A progress callback that writes "description: done/total (p%)" at every further tenth, thread-safely.</summary>
    public static Action<int, int> ProgressLines(TextWriter output, string description)
    {
        int reported = 0;
        var gate = new object();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        return (done, total) =>
        {
            int tenth = total == 0 ? 10 : (int)(10L * done / total);
            lock (gate)
            {
                if (tenth <= reported) return;
                reported = tenth;
                output.WriteLine($"{description}: {done}/{total} ({100L * done / Math.Max(total, 1)}%, {watch.Elapsed.TotalSeconds:F0} s)");
            }
        };
    }

    /// <summary>The progress display both forms use: description, bar, percentage, time left; cleared when done.</summary>
    private static Progress Bar() => AnsiConsole.Progress()
        .AutoClear(true)
        .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn());
}
