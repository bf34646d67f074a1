using System.Globalization;
using System.Text.RegularExpressions;
using AsdOrleans.Cli.Benchmarks;
using static AsdOrleans.Cli.Tests.CliHarness;

namespace AsdOrleans.Cli.Tests;

/// <summary>Issue 13's benchmark programs at tiny sizes: long streams with capped state, and the open-loop cluster load.</summary>
public sealed class BenchScaleTests
{
    private static double Number(string text) => double.Parse(text.Replace(",", ""), NumberStyles.Float, CultureInfo.InvariantCulture);

    [Fact]
    public async Task LongStreamsCompareCappedWithUnboundedState()
    {
        var (code, output, error) = await Run("bench", "scoring", "--stream-length", "600", "--stream-machines", "1", "--stream-caps", "45,4,60");

        Assert.True(code == 0, $"exit code {code}, stderr: {error}\n{output}");
        Assert.Matches(@"unbounded\s+[01]\.\d{4}\s+0\.0000", output);
        Assert.Matches(@"capped N 45, A 4, M 60\s+[01]\.\d{4}\s+[+-]?0\.\d{4}", output);
        // Checkpoint rows: clips, then bytes and ns per variant; the capped machine ends smaller than the unbounded one.
        var last = Regex.Matches(output, @"^\s*([\d,]+)\s+([\d,]+)\s+(\d+)\s+([\d,]+)\s+(\d+)\s*$", RegexOptions.Multiline).Last();
        Assert.Equal("600", last.Groups[1].Value);
        Assert.True(Number(last.Groups[4].Value) < Number(last.Groups[2].Value), last.Value);
    }

    [Fact]
    public async Task OpenLoopClusterReportsLatencyPercentilesAtTheGivenRate()
    {
        var (code, output, error) = await Run("bench", "cluster", "--parts", "scoring", "--rate", "200", "--machines", "60", "--duration", "1",
            "--warmup-seconds", "0.2", "--warmup-clips", "2");

        Assert.True(code == 0, $"exit code {code}, stderr: {error}\n{output}");
        // storage machines rate clips achieved p50 p90 p99 p99.9 max lag svc p99-asked p99-other queried failed disk aof-rw heap
        var row = Regex.Match(output, @"^\s*sqlite\s+60\s+200\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+|NaN)\s+([\d.]+|NaN)\s+([\d.]+)%\s+(\d+)\s+([\d.]+|n/a)\s+n/a\s", RegexOptions.Multiline);
        Assert.True(row.Success, output);
        Assert.Equal("200", row.Groups[1].Value);
        Assert.True(Number(row.Groups[2].Value) > 0);
        Assert.True(Number(row.Groups[3].Value) <= Number(row.Groups[5].Value), "p50 ≤ p99");
        // The split: clips that opened a label request and the rest, each at most the slowest clip.
        bool anyAsked = Number(row.Groups[12].Value) > 0;
        Assert.Equal(anyAsked, row.Groups[10].Value != "NaN");
        // (max is printed to 0.1 ms, the split to 0.01 ms: with few clips a p99 can be the maximum itself.)
        double max = Number(row.Groups[7].Value) + 0.05;
        Assert.True(!anyAsked || Number(row.Groups[10].Value) <= max, $"p99 asked ≤ max in '{row.Value}'");
        Assert.True(Number(row.Groups[11].Value) <= max, $"p99 other ≤ max in '{row.Value}'");
        Assert.Equal("0", row.Groups[13].Value);
        Assert.Matches(@"\(60 machines enrolled and warmed in [\d.]+ s: \d+ a second\)", output);
    }

