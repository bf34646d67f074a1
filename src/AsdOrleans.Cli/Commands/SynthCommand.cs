using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using AsdOrleans.Datasets.Synthesis;

namespace AsdOrleans.Cli.Commands;

/// <summary>
/// `asd synth`: a generated data set of machine sounds in the DCASE 2023 Task 2 dev layout
/// (DIR/dev_data/raw/&lt;machine_type&gt;/{train,test}/*.wav, DIR/README.md, DIR/synth_clips.csv).
/// An existing data set in DIR (dev_data, README.md or synth_clips.csv) is refused unless --force;
/// the data set appears all at once when every clip is written (see SynthDataset).
/// </summary>
public static partial class SynthCommand
{
    /// <summary>The settings' parameter names in Core's messages, to be spelled as options.</summary>
    [GeneratedRegex(@"(?<![\w-])(machine-types|target-train|train|test|seconds)(?![\w-])")]
    private static partial Regex OptionNames();

    /// <summary>Core's messages name parameters bare ("train must …"); on the command line they are options.</summary>
    public static string SpellOptions(string message) => OptionNames().Replace(message, "--$1");

    public static Command Create()
    {
        var defaults = new SynthSettings();
        var outDir = new Option<string>("--out") { Description = "folder to write dev_data/, README.md and synth_clips.csv into", Required = true };
        var machineTypes = new Option<int>("--machine-types") { Description = $"machine types (1–{MachineCatalog.All.Count}: {string.Join(", ", MachineCatalog.All.Select(m => m.Name))})", DefaultValueFactory = _ => defaults.MachineTypes };
        var train = new Option<int>("--train") { Description = "source-domain training clips per machine type (DCASE: 990)", DefaultValueFactory = _ => defaults.SourceTrain };
        var targetTrain = new Option<int>("--target-train") { Description = "target-domain training clips per machine type (DCASE: 10)", DefaultValueFactory = _ => defaults.TargetTrain };
        var test = new Option<int>("--test") { Description = "test clips per machine type, a multiple of 4: a quarter each of source/target × normal/anomaly (DCASE dev: 200)", DefaultValueFactory = _ => defaults.Test };
        var seconds = new Option<double>("--seconds") { Description = $"clip length in seconds, {SynthSettings.MinSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)} (the shortest clip the features read) to {SynthSettings.MaxSeconds} (DCASE: 6–18)", DefaultValueFactory = _ => defaults.Seconds };
        var seed = new Option<ulong>("--seed") { Description = "generator seed; the same arguments write byte-identical files", DefaultValueFactory = _ => defaults.Seed };
        var faults = new Option<string>("--faults")
        {
            Description = "per-clip (default: every anomaly draws its own fault parameters) or recurring (each machine type has one damaged part per fault kind, its parameters fixed for the plant, as DCASE records each anomaly condition many times; severity and timing still vary per clip) or recurring-fixed-severity (as recurring, and each part has one severity)",
            DefaultValueFactory = _ => SynthNames.FaultConditionNames.ToName(defaults.Faults),
        };
        var force = new Option<bool>("--force") { Description = "replace an existing data set (dev_data, README.md, synth_clips.csv) in --out" };
        var threads = new Option<int>("--threads") { Description = "clips rendered in parallel (default: all cores; the output does not depend on it)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var command = new Command("synth", "write a generated data set of machine sounds (harmonics, resonances, load noise, factory background; domain shift; four fault kinds) in the DCASE 2023 Task 2 layout")
        {
            outDir, machineTypes, train, targetTrain, test, seconds, seed, faults, force, threads,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            SynthSettings settings;
            try
            {
                settings = new SynthSettings
                {
                    MachineTypes = parse.GetValue(machineTypes),
                    SourceTrain = parse.GetValue(train),
                    TargetTrain = parse.GetValue(targetTrain),
                    Test = parse.GetValue(test),
                    Seconds = parse.GetValue(seconds),
                    Seed = parse.GetValue(seed),
                    Faults = ParseFaults(parse.GetValue(faults)!),
                }.Validate();
            }
            catch (ArgumentException e)
            {
                throw new UsageException(SpellOptions(e.Message));
            }
            int threadCount = parse.GetValue(threads);
            if (threadCount < 1)
                throw new UsageException($"--threads must be at least 1, got {threadCount}");
            string output = parse.GetValue(outDir)!;
            OutputPaths.CheckFolder("--out", output);
            bool replace = parse.GetValue(force);
            var existing = SynthDataset.ExistingOutputs(output);
            if (existing.Count > 0 && !replace)
                throw new UsageException($"--out: '{output}' already holds {string.Join(", ", existing)}; pass --force to replace them");

            var writer = parse.InvocationConfiguration.Output;
            var plan = SynthPlan.Create(settings);
            var started = System.Diagnostics.Stopwatch.StartNew();
            // Ctrl+C/SIGTERM would kill the process before the staging folder is removed: stop cleanly instead.
            using var interrupted = new Interruption(cancellation);
            SynthWriteResult result;
            try
            {
                result = await Task.Run(() => Terminal.WithProgress(writer, "synthesising clips", progress =>
                    SynthDataset.Write(plan, output, new SynthWriteOptions
                    {
                        Replace = replace,
                        MaxDegreeOfParallelism = threadCount,
                        CommandLine = CommandLine(output, settings),
                        Progress = progress,
                        Cancellation = interrupted.Token,
                    })), interrupted.Token);
            }
            catch (OperationCanceledException) when (interrupted.Token.IsCancellationRequested)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync("interrupted: no data set was written");
                return 130;
            }
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {result.Clips} clips ({result.AudioSeconds:0.#} s of audio, {settings.MachineTypes} machine types) to {Path.Combine(result.Folder, SynthDataset.DataFolder)} in {started.Elapsed.TotalSeconds:F1} s"));
            return 0;
        });
        return command;
    }

    private static FaultConditions ParseFaults(string name)
    {
        try
        {
            return SynthNames.FaultConditionNames.Parse(name);
        }
        catch (ArgumentException e)
        {
            throw new UsageException("--faults: " + e.Message);
        }
    }

    /// <summary>The command that regenerates the data set, every setting explicit (recorded in README.md).</summary>
    public static string CommandLine(string output, SynthSettings s)
    {
        string faults = s.Faults == FaultConditions.PerClip ? "" : " --faults " + SynthNames.FaultConditionNames.ToName(s.Faults);
        return string.Create(CultureInfo.InvariantCulture,
            $"asd synth --out {Quote(output)} --machine-types {s.MachineTypes} --train {s.SourceTrain} --target-train {s.TargetTrain} --test {s.Test} --seconds {s.Seconds} --seed {s.Seed}{faults}");
    }

    private static string Quote(string path)
        => path.Length > 0 && path.All(c => char.IsLetterOrDigit(c) || "/._-+:@".Contains(c)) ? path : "'" + path.Replace("'", "'\\''") + "'";
}
