using System.CommandLine;
using AsdOrleans.Cli.Benchmarks;

namespace AsdOrleans.Cli.Commands;

/// <summary>`asd bench …`: benchmark programs that print figures (recorded in docs/benchmarks.md).</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var seconds = new Option<double>("--seconds") { Description = "measuring time per case", DefaultValueFactory = _ => 2.0 };
        var scoring = new Command("scoring", "score-and-decide calls per second per core for J = 42 and J = 1,000 at d = 128, and state bytes per machine") { seconds };
        scoring.SetAction(parse =>
        {
            double s = parse.GetValue(seconds);
            if (!(s > 0 && s <= 600)) throw new UsageException("--seconds must be in (0, 600]");
            ScoringBenchmark.Run(parse.InvocationConfiguration.Output, s);
            return 0;
        });
        return new Command("bench", "benchmark programs") { scoring };
    }
}