    [Fact]
    public async Task OpenLoopWithALabellerAnswersTheRequestsAndMeasuresTheSameColumns()
    {
        var (code, output, error) = await Run("bench", "cluster", "--parts", "scoring", "--rate", "200", "--machines", "40", "--duration", "1",
            "--warmup-seconds", "0.2", "--warmup-clips", "20", "--answer-labels", "0.1");

        Assert.True(code == 0, $"exit code {code}, stderr: {error}\n{output}");
        Assert.Contains("each label request answered 'normal' 0.1 s after its verdict", output);
        Assert.Matches(@"^\s*sqlite\s+40\s+200\s+200\s", output.Split('\n').Single(l => Regex.IsMatch(l, @"^\s*sqlite\s+40\s")));
        var answered = Regex.Match(output, @"\(labels answered so far, warm-up included: ([\d,]+); refused: ([\d,]+)\)");
        Assert.True(answered.Success, output);
        // 40 machines × 20–29 warm-up clips at b = 0.1 open dozens of requests; every one is answered, none refused.
        Assert.True(Number(answered.Groups[1].Value) >= 20, answered.Value);
        Assert.Equal("0", answered.Groups[2].Value);
    }

    [Fact]
    public async Task OpenLoopChargesAStallToEveryClipDueDuringIt()
    {
        // The server stalls for the first 300 ms: every clip due then waits, and each is charged from its due time,
        // where a closed loop would have sent (and charged) only one.
        // The stall starts with the first call, not before RunAsync: on a loaded host the load itself can start late
        // enough that a stall begun earlier is over before any clip is due (a fresh-clone run saw a max of 14 ms).
        var stall = new Lazy<Task>(() => Task.Delay(300));
        var result = await OpenLoopLoad.RunAsync(100, TimeSpan.FromSeconds(0.5), async _ => await stall.Value);

        Assert.Equal(50, result.Calls);
        Assert.True(result.SortedLatencies.Count(l => l > 100) >= 15, string.Join(", ", result.SortedLatencies));
        Assert.True(result.SortedLatencies[^1] >= 250, $"max {result.SortedLatencies[^1]} ms");
    }

    [Theory]
    [InlineData(GeneratorPacing.Thread, false)]
    [InlineData(GeneratorPacing.ThreadPool, true)]
    public async Task TheGeneratorSendsEveryDueClipFromItsOwnThreadOrThePool(GeneratorPacing pacing, bool onThreadPool)
    {
        // The thread generator's wake-ups must not queue behind grain continuations on the thread pool.
        int fromPool = 0, fromElsewhere = 0;
        // Started from the pool, as the benchmark is (no test synchronisation context).
        var result = await Task.Run(() => OpenLoopLoad.RunAsync(200, TimeSpan.FromSeconds(0.25), _ =>
        {
            Interlocked.Increment(ref Thread.CurrentThread.IsThreadPoolThread ? ref fromPool : ref fromElsewhere);
            return Task.CompletedTask;
        }, pacing));

        Assert.Equal(50, result.Calls);
        Assert.Equal(0, result.Failed);
        Assert.Equal(onThreadPool ? 50 : 0, fromPool);
        Assert.Equal(onThreadPool ? 0 : 50, fromElsewhere);
        Assert.True(result.Elapsed >= TimeSpan.FromSeconds(0.24), $"sent on time, not all at once: {result.Elapsed}");
    }

    [Fact]
    public async Task SiloProcessesFormARedisClusterThatHoldsEveryMachineAndStopWithTheBenchmark()
    {
        var (code, output, error) = await Run("bench", "cluster", "--rate", "20", "--storage", "redis", "--silos", "2", "--machines", "40",
            "--duration", "1", "--warmup-seconds", "0.2", "--warmup-clips", "0");

        Assert.True(code == 0, $"exit code {code}, stderr: {error}\n{output}");
        // silos machines resident rate clips achieved p50 p90 p99 p99.9 max lag failed
        var row = Regex.Match(output, @"^\s*2\s+40\s+(\d+)\s+20\s+(\d+)\s+(\d+)\s+([\d.]+)\s+[\d.]+\s+([\d.]+)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+(\d+)\s", RegexOptions.Multiline);
        Assert.True(row.Success, output);
        Assert.Equal("40", row.Groups[1].Value);
        Assert.Equal("20", row.Groups[2].Value);
        Assert.Equal("0", row.Groups[6].Value);
        Assert.True(Number(row.Groups[4].Value) <= Number(row.Groups[5].Value), "p50 ≤ p99");
        // One row per silo process: silo pid port RSS MB machine grains KB/grain; every machine is on one of them.
        var silos = Regex.Matches(output, @"^\s*([01])\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d,]+)\s+([\d.]+|n/a)\s*$", RegexOptions.Multiline);
        Assert.Equal(["0", "1"], silos.Select(m => m.Groups[1].Value));
        Assert.Equal(40, silos.Sum(m => (int)Number(m.Groups[5].Value)));
        Assert.All(silos, m => Assert.True(Number(m.Groups[4].Value) > 50, $"RSS of '{m.Value}'"));
        // The silos were stopped (killed and waited for) before the benchmark returned.
        Assert.All(silos, m => Assert.False(Directory.Exists($"/proc/{m.Groups[2].Value}"), $"silo process {m.Groups[2].Value} still running"));
    }

