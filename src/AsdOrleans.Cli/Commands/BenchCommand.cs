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
        var width = new Option<int>("--width") { Description = "encoder width (the paper: 32)", DefaultValueFactory = _ => 32 };
        var clipSeconds = new Option<double>("--clip-seconds") { Description = "clip length", DefaultValueFactory = _ => 10.0 };
        var batches = new Option<string>("--batch-sizes") { Description = "comma-separated batch sizes", DefaultValueFactory = _ => "1,8,32" };
        var minSeconds = new Option<double>("--min-seconds") { Description = "measure each batch size at least this long (at least one batch)", DefaultValueFactory = _ => 10.0 };
        var device = new Option<string>("--device") { Description = "auto (CUDA if available), cpu, cuda, cuda:N", DefaultValueFactory = _ => "auto" };
        var encoder = new Command("encoder", "encoder clips/s per batch size, log-STFT cost torch vs MathNet, FLOP/s against the counted FLOPs per clip")
        {
            width, clipSeconds, batches, minSeconds, device,
        };
        encoder.SetAction(parse =>
        {
            var sizes = OptionParsing.Doubles("--batch-sizes", parse.GetValue(batches)!).Select(v => (int)v).ToList();
            if (sizes.Any(b => b < 1)) throw new UsageException("--batch-sizes must be positive integers");
            double clip = parse.GetValue(clipSeconds);
            if (!(clip >= 0.1 && clip <= 60)) throw new UsageException("--clip-seconds must be in [0.1, 60]");
            if (parse.GetValue(width) < 1) throw new UsageException("--width must be positive");
            Encoder.TorchRuntime.EnsureAvailable();
            EncoderBenchmark.Run(parse.InvocationConfiguration.Output,
                new EncoderBenchmark.Settings(parse.GetValue(width), clip, sizes, Math.Max(0, parse.GetValue(minSeconds)), parse.GetValue(device)!));
            return 0;
        });
        return new Command("bench", "benchmark programs") { scoring, encoder };
    }
}
