using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using AsdOrleans.Method.Vocabulary;
using static AsdOrleans.Cli.Tests.CliHarness;

namespace AsdOrleans.Cli.Tests;

/// <summary>
/// Issue 9: every command refuses bad input before it does any work — exit 2, one line naming the problem, no stack
/// trace, nothing written — and anything unexpected still ends in one line and a documented exit code.
/// </summary>
public sealed class InputValidationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-input-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    private string Garbage(string name)
    {
        File.WriteAllText(P(name), "not what you think");
        return P(name);
    }

    /// <summary>One bad-input case per command: (command line, what the message must say).</summary>
    public static TheoryData<string, string[], string> BadInputs() => new()
    {
        { "demo", ["demo", "--out", "{out}", "--budget", "1.5"], "budget" },
        { "experiment", ["experiment", "--embeddings", "{dir}/missing.csv", "--out", "{out}"], "--embeddings: " },
        { "experiment, no input", ["experiment", "--out", "{out}"], "give --embeddings CSV or --data ROOT (a data set's audio, embedded with --embedder: spectral by default, or --model FILE); neither was given" },
        { "experiment, two inputs", ["experiment", "--embeddings", "{dir}/missing.csv", "--data", "{dir}", "--out", "{out}"], "give --embeddings CSV or --data ROOT, not both" },
        { "experiment --unsure", ["experiment", "--embeddings", "{dir}/missing.csv", "--out", "{out}", "--unsure", "1.5"], "--unsure must be in [0, 1]" },
        { "experiment --unsure-answer", ["experiment", "--embeddings", "{dir}/missing.csv", "--out", "{out}", "--unsure", "0.2", "--unsure-answer", "shrug"], "--unsure-answer: unknown answer 'shrug'" },
        { "label decline", ["label", "decline", "--url", "http://127.0.0.1:1", "--key", "k", "--machine", "m1", "--clip", ".."], "--clip: " },
        { "cluster where", ["cluster", "where", "--url", "http://127.0.0.1:1", "--key", "k", "--machine", "bad id!"], "--machine: " },
        { "synth-embeddings", ["synth-embeddings", "--out", "{out}/e.csv", "--machines", "0"], "machines" },
        { "synth", ["synth", "--out", "{out}", "--test", "3"], "test" },
        { "train", ["train", "--data", "{dir}/nowhere", "--out", "{out}/m.asdm"], "--data: " },
        { "embed", ["embed", "--model", "{garbage}", "--data", "{dir}", "--out", "{out}/e.csv"], "--model: " },
        { "model-info", ["model-info", "{garbage}"], "not a readable encoder model file" },
        { "silo", ["silo", "--roles", "machines", "--silo-port", "70000", "--data-dir", "{out}"], "--silo-port" },
        { "enroll", ["enroll", "--url", "http://127.0.0.1:1", "--key", "k", "--machine", "bad id!", "--data", "{dir}"], "--machine: " },
        { "push", ["push", "--url", "http://127.0.0.1:1", "--key", "k", "--machine", "m1", "--data", "{dir}/nowhere"], "--data: " },
        { "label", ["label", "submit", "--url", "http://127.0.0.1:1", "--key", "k", "--machine", "m1", "--clip", "c1", "--label", "maybe"], "--label: 'maybe' is not normal, anomaly" },
        { "label audio", ["label", "audio", "--url", "http://127.0.0.1:1", "--key", "k", "--machine", "m1", "--clip", "..", "--out", "{out}/c.wav"], "--clip: " },
        { "metrics", ["metrics", "{dir}/missing.csv"], "missing.csv" },
        { "bench", ["bench", "scoring", "--seconds", "0"], "--seconds" },
        { "bench encoder", ["bench", "encoder", "--batch-sizes", "1.5"], "--batch-sizes" },
        // Values of the wrong form, in the user's terms rather than .NET type names.
        { "synth --train abc", ["synth", "--out", "{out}", "--train", "abc"], "--train needs a whole number, got 'abc'" },
        { "synth --seed -3", ["synth", "--out", "{out}", "--seed", "-3"], "--seed needs a whole number, 0 or more, got '-3'" },
        { "experiment --seed 1.5", ["experiment", "--embeddings", "{dir}/missing.csv", "--out", "{out}", "--seed", "1.5"], "--seed needs a whole number, 0 or more, got '1.5'" },
        { "machines configure --budget abc", ["machines", "configure", "--url", "http://127.0.0.1:1", "--key", "k", "--machine", "m1", "--budget", "abc"], "--budget needs a number, got 'abc'" },
        { "an unknown command", ["frobnicate"], "Unrecognized command or argument 'frobnicate'" },
        { "help for an unknown command", ["frobnicate", "--help"], "Unrecognized command or argument 'frobnicate'" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public async Task Each_command_refuses_bad_input_with_exit_2_one_line_and_nothing_written(string command, string[] template, string problem)
    {
        string outDir = P("out");
        string garbage = Garbage("garbage.asdm");
        var args = template.Select(a => a.Replace("{out}", outDir).Replace("{dir}", _dir).Replace("{garbage}", garbage)).ToArray();
        var before = Snapshot(_dir);

        var (code, output, error) = await Run(args);

        Assert.True(code == CliRunner.BadInput, $"{command}: exit {code}, stderr {error}");
        Assert.StartsWith("error: ", error);
        Assert.Contains(problem, error);
        Assert.DoesNotContain("   at ", error);      // no stack trace
        Assert.DoesNotContain("Exception", error);
        Assert.DoesNotContain("System.", error);                           // no .NET type names
        Assert.DoesNotContain("Required command was not provided", error); // beside an unknown command, it only confuses
        Assert.DoesNotContain("error", output);
        Assert.False(Directory.Exists(outDir), $"{command} created {outDir}");
        Assert.Equal(before.Keys.Order(), Snapshot(_dir).Keys.Order());
    }

    [Fact]
    public async Task Experiment_refuses_a_non_empty_out_without_force()
    {
        string embeddings = WriteSmallEmbeddings(P("emb.csv"));
        string run = Directory.CreateDirectory(P("run")).FullName;
        File.WriteAllText(Path.Combine(run, "notes.txt"), "mine");

        var (code, _, error) = await Run("experiment", "--embeddings", embeddings, "--out", run, "--trials", "2", "--budgets", "0,0.1", "--strategies", "random");
        Assert.Equal(CliRunner.BadInput, code);
        Assert.Contains("is not empty; pass --force", error);
        Assert.Equal(["notes.txt"], Directory.GetFiles(run).Select(Path.GetFileName));

        (code, _, error) = await Run("experiment", "--embeddings", embeddings, "--out", run, "--trials", "2", "--budgets", "0,0.1", "--strategies", "random", "--force");
        Assert.True(code == 0, error);
        Assert.True(File.Exists(Path.Combine(run, "results.csv")));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(run, "notes.txt")));
    }

    [Fact]
    public async Task Experiment_with_force_removes_an_earlier_runs_evaluator_trials_and_nothing_else()
    {
        string embeddings = WriteSmallEmbeddings(P("emb.csv"));
        string run = P("rerun");
        var (code, _, error) = await Run("experiment", "--embeddings", embeddings, "--out", run, "--trials", "3", "--budgets", "0,0.1", "--strategies", "none,random");
        Assert.True(code == 0, error);
        string staleTrial = Path.Combine(run, "evaluator", "random", "b0.1", "trial_02");
        Assert.True(Directory.Exists(staleTrial), "the first run should write random's third trial");
        File.WriteAllText(Path.Combine(run, "notes.txt"), "mine");
        Directory.CreateDirectory(Path.Combine(run, "my-analysis"));
        File.WriteAllText(Path.Combine(run, "my-analysis", "plot.py"), "# mine");

        (code, _, error) = await Run("experiment", "--embeddings", embeddings, "--out", run, "--trials", "2", "--budgets", "0", "--strategies", "none", "--force");
        Assert.True(code == 0, error);
        Assert.False(Directory.Exists(Path.Combine(run, "evaluator", "random")), "a strategy the rerun did not run must not keep its trials");
        Assert.False(Directory.Exists(Path.Combine(run, "evaluator", "offline", "trial_02")), "a trial the rerun did not run must be gone");
        Assert.True(Directory.Exists(Path.Combine(run, "evaluator", "offline", "trial_01")));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(run, "notes.txt")));
        Assert.Equal("# mine", File.ReadAllText(Path.Combine(run, "my-analysis", "plot.py")));
    }

    [Fact]
    public async Task Experiment_without_an_offline_run_adds_budget_0_and_keeps_rows_of_runs_that_list_it()
    {
        string embeddings = WriteSmallEmbeddings(P("emb.csv"));
        var (code, output, error) = await Run("experiment", "--embeddings", embeddings, "--out", P("implicit"),
            "--strategies", "random,hybrid", "--budgets", "0.1", "--trials", "2");
        Assert.True(code == 0, error);
        Assert.Contains("budget 0 (the offline model", output);
        Assert.True(File.Exists(P("implicit/table1.csv")));

        // The same run with budget 0 listed: the same results.csv, byte for byte.
        (code, output, error) = await Run("experiment", "--embeddings", embeddings, "--out", P("explicit"),
            "--strategies", "random,hybrid", "--budgets", "0,0.1", "--trials", "2");
        Assert.True(code == 0, error);
        Assert.DoesNotContain("budget 0 (the offline model", output);
        Assert.Equal(File.ReadAllBytes(P("explicit/results.csv")), File.ReadAllBytes(P("implicit/results.csv")));
        Assert.Equal(File.ReadAllBytes(P("explicit/table1.csv")), File.ReadAllBytes(P("implicit/table1.csv")));
    }

    // ------------------------------------------------------------------ the top-level handler


    private static async Task<(int Code, string Error)> Throwing(Exception e, params string[] extra)
    {
        var root = new RootCommand("test");
        var boom = new Command("boom");
        boom.SetAction(new Func<ParseResult, int>(_ => throw e));
        root.Subcommands.Add(boom);
        using var output = new StringWriter(CultureInfo.InvariantCulture);
        using var error = new StringWriter(CultureInfo.InvariantCulture);
        int code = await CliRunner.RunAsync(root, ["boom", .. extra], output, error);
        return (code, error.ToString());
    }

    [Fact]
    public async Task An_unexpected_exception_is_one_line_and_exit_1_and_verbose_shows_the_stack_trace()
    {
        var (code, error) = await Throwing(new InvalidOperationException("something no check foresaw"));
        Assert.Equal(CliRunner.InternalError, code);
        Assert.StartsWith("error: something no check foresaw", error);
        Assert.Contains("hint: this is a bug; rerun with --verbose", error);
        Assert.DoesNotContain("   at ", error);

        (code, error) = await Throwing(new InvalidOperationException("again"), "--verbose");
        Assert.Equal(CliRunner.InternalError, code);
        Assert.Contains("   at ", error);
    }

    [Fact]
    public async Task Exceptions_map_to_their_documented_exit_codes()
    {
        Assert.Equal(CliRunner.NonFiniteNumber, (await Throwing(new AsdOrleans.Encoder.NonFiniteValueException("loss is NaN at epoch 3"))).Code);
        Assert.Equal(CliRunner.NonFiniteNumber, (await Throwing(new AggregateException(new NotFiniteNumberException("NaN")))).Code);
        Assert.Equal(CliRunner.BadInput, (await Throwing(new UsageException("bad"))).Code);
        Assert.Equal(CliRunner.BadInput, (await Throwing(new FileNotFoundException("gone"))).Code);
        Assert.Equal(CliRunner.Cancelled, (await Throwing(new OperationCanceledException())).Code);
        Assert.Equal(CliRunner.MissingRequirement, (await Throwing(new AsdOrleans.Encoder.TorchUnavailableException("no libtorch", new DllNotFoundException()))).Code);
    }

    [Fact]
    public async Task Help_does_not_print_the_api_key_from_the_environment_and_a_missing_key_is_said()
    {
        // A process of its own: $ASD_KEY set here would reach the other tests of this process.
        async Task<(int Code, string Output)> Asd(string? key, params string[] args)
        {
            var start = new System.Diagnostics.ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "asd.dll"), .. args])
                { RedirectStandardOutput = true, RedirectStandardError = true };
            start.Environment.Remove("ASD_KEY");
            if (key is not null) start.Environment["ASD_KEY"] = key;
            using var process = System.Diagnostics.Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            string error = await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            await process.WaitForExitAsync(TestContext.Current.CancellationToken);
            return (process.ExitCode, await output + error);
        }
        foreach (var command in new[] { new[] { "label", "list" }, ["alerts", "list"], ["machines", "status"], ["enroll"], ["push"], ["cluster", "status"] })
        {
            var (code, help) = await Asd("s3cret-key-0123", [.. command, "--help"]);
            Assert.True(code == 0, help);
            Assert.Contains("--key", help);
            Assert.DoesNotContain("s3cret-key-0123", help); // help printed it as the option's default
        }
        var (missing, said) = await Asd(null, "label", "list", "--url", "http://127.0.0.1:1");
        Assert.Equal(2, missing);
        Assert.Contains("error: a labeller API key is needed: set ASD_KEY (or pass --key)", said);
    }

    [Fact]
    public async Task Help_documents_the_exit_codes()
    {
        Assert.Contains("4 a computation gave a non-finite number", CliRunner.ExitCodesHelp);
        var (code, output, _) = await Run("--help");
        Assert.Equal(0, code);
        Assert.Contains("--verbose", output);
    }

    // ------------------------------------------------------------------ one vocabulary

    [Theory]
    [InlineData("normal", false)]
    [InlineData("Normal", false)]
    [InlineData("0", false)]
    [InlineData("anomaly", true)]
    [InlineData("ANOMALOUS", true)]
    [InlineData(" 1 ", true)]
    public void Labels_are_read_in_one_place(string word, bool isAnomaly) => Assert.Equal(isAnomaly, ClipWords.TryParseLabel(word));

    [Theory]
    [InlineData("source", false)]
    [InlineData("TARGET", true)]
    [InlineData("0", false)]
    [InlineData("1", true)]
    public void Domains_are_read_in_one_place(string word, bool isTarget) => Assert.Equal(isTarget, ClipWords.TryParseDomain(word));

    [Theory]
    [InlineData("abnormal")]
    [InlineData("2")]
    [InlineData("")]
    public void Other_words_are_not_labels(string word)
    {
        Assert.Null(ClipWords.TryParseLabel(word));
        Assert.Null(ClipWords.TryParseDomain(word));
    }

    [Fact]
    public async Task Metrics_and_experiment_read_the_same_label_words()
    {
        // "anomalous" was refused by asd metrics, "anomaly" by asd label submit: both read everywhere now.
        string csv = P("scores.csv");
        File.WriteAllText(csv, "file,label,domain,score\na,normal,source,0.1\nb,anomalous,0,0.9\nc,0,TARGET,0.2\nd,Anomaly,1,0.8\n");
        var (code, output, error) = await Run("metrics", csv, "--json");
        Assert.True(code == 0, error);
        Assert.Equal(1.0, JsonDocument.Parse(output).RootElement.GetProperty("auc").GetDouble());
        Assert.Equal("anomaly", ClipWords.Label(true));
        Assert.Equal("target", ClipWords.Domain(true));
    }

    [Theory]
    [InlineData("plant-a.line-3.bandsaw-07", true)]
    [InlineData("has space", false)]
    [InlineData("a/b", false)]
    [InlineData(".", false)] // a machine id names audio folders: ".." was the data directory
    [InlineData("..", false)]
    [InlineData("...", true)]
    [InlineData("", false)]
    public void Machine_ids_follow_one_rule(string id, bool valid)
    {
        Assert.Equal(valid, Identifiers.IsValidMachineId(id));
        Assert.Equal(valid, AsdOrleans.Evaluation.Experiments.EmbeddingTable.IsValidMachineName(id));
    }

    [Fact]
    public void Clip_ids_follow_the_machine_rule_and_are_never_dot_paths()
    {
        Assert.True(Identifiers.IsValidClipId("0f3a9c"));
        Assert.False(Identifiers.IsValidClipId(".."));
        Assert.False(Identifiers.IsValidClipId("."));
        Assert.False(Identifiers.IsValidClipId(new string('c', 129)));
    }
}