    [Theory]
    [InlineData(new[] { "--silos", "3" }, "error: --silos needs --rate and --storage redis")]
    [InlineData(new[] { "--silos", "3", "--rate", "10" }, "error: --silos needs --rate and --storage redis")]
    [InlineData(new[] { "--silos", "3", "--rate", "10", "--storage", "sqlite" }, "error: --silos needs --rate and --storage redis")]
    [InlineData(new[] { "--silos", "0", "--rate", "10", "--storage", "redis" }, "error: --silos must be in [1, 16]")]
    [InlineData(new[] { "--silos", "2", "--rate", "10", "--storage", "redis", "--parts", "scoring,ingest" }, "error: --silos measures the scoring part only")]
    [InlineData(new[] { "--silos", "2", "--rate", "10", "--storage", "redis", "--machines", "10,20" }, "error: --silos takes one --machines count")]
    [InlineData(new[] { "--join-silo", "--rate", "10", "--storage", "redis" }, "error: --join-silo goes with --silos")]
    [InlineData(new[] { "--rebalancer", "--rate", "10", "--storage", "redis" }, "error: --rebalancer goes with --silos")]
    [InlineData(new[] { "--stop-silo", "--rate", "10", "--storage", "redis" }, "error: --stop-silo goes with --silos")]
    [InlineData(new[] { "--silos", "1", "--stop-silo", "--rate", "10", "--storage", "redis", "--machines", "30" }, "error: --stop-silo needs --silos 2 or more")]
    [InlineData(new[] { "--silos", "2", "--join-silo", "--stop-silo", "--rate", "10", "--storage", "redis", "--machines", "30" }, "error: --join-silo and --stop-silo are measured in separate runs")]
    [InlineData(new[] { "--answer-labels", "1" }, "error: --answer-labels must be in [0, 3600] seconds and goes with --rate on the embedded silo")]
    [InlineData(new[] { "--answer-labels", "-1", "--rate", "10" }, "error: --answer-labels must be in [0, 3600] seconds")]
    [InlineData(new[] { "--answer-labels", "1", "--rate", "10", "--storage", "redis", "--silos", "2" }, "error: --answer-labels must be in [0, 3600] seconds and goes with --rate on the embedded silo")]
    public async Task SiloProcessOptionsAreCheckedBeforeStartingAnything(string[] options, string message)
    {
        var (code, output, error) = await Run(["bench", "cluster", .. options]);
        Assert.Equal(CliRunner.BadInput, code);
        Assert.Equal("", output);
        Assert.StartsWith(message, error);
    }

    [Theory]
    [InlineData("--rate", "0", "error: --rate must be in (0, 1000000] clips/s")]
    [InlineData("--storage", "mongo", "error: --storage: 'mongo' must be sqlite or redis")]
    public async Task OpenLoopOptionsAreChecked(string option, string value, string message)
    {
        string[] args = option == "--storage" ? ["bench", "cluster", "--rate", "10", option, value] : ["bench", "cluster", option, value];
        var (code, _, error) = await Run(args);
        Assert.Equal(CliRunner.BadInput, code);
        Assert.StartsWith(message, error);
    }
}
