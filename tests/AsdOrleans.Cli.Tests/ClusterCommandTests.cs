using System.Net;
using System.Net.Sockets;
using AsdOrleans.Cli.Commands;
using AsdOrleans.Audio;
using AsdOrleans.Audio.Features;
using AsdOrleans.Datasets.Synthesis;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Model;
using AsdOrleans.Silo;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Cli.Tests;

/// <summary>`asd enroll` and `asd push --oracle` against a real silo on 127.0.0.1 with a tiny encoder.</summary>
public sealed class ClusterCommandTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-cluster-cli-").FullName;
    private WebApplication _app = null!;
    private string _url = "";

    public async ValueTask InitializeAsync()
    {
        var architecture = new EncoderArchitecture { Width = 4, EmbeddingDimension = 16 };
        using var model = EncoderModel.Untrained(architecture, seed: 4, TorchSharp.torch.CPU);
        model.Save(Path.Combine(_dir, "tiny.asdm"));
        var plan = SynthPlan.Create(new SynthSettings { MachineTypes = 1, SourceTrain = 12, TargetTrain = 2, Test = 16, Seconds = 1, Seed = 2 });
        foreach (var clip in plan.Clips)
        {
            string folder = Path.Combine(_dir, clip.Split == SynthSplit.Train ? "train" : "test");
            Directory.CreateDirectory(folder);
            WavEncoder.WriteMono16(Path.Combine(folder, clip.FileName), ClipSynthesizer.Render(clip), 16_000);
        }
        (_app, var address) = await SiloApp.StartOnLoopbackAsync(SiloSettings("data"));
        _url = address.ToString();
    }

    /// <summary>A second silo whose machines keep one open label request: each new request withdraws the one before.</summary>
    private async Task<(WebApplication App, string Url)> StartSiloWithOneOpenRequest(string dataFolder)
    {
        var settings = SiloSettings(dataFolder);
        settings["Asd:MaxPendingLabelRequests"] = "1";
        var (app, address) = await SiloApp.StartOnLoopbackAsync(settings);
        return (app, address.ToString());
    }

    /// <summary>A loopback silo on the tiny encoder, with the three keys the tests use.</summary>
    private Dictionary<string, string?> SiloSettings(string dataFolder) => new()
    {
        ["Asd:DataDirectory"] = Path.Combine(_dir, dataFolder),
        ["Asd:ModelPath"] = Path.Combine(_dir, "tiny.asdm"),
        ["Asd:Device"] = "cpu",
        ["Asd:ApiKeys:Device:0"] = "dev",
        ["Asd:ApiKeys:Labeller:0"] = "lab",
        ["Asd:ApiKeys:Labellers:ruth"] = "ruth-key", // one person's own key
        ["Asd:ApiKeys:Operator:0"] = "op",
        ["Asd:ApiKeys:Gateways:line9:Key"] = "line9-key", ["Asd:ApiKeys:Gateways:line9:Machines:0"] = "cli.line9-*", // one gateway's own key
    };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Machines_list_names_a_machine_that_cannot_be_read_and_lists_the_others()
    {
        foreach (var machine in new[] { "cli.ok-1", "cli.bad-1" })
        {
            var (configured, _, configureError) = await CliHarness.Run("machines", "configure", "--url", _url, "--key", "op", "--machine", machine, "--budget", "0.2");
            Assert.True(configured == 0, configureError);
        }
        await StoredGrainState.DeactivateMachines(_app.Services.GetRequiredService<IGrainFactory>());
        Assert.Equal(1, StoredGrainState.MakeUnreadable(Path.Combine(_dir, "data"), "machine", "cli.bad-1"));

        var (code, output, error) = await CliHarness.Run("machines", "list", "--url", _url, "--key", "lab");
        Assert.True(code == 0, error + output);
        Assert.Contains("unreadable", output.Split('\n').Single(line => line.Contains("cli.bad-1") && !line.Contains("cannot be read")));
        Assert.Contains("0.20", output.Split('\n').Single(line => line.Contains("cli.ok-1")));
        Assert.Contains("cli.bad-1 cannot be read: its stored state could not be loaded", output);
        Assert.Contains("2 machines, 1 unreadable", output);
    }

    [Fact]
    public async Task Enroll_then_push_with_the_oracle_labels_what_it_is_asked_and_reports_auc()
    {
        var (code, output, error) = await CliHarness.Run("enroll", "--url", _url, "--key", "op", "--machine", "cli.m1", "--data", Path.Combine(_dir, "train"));
        Assert.True(code == 0, error);
        Assert.Contains("enrolled cli.m1 from 14 clips", output);

        (code, output, error) = await CliHarness.Run("push", "--url", _url, "--key", "dev", "--labeller-key", "lab", "--machine", "cli.m1",
            "--data", Path.Combine(_dir, "test"), "--oracle", "--shuffle-seed", "3");
        Assert.True(code == 0, error);
        Assert.Contains("pushed 16 clips", output);
        Assert.Contains("prequential AUC", output);
        var requested = int.Parse(System.Text.RegularExpressions.Regex.Match(output, @"(\d+) label requests").Groups[1].Value);
        Assert.Contains($"{requested} answered", output);
        Assert.True(requested > 0);
        // The machine's own account of its budget follows, read with the labeller's key.
        Assert.Matches($@"cli\.m1: {requested} label requests over 16 clips since enrollment, realised 0\.\d{{3}} against b = ", output);
    }

    [Fact]
    public async Task Push_with_the_oracle_counts_answers_that_came_too_late_and_goes_on()
    {
        // A silo that keeps one open request per machine: with 16 clips in flight, each new request withdraws the one
        // before it, so the oracle's answers (sent after each verdict) mostly arrive for requests no longer open.
        var (tight, url) = await StartSiloWithOneOpenRequest("data-tight");
        try
        {
            await EnrollAskingForEveryClip(url, "cli.tight");
            var (code, output, error) = await CliHarness.Run("push", "--url", url, "--key", "dev", "--labeller-key", "lab", "--machine", "cli.tight",
                "--data", Path.Combine(_dir, "test"), "--oracle", "--concurrency", "16");
            Assert.True(code == 0, error);
            var counts = System.Text.RegularExpressions.Regex.Match(output,
                @"(\d+) label requests \([^)]*\), (\d+) answered, (\d+) no longer open when the oracle answered \(expired, withdrawn beyond the machine's limit of open requests, or lost with a silo\): not applied");
            Assert.True(counts.Success, output);
            int requested = int.Parse(counts.Groups[1].Value), answered = int.Parse(counts.Groups[2].Value), late = int.Parse(counts.Groups[3].Value);
            Assert.Equal(16, requested);
            Assert.Equal(requested, answered + late);
            // The machine's own account agrees: what the push reports as answered is what it applied, and each late
            // answer was for a request it had withdrawn.
            var status = await CliStatus("cli.tight", url);
            Assert.Equal(answered, status.GetProperty("normalLabels").GetInt64() + status.GetProperty("anomalousLabels").GetInt64());
            Assert.Equal(late, status.GetProperty("expiredLabelRequests").GetInt64());
            Assert.Equal(0, status.GetProperty("pendingLabelRequests").GetInt32());
        }
        finally
        {
            await tight.StopAsync();
            await tight.DisposeAsync();
        }
    }

    [Fact]
    public async Task Machines_configure_list_status_and_push_with_concurrency_writes_the_scores()
    {
        var (code, output, error) = await CliHarness.Run("machines", "configure", "--url", _url, "--key", "op", "--machine", "cli.fan-03",
            "--strategy", "random", "--budget", "0.5", "--seed", "7");
        Assert.True(code == 0, error);
        Assert.Contains("cli.fan-03: strategy random, budget 0.5", output);
        (code, _, error) = await CliHarness.Run("enroll", "--url", _url, "--key", "op", "--machine", "cli.fan-03", "--data", Path.Combine(_dir, "train"));
        Assert.True(code == 0, error);
        // configure keeps what it is not told: the budget stays 0.5 when only γ changes.
        (code, output, error) = await CliHarness.Run("machines", "configure", "--url", _url, "--key", "op", "--machine", "cli.fan-03", "--gamma", "0.25");
        Assert.True(code == 0, error);
        Assert.Contains("budget 0.5, γ 0.25, method default, scoring domain, budget start paced, decision thresholds per-domain, enrolled yes", output);
        // One φ for both domains takes effect on the enrolled machine at once.
        (code, output, error) = await CliHarness.Run("machines", "configure", "--url", _url, "--key", "op", "--machine", "cli.fan-03", "--decision-thresholds", "single");
        Assert.True(code == 0, error);
        Assert.Contains("decision thresholds single, enrolled yes", output);
        var single = await CliStatus("cli.fan-03");
        Assert.Equal(("single", System.Text.Json.JsonValueKind.Null), (single.GetProperty("decisionThresholds").GetString(), single.GetProperty("decisionThresholdTarget").ValueKind)); // one φ
        (code, output, error) = await CliHarness.Run("machines", "configure", "--url", _url, "--key", "op", "--machine", "cli.fan-03", "--decision-thresholds", "per-domain");
        Assert.True(code == 0, error);
        // An enrolled machine's scoring is not switched under it: the silo's refusal comes through as bad input.
        (code, _, error) = await CliHarness.Run("machines", "configure", "--url", _url, "--key", "op", "--machine", "cli.fan-03", "--scoring", "paper");
        Assert.Equal(2, code);
        Assert.Contains("re-enroll the machine under the new scoring", error);

        string csv = Path.Combine(_dir, "scores.csv");
        (code, output, error) = await CliHarness.Run("push", "--url", _url, "--key", "dev", "--machine", "cli.fan-03",
            "--data", Path.Combine(_dir, "test"), "--concurrency", "3", "--scores-out", csv);
        Assert.True(code == 0, error);
        Assert.Matches(@"pushed 16 clips .*; \d+ alerts \(", output);
        Assert.Contains("cli.fan-03: budget not shown (GET /api/machines/cli.fan-03: 403", output); // a device key alone cannot read it
        var lines = File.ReadAllLines(csv);
        Assert.Equal("file,clip_id,score,anomalous,label_requested,labelled,query_reason", lines[0]);
        Assert.Equal(17, lines.Length);
        int requested = lines.Skip(1).Count(l => l.Split(',')[4] == "1");
        // Random at b = 0.5: each request says it was random's draw or the budget's floor; a clip not asked about says nothing.
        foreach (var f in lines.Skip(1).Select(l => l.Split(',')))
            if (f[4] == "1") Assert.Contains(f[6], new[] { "random", "budget-floor" });
            else Assert.Equal("", f[6]);
        Assert.Matches(@"label requests \([^)]*;[^)]*\b\d+ random", output);
        // asd metrics reads the stream's scores back: the AUC the push printed, and the F1 of its alerts.
        string pushedAuc = System.Text.RegularExpressions.Regex.Match(output, @"prequential AUC (\d\.\d{4})").Groups[1].Value;
        var (metricsCode, metrics, metricsError) = await CliHarness.Run("metrics", csv, "--json");
        Assert.True(metricsCode == 0, metricsError);
        var evaluated = System.Text.Json.JsonDocument.Parse(metrics).RootElement;
        Assert.Equal(pushedAuc, evaluated.GetProperty("auc").GetDouble().ToString("F4", System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(evaluated.TryGetProperty("f1_source", out _) && evaluated.TryGetProperty("f1_target", out _), metrics); // the alerts, as decisions

        (code, output, error) = await CliHarness.Run("machines", "list", "--url", _url, "--key", "lab");
        Assert.True(code == 0, error);
        var row = output.Split('\n').Single(line => line.Contains("cli.fan-03"));
        Assert.Contains("domain", row);          // the scoring by name
        Assert.Contains("model enc-", row);      // the embedder, and which model
        Assert.DoesNotContain("overspent", row); // 16 clips: too few to judge
        var status = await CliStatus("cli.fan-03");
        Assert.Equal(16, status.GetProperty("clipsSeen").GetInt64());
        Assert.Equal(requested, status.GetProperty("pendingLabelRequests").GetInt32());
        // The machine counts the floor's requests as the scores file names them, and the list shows them beside its queries.
        int floor = lines.Skip(1).Count(l => l.Split(',')[6] == "budget-floor");
        Assert.Equal(floor, status.GetProperty("forcedQueries").GetInt64());
        Assert.Contains(floor > 0 ? $"{requested} ({floor} forced)" : $" {requested} ", row);
        (code, _, error) = await CliHarness.Run("machines", "configure", "--url", _url, "--key", "lab", "--machine", "cli.fan-03", "--budget", "0.1");
        Assert.Equal(2, code);
        Assert.Contains("403", error);
    }

    [Fact]
    public async Task Machines_configure_sets_the_method_scoring_budget_start_and_embedder_by_name()
    {
        async Task<string> Configure(params string[] options)
        {
            var (code, output, error) = await CliHarness.Run(["machines", "configure", "--url", _url, "--key", "op", "--machine", "cli.new-09", .. options]);
            Assert.True(code == 0, error);
            return output;
        }
        Assert.Contains("budget 0.3, γ 0.5, method default, scoring domain, budget start paced", await Configure("--budget", "0.3"));
        // The paper's method: its own scoring and budget start; the budget is the operator's and stays.
        Assert.Contains("budget 0.3, γ 0.5, method paper, scoring paper, budget start paper, decision thresholds single", await Configure("--method", "paper"));
        Assert.Contains("method paper, scoring domain, budget start paper", await Configure("--scoring", "domain"));
        Assert.Contains("budget 0.3, γ 0.5, method default, scoring domain, budget start paced", await Configure("--method", "default"));
        await Configure("--embedder", "spectral", "--clusters", "16", "--reference-cap", "256", "--anomaly-cap", "64", "--score-cap", "500", "--precision", "fp32");
        var set = (await CliStatus("cli.new-09")).GetProperty("settings");
        Assert.Equal("spectral", set.GetProperty("embedder").GetString());
        Assert.Equal([16, 256, 64, 500], new[] { "sourceClusters", "referenceCap", "anomalyCap", "scoreCap" }.Select(name => set.GetProperty(name).GetInt32()));
        Assert.Equal("fp32", set.GetProperty("embeddingPrecision").GetString());

        var before = await CliStatus("cli.new-09");
        var (badCode, _, badError) = await CliHarness.Run("machines", "configure", "--url", _url, "--key", "op", "--machine", "cli.new-09", "--budget-start", "magic");
        Assert.Equal(2, badCode);
        Assert.Contains("magic", badError);
        Assert.Equal(before.GetRawText(), (await CliStatus("cli.new-09")).GetRawText()); // refused: nothing changed
    }

    /// <summary>Configures <paramref name="machine"/> to ask for every clip's label (random, b = 1) and enrolls it.</summary>
    private async Task EnrollAskingForEveryClip(string url, string machine)
    {
        var (code, _, error) = await CliHarness.Run("machines", "configure", "--url", url, "--key", "op", "--machine", machine, "--strategy", "random", "--budget", "1");
        Assert.True(code == 0, error);
        (code, _, error) = await CliHarness.Run("enroll", "--url", url, "--key", "op", "--machine", machine, "--data", Path.Combine(_dir, "train"));
        Assert.True(code == 0, error);
    }

    /// <summary>`asd machines status` with the labeller key, on this class's silo or the one at <paramref name="url"/>.</summary>
    private async Task<System.Text.Json.JsonElement> CliStatus(string machine, string? url = null)
    {
        var (code, output, error) = await CliHarness.Run("machines", "status", "--url", url ?? _url, "--key", "lab", "--machine", machine);
        Assert.True(code == 0, error);
        return System.Text.Json.JsonDocument.Parse(output).RootElement.Clone();
    }

    /// <summary>`asd label next` on one machine, its keys typed from <paramref name="keys"/>.</summary>
    private async Task<(int Code, string Output, string Error)> LabelNext(string keys, string machine, string saveDir, params string[] more)
    {
        var before = LabelNextCommand.Input;
        LabelNextCommand.Input = () => new StringReader(keys);
        try
        {
            return await CliHarness.Run(["label", "next", "--url", _url, "--key", "lab", "--machine", machine, "--save-dir", saveDir, .. more]);
        }
        finally
        {
            LabelNextCommand.Input = before;
        }
    }

    [Fact]
    public async Task Label_next_saves_answers_and_skips_from_a_script_of_keys()
    {
        await EnrollAskingForEveryClip(_url, "cli.saw-05");
        var (code, _, error) = await CliHarness.Run("push", "--url", _url, "--key", "dev", "--machine", "cli.saw-05", "--data", Path.Combine(_dir, "test"));
        Assert.True(code == 0, error);

        // Write the first clip, answer it anomalous; skip the second; answer the third normal; quit.
        string saved = Path.Combine(_dir, "saved");
        (code, var output, error) = await LabelNext("w\nx\na\ns\nn\nq\n", "cli.saw-05", saved);
        Assert.True(code == 0, error);
        Assert.Contains("cli.saw-05 ", output);
        Assert.Contains("vs threshold", output);
        Assert.Single(Directory.GetFiles(saved, "cli.saw-05_*.wav"));
        Assert.Contains("p, r, w, n, a, d, s or q", output); // x is not a key
        Assert.Contains("labelled anomalous", output);
        Assert.Contains("labelled normal", output);
        Assert.Contains("2 answered", output);
        var status = await CliStatus("cli.saw-05");
        Assert.Equal(1, status.GetProperty("normalLabels").GetInt64());
        Assert.Equal(1, status.GetProperty("anomalousLabels").GetInt64());
        Assert.Equal(14, status.GetProperty("pendingLabelRequests").GetInt32()); // 16 asked, 2 answered, the skipped one still waits
    }

    [Fact]
    public async Task Push_says_when_the_machine_had_the_clip_ids_already()
    {
        await EnrollAskingForEveryClip(_url, "cli.twice-02");
        var (code, output, error) = await CliHarness.Run("push", "--url", _url, "--key", "dev", "--machine", "cli.twice-02", "--data", Path.Combine(_dir, "test"));
        Assert.True(code == 0, error);
        Assert.DoesNotContain("had already", output);
        (code, output, error) = await CliHarness.Run("push", "--url", _url, "--key", "dev", "--machine", "cli.twice-02", "--data", Path.Combine(_dir, "test"));
        Assert.True(code == 0, error);
        Assert.Contains("16 of the 16 clip ids the machine had already: they got their first verdicts and were not scored again", output);
        Assert.Equal(16, (await CliStatus("cli.twice-02")).GetProperty("clipsSeen").GetInt64());

        // Once people have answered, a re-enrollment (which discards their labels) has to be asked for by name.
        (code, _, error) = await CliHarness.Run("label", "submit", "--url", _url, "--key", "lab", "--machine", "cli.twice-02",
            "--clip", Path.GetFileNameWithoutExtension(Directory.GetFiles(Path.Combine(_dir, "test")).Order(StringComparer.Ordinal).First()), "--label", "normal");
        Assert.True(code == 0, error);
        (code, _, error) = await CliHarness.Run("enroll", "--url", _url, "--key", "op", "--machine", "cli.twice-02", "--data", Path.Combine(_dir, "train"));
        Assert.Equal(2, code);
        Assert.Contains("cli.twice-02 has 1 human label(s)", error);
        Assert.Equal(1, (await CliStatus("cli.twice-02")).GetProperty("normalLabels").GetInt64());
        Assert.Contains("pass --keep-labels to carry them", error);
        (code, _, error) = await CliHarness.Run("enroll", "--url", _url, "--key", "op", "--machine", "cli.twice-02", "--data", Path.Combine(_dir, "train"), "--replace", "--keep-labels");
        Assert.Equal(2, code);
        Assert.Contains("pass one", error);
        // A new encoder on the same machine keeps them: the silo embeds the labelled clip's kept audio again.
        (code, output, error) = await CliHarness.Run("enroll", "--url", _url, "--key", "op", "--machine", "cli.twice-02", "--data", Path.Combine(_dir, "train"), "--keep-labels");
        Assert.True(code == 0, error);
        Assert.Contains("kept 1 of 1 label(s): 1 normal, 0 anomalous", output);
        Assert.Equal(1, (await CliStatus("cli.twice-02")).GetProperty("normalLabels").GetInt64());
        (code, output, error) = await CliHarness.Run("enroll", "--url", _url, "--key", "op", "--machine", "cli.twice-02", "--data", Path.Combine(_dir, "train"), "--replace");
        Assert.True(code == 0, error);
        Assert.Contains("replaced: the 1 label(s) of the earlier enrollment no longer count", output);
        Assert.Equal(0, (await CliStatus("cli.twice-02")).GetProperty("normalLabels").GetInt64());
    }

    [Fact]
    public async Task Machines_retire_asks_for_yes_and_then_removes_the_machine()
    {
        await EnrollAskingForEveryClip(_url, "cli.retired-01");
        var (code, _, error) = await CliHarness.Run("machines", "retire", "--url", _url, "--key", "op", "--machine", "cli.retired-01");
        Assert.Equal(2, code);
        Assert.Contains("pass --yes", error);
        Assert.False((await CliStatus("cli.retired-01")).GetProperty("clipsSeen").ValueKind == System.Text.Json.JsonValueKind.Undefined); // still there
        (code, var output, error) = await CliHarness.Run("machines", "retire", "--url", _url, "--key", "op", "--machine", "cli.retired-01", "--yes");
        Assert.True(code == 0, error);
        Assert.Contains("retired cli.retired-01: 0 normal and 0 anomalous labels, 0 clips", output);
        (code, _, error) = await CliHarness.Run("machines", "status", "--url", _url, "--key", "lab", "--machine", "cli.retired-01");
        Assert.Equal(2, code);
        Assert.Contains("no machine 'cli.retired-01'", error);
    }

    [Fact]
    public async Task Push_with_retries_says_why_it_waits_instead_of_falling_silent()
    {
        // A silo that is not there (yet): every try fails to connect, and each retry is announced on stderr.
        string nobody = $"http://127.0.0.1:{AsdOrleans.Silo.SiloApp.FreeLoopbackPort()}";
        var (code, _, error) = await CliHarness.Run("push", "--url", nobody, "--key", "dev", "--machine", "cli.wait-01",
            "--data", Path.Combine(_dir, "test"), "--retries", "2", "--concurrency", "1");
        Assert.Equal(2, code);
        Assert.Contains("try 2 of 3 in", error);
        Assert.Contains("try 3 of 3 in", error);
        Assert.Contains("cannot reach the silo", error);
    }

    [Fact]
    public async Task Label_next_shows_each_clip_against_the_threshold_it_was_compared_with()
    {
        await EnrollAskingForEveryClip(_url, "cli.phi-09");
        var (code, _, error) = await CliHarness.Run("push", "--url", _url, "--key", "dev", "--machine", "cli.phi-09", "--data", Path.Combine(_dir, "test"));
        Assert.True(code == 0, error);
        (code, var listed, error) = await CliHarness.Run("label", "list", "--url", _url, "--key", "lab", "--machine", "cli.phi-09", "--json");
        Assert.True(code == 0, error);
        var asked = System.Text.Json.JsonDocument.Parse(listed).RootElement.EnumerateArray()
            .ToDictionary(r => r.GetProperty("clipId").GetString()!, r => (Score: r.GetProperty("score").GetDouble(), Phi: r.GetProperty("decisionThreshold").GetDouble()));
        // The machine's φ moves on (a lower quantile); the requests keep the φ their clips were compared with.
        (code, _, error) = await CliHarness.Run("machines", "configure", "--url", _url, "--key", "op", "--machine", "cli.phi-09", "--strategy", "random", "--budget", "1", "--decision-quantile", "0.5");
        Assert.True(code == 0, error);
        double machinePhi = (await CliStatus("cli.phi-09")).GetProperty("decisionThreshold").GetDouble();
        Assert.All(asked.Values, r => Assert.True(Math.Abs(r.Phi - machinePhi) > 1e-3, $"φ {r.Phi} vs the machine's {machinePhi}"));

        (code, var output, error) = await LabelNext(string.Concat(Enumerable.Repeat("s\n", asked.Count)) + "q\n", "cli.phi-09", Path.Combine(_dir, "saved-phi"));
        Assert.True(code == 0, error);
        var shown = System.Text.RegularExpressions.Regex.Matches(output, @"cli\.phi-09 (\S+): score [0-9.]+ vs threshold ([0-9.]+)( \(alert\))?");
        Assert.Equal(asked.Count, shown.Count);
        foreach (System.Text.RegularExpressions.Match line in shown)
        {
            var (score, phi) = asked[line.Groups[1].Value];
            Assert.Equal(phi.ToString("0.0000", System.Globalization.CultureInfo.InvariantCulture), line.Groups[2].Value);
            Assert.Equal(score > phi, line.Groups[3].Success);
        }
    }

    [Fact]
    public async Task A_labeller_who_cannot_tell_declines_with_label_decline_or_d_in_label_next()
    {
        await EnrollAskingForEveryClip(_url, "cli.dec-07");
        var (code, _, error) = await CliHarness.Run("push", "--url", _url, "--key", "dev", "--machine", "cli.dec-07", "--data", Path.Combine(_dir, "test"));
        Assert.True(code == 0, error);
        (code, var listed, error) = await CliHarness.Run("label", "list", "--url", _url, "--key", "lab", "--machine", "cli.dec-07", "--json");
        Assert.True(code == 0, error);
        string first = System.Text.Json.JsonDocument.Parse(listed).RootElement[0].GetProperty("clipId").GetString()!;

        // One request declined by name, twice (the second changes nothing), then labelling it is refused.
        (code, var output, error) = await CliHarness.Run("label", "decline", "--url", _url, "--key", "lab", "--machine", "cli.dec-07", "--clip", first);
        Assert.True(code == 0, error);
        Assert.Contains($"cli.dec-07 {first}: declined", output);
        (code, output, error) = await CliHarness.Run("label", "decline", "--url", _url, "--key", "lab", "--machine", "cli.dec-07", "--clip", first);
        Assert.True(code == 0, error);
        Assert.Contains("already closed", output);
        (code, _, error) = await CliHarness.Run("label", "submit", "--url", _url, "--key", "lab", "--machine", "cli.dec-07", "--clip", first, "--label", "normal");
        Assert.Equal(2, code);
        Assert.Contains("410", error);

        // In the loop: d declines the next one, n answers the one after; both under the labeller's name.
        // r plays a clip of the machine labelled normal, once there is one: none before the n, the n's clip after it.
        (code, output, error) = await LabelNext("r\nd\nn\nr\nq\n", "cli.dec-07", Path.Combine(_dir, "saved-dec"), "--labeller", "judy");
        Assert.True(code == 0, error);
        Assert.Contains("answering as judy", output);
        Assert.Contains("no clip of this machine labelled normal is kept yet", output);
        Assert.Matches(@"a normal clip: \S+, labelled normal .*\n.*(played with|no audio player found)", output);
        Assert.Contains("[d]ecline", output);
        Assert.Contains("declined: the request is closed without a label", output);
        Assert.Contains("1 answered, 1 declined", output);
        var status = await CliStatus("cli.dec-07");
        Assert.Equal(1, status.GetProperty("normalLabels").GetInt64() + status.GetProperty("anomalousLabels").GetInt64());
        Assert.Equal((2, 0), (status.GetProperty("declinedLabelRequests").GetInt64(), status.GetProperty("expiredLabelRequests").GetInt64())); // counted apart
        Assert.Equal(13, status.GetProperty("pendingLabelRequests").GetInt32()); // 16 asked, 2 declined, 1 answered
        (code, output, error) = await CliHarness.Run("machines", "list", "--url", _url, "--key", "op");
        Assert.True(code == 0, error);
        Assert.Contains("13 (2 declined)", output.Split('\n').Single(line => line.Contains("cli.dec-07")));
        using var http = new HttpClient { BaseAddress = new Uri(_url) };
        http.DefaultRequestHeaders.Add("X-Api-Key", "lab");
        var byName = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/api/machines/cli.dec-07/scores")).RootElement.EnumerateArray()
            .Where(p => p.GetProperty("closedBy").ValueKind == System.Text.Json.JsonValueKind.String)
            .Select(p => (p.GetProperty("requestOutcome").GetString(), p.GetProperty("closedBy").GetString())).Order().ToList();
        Assert.Equal([("declined", "judy"), ("normal", "judy")], byName); // the first decline named nobody
    }

    [Fact]
    public async Task Label_next_points_at_a_gateways_audio_instead_of_failing_on_audio_the_silo_never_had()
    {
        await EnrollAskingForEveryClip(_url, "cli.gw-06");
        // A gateway's clip (the .NET client's path): the silo keeps no audio, the request carries the gateway's reference.
        var wav = await File.ReadAllBytesAsync(Directory.GetFiles(Path.Combine(_dir, "test")).Order(StringComparer.Ordinal).First());
        var verdict = await _app.Services.GetRequiredService<AsdOrleans.Application.MachineUseCases>()
            .IngestClip("cli.gw-06", "gw-1", wav, audio: null, audioReference: "s3://plant-a/clips/gw-1.wav");
        Assert.True(verdict.LabelRequested);

        string saved = Path.Combine(_dir, "saved-gw");
        var (code, output, error) = await LabelNext("p\nw\nn\nq\n", "cli.gw-06", saved);
        Assert.True(code == 0, error);
        Assert.Contains("audio at the gateway: s3://plant-a/clips/gw-1.wav", output);
        Assert.Equal(2, output.Split("the silo holds no audio for this clip; open it at the gateway: s3://plant-a/clips/gw-1.wav").Length - 1); // p and w
        Assert.False(Directory.Exists(saved) && Directory.GetFiles(saved).Length > 0, "nothing to write");
        Assert.Contains("labelled normal", output);
        Assert.Contains("1 answered", output);
    }

    [Fact]
    public async Task Label_next_says_when_a_request_went_while_the_labeller_listened_and_goes_on()
    {
        var (silo, url) = await StartSiloWithOneOpenRequest("data-late");
        var before = LabelNextCommand.Input;
        try
        {
            await EnrollAskingForEveryClip(url, "cli.late");
            var (code, _, error) = await CliHarness.Run("push", "--url", url, "--key", "dev", "--machine", "cli.late", "--data", Path.Combine(_dir, "test"));
            Assert.True(code == 0, error);

            // While the labeller listens to the one open request, the device sends another clip, which withdraws it.
            string anotherClip = Directory.GetFiles(Path.Combine(_dir, "test"), "*.wav").Order(StringComparer.Ordinal).First();
            LabelNextCommand.Input = () => new ScriptedLabeller(["n", "a"], async () =>
            {
                using var device = new ClusterHttp(url, "dev");
                await device.SendAsync(HttpMethod.Post, "/api/machines/cli.late/clips?clipId=sent-meanwhile",
                    ClusterHttp.Wav(await File.ReadAllBytesAsync(anotherClip)), CancellationToken.None);
            });
            (code, var output, error) = await CliHarness.Run("label", "next", "--url", url, "--key", "lab", "--machine", "cli.late");
            Assert.True(code == 0, error);
            Assert.Contains("not applied: machine cli.late: the label request for clip", output);
            Assert.Contains("cli.late sent-meanwhile: score", output); // the queue went on to the new request
            Assert.Contains("labelled anomalous", output);
            Assert.Contains("no pending label requests", output);
            Assert.Contains("1 answered, 1 not applied (the request expired, was withdrawn or was answered by someone else meanwhile)", output);

            var status = await CliStatus("cli.late", url);
            Assert.Equal(0, status.GetProperty("normalLabels").GetInt64()); // the refused answer changed nothing
            Assert.Equal(1, status.GetProperty("anomalousLabels").GetInt64());
            Assert.Equal(16, status.GetProperty("expiredLabelRequests").GetInt64()); // 15 by the push, 1 by the clip sent meanwhile
        }
        finally
        {
            LabelNextCommand.Input = before;
            await silo.StopAsync();
            await silo.DisposeAsync();
        }
    }

    [Fact]
    public async Task Label_next_does_not_count_an_answer_that_another_labeller_gave_first_the_same_way()
    {
        var (silo, url) = await StartSiloWithOneOpenRequest("data-same");
        var before = LabelNextCommand.Input;
        try
        {
            await EnrollAskingForEveryClip(url, "cli.same");
            string[] clips = Directory.GetFiles(Path.Combine(_dir, "test"), "*.wav").Order(StringComparer.Ordinal).ToArray();
            using var device = new ClusterHttp(url, "dev");
            using var other = new ClusterHttp(url, "lab");
            async Task Open(string clipId, string wav)
                => await device.SendAsync(HttpMethod.Post, $"/api/machines/cli.same/clips?clipId={clipId}", ClusterHttp.Wav(await File.ReadAllBytesAsync(wav)), CancellationToken.None);

            // While this labeller listens, another labels the clip normal; this labeller's "normal" is then a repeat.
            await Open("same-1", clips[0]);
            LabelNextCommand.Input = () => new ScriptedLabeller(["n"], () => other.SendAsync(HttpMethod.Post, "/api/machines/cli.same/clips/same-1/label",
                System.Net.Http.Json.JsonContent.Create(new { label = "normal" }), CancellationToken.None));
            var (code, output, error) = await CliHarness.Run("label", "next", "--url", url, "--key", "lab", "--machine", "cli.same");
            Assert.True(code == 0, error);
            Assert.Contains("not applied: already labelled normal meanwhile; nothing changed", output);
            Assert.DoesNotContain("labelled normal;", output);
            Assert.Contains("0 answered, 1 not applied", output);

            // The same for a decline after another labeller's.
            await Open("same-2", clips[1]);
            LabelNextCommand.Input = () => new ScriptedLabeller(["d"], () => other.SendAsync(HttpMethod.Post, "/api/machines/cli.same/clips/same-2/decline", null, CancellationToken.None));
            (code, output, error) = await CliHarness.Run("label", "next", "--url", url, "--key", "lab", "--machine", "cli.same");
            Assert.True(code == 0, error);
            Assert.Contains("not declined: the request was already closed meanwhile", output);
            Assert.Contains("0 answered, 1 not applied", output);
            Assert.DoesNotContain("declined: the request is closed without a label", output);
        }
        finally
        {
            LabelNextCommand.Input = before;
            await silo.StopAsync();
            await silo.DisposeAsync();
        }
    }

    [Fact]
    public async Task Label_next_claims_what_it_plays_and_passes_by_what_another_labeller_is_hearing()
    {
        await EnrollAskingForEveryClip(_url, "cli.claim-08");
        var (code, _, error) = await CliHarness.Run("push", "--url", _url, "--key", "dev", "--machine", "cli.claim-08", "--data", Path.Combine(_dir, "test"));
        Assert.True(code == 0, error);
        using var http = new HttpClient { BaseAddress = new Uri(_url) };
        http.DefaultRequestHeaders.Add("X-Api-Key", "lab");
        async Task<System.Text.Json.JsonElement[]> Listed() => System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/api/label-requests?machine=cli.claim-08"))
            .RootElement.EnumerateArray().Select(r => r.Clone()).ToArray();
        string[] clips = (await Listed()).Select(r => r.GetProperty("clipId").GetString()!).ToArray();
        using (var kim = new HttpRequestMessage(HttpMethod.Post, $"/api/machines/cli.claim-08/clips/{clips[0]}/claim"))
        {
            kim.Headers.Add("X-Labeller", "kim"); // another labeller is listening to the oldest clip
            Assert.True((await http.SendAsync(kim)).IsSuccessStatusCode);
        }

        // liz's loop passes kim's clip by, holds the one it shows while she listens, and lets it go when she skips it.
        string? heldWhileShown = null;
        var before = LabelNextCommand.Input;
        LabelNextCommand.Input = () => new ScriptedLabeller(["s", "q"], async () =>
            heldWhileShown = (await Listed()).Single(r => r.GetProperty("clipId").GetString() == clips[1]).GetProperty("claimedBy").GetString());
        try
        {
            (code, var output, error) = await CliHarness.Run("label", "next", "--url", _url, "--key", "lab", "--machine", "cli.claim-08", "--labeller", "liz");
            Assert.True(code == 0, error);
            Assert.DoesNotContain($"cli.claim-08 {clips[0]}: score", output);
            Assert.Contains($"cli.claim-08 {clips[1]}: score", output);
            Assert.Contains($"cli.claim-08 {clips[2]}: score", output);
        }
        finally
        {
            LabelNextCommand.Input = before;
        }
        Assert.Equal("liz", heldWhileShown);
        var after = await Listed();
        Assert.Equal(["kim"], after.Select(r => r.GetProperty("claimedBy").GetString()).OfType<string>()); // liz let hers go; kim's stands
        (code, var table, error) = await CliHarness.Run("label", "list", "--url", _url, "--key", "lab", "--machine", "cli.claim-08");
        Assert.True(code == 0, error);
        Assert.Contains("kim", table.Split('\n').Single(line => line.Contains(clips[0])));

        // With a key of her own, ruth needs no --labeller: the loop answers and claims as ruth, and refuses another name.
        (code, _, error) = await CliHarness.Run("label", "next", "--url", _url, "--key", "ruth-key", "--machine", "cli.claim-08", "--labeller", "liz");
        Assert.Equal(2, code);
        Assert.Contains("this key is ruth's", error);
        string? heldByRuth = null;
        LabelNextCommand.Input = () => new ScriptedLabeller(["q"], async () =>
            heldByRuth = (await Listed()).Single(r => r.GetProperty("clipId").GetString() == clips[1]).GetProperty("claimedBy").GetString());
        try
        {
            (code, var output, error) = await CliHarness.Run("label", "next", "--url", _url, "--key", "ruth-key", "--machine", "cli.claim-08");
            Assert.True(code == 0, error);
            Assert.Contains("answering as ruth", output);
        }
        finally
        {
            LabelNextCommand.Input = before;
        }
        Assert.Equal("ruth", heldByRuth);
    }

    /// <summary>Answers from a script; before the first answer it runs <paramref name="meanwhile"/>, as the world would.</summary>
    private sealed class ScriptedLabeller(string[] answers, Func<Task> meanwhile) : TextReader
    {
        private int _next;

        public override async ValueTask<string?> ReadLineAsync(CancellationToken cancellationToken)
        {
            if (_next == 0) await meanwhile();
            return _next < answers.Length ? answers[_next++] : null;
        }
    }

    [Fact]
    public async Task Wrong_keys_and_unreachable_silos_are_clear_errors()
    {
        var (code, _, error) = await CliHarness.Run("push", "--url", _url, "--key", "lab", "--machine", "cli.m2", "--data", Path.Combine(_dir, "test"));
        Assert.Equal(2, code);
        Assert.Contains("403", error);
        (code, _, error) = await CliHarness.Run("enroll", "--url", "http://127.0.0.1:1", "--key", "op", "--machine", "cli.m2", "--data", Path.Combine(_dir, "train"));
        Assert.Equal(2, code);
        Assert.Contains("cannot reach the silo", error);
        (code, _, error) = await CliHarness.Run("push", "--url", _url, "--key", "dev", "--machine", "cli.never-enrolled", "--data", Path.Combine(_dir, "test"));
        Assert.Equal(2, code);
        Assert.Contains("not enrolled", error);
    }

    [Fact]
    public async Task A_labeller_lists_requests_fetches_audio_and_answers_them()
    {
        var (code, _, error) = await CliHarness.Run("enroll", "--url", _url, "--key", "op", "--machine", "cli.m3", "--data", Path.Combine(_dir, "train"));
        Assert.True(code == 0, error);
        using (var http = new HttpClient { BaseAddress = new Uri(_url) })
        {
            http.DefaultRequestHeaders.Add("X-Api-Key", "op");
            var settings = await http.PutAsync("/api/machines/cli.m3", System.Net.Http.Json.JsonContent.Create(new { strategy = "random", budget = 1.0 }));
            Assert.True(settings.IsSuccessStatusCode);
        }
        (code, _, error) = await CliHarness.Run("push", "--url", _url, "--key", "dev", "--machine", "cli.m3", "--data", Path.Combine(_dir, "test"));
        Assert.True(code == 0, error);

        var (listed, output, listError) = await CliHarness.Run("label", "list", "--url", _url, "--key", "lab", "--machine", "cli.m3");
        Assert.True(listed == 0, listError);
        Assert.Contains("16 pending", output);
        Assert.Contains("why asked", output);
        string clip = Path.GetFileNameWithoutExtension(Directory.GetFiles(Path.Combine(_dir, "test")).Order(StringComparer.Ordinal).First());
        Assert.Contains(clip, output);
        (listed, output, listError) = await CliHarness.Run("label", "list", "--url", _url, "--key", "lab", "--machine", "cli.m3", "--json");
        Assert.True(listed == 0, listError);
        var asked = System.Text.Json.JsonDocument.Parse(output).RootElement.EnumerateArray().Select(r => r.GetProperty("queryReason").GetString()).ToList();
        Assert.Equal(Enumerable.Repeat("random", 16), asked); // random at b = 1: every clip by its draw, none by the budget's floor
        var first = System.Text.Json.JsonDocument.Parse(output).RootElement[0];
        Assert.Equal($"/api/machines/cli.m3/clips/{first.GetProperty("clipId").GetString()}/audio", first.GetProperty("audioUrl").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, first.GetProperty("audioReference").ValueKind); // the silo's own path stays inside

        string wav = Path.Combine(_dir, "heard.wav");
        (code, _, error) = await CliHarness.Run("label", "audio", "--url", _url, "--key", "lab", "--machine", "cli.m3", "--clip", clip, "--out", wav);
        Assert.True(code == 0, error);
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(_dir, "test", clip + ".wav")), await File.ReadAllBytesAsync(wav));
        (code, _, error) = await CliHarness.Run("label", "audio", "--url", _url, "--key", "lab", "--machine", "cli.m3", "--clip", clip, "--out", wav);
        Assert.Equal(2, code);
        Assert.Contains("already exists", error);

        (code, output, error) = await CliHarness.Run("label", "submit", "--url", _url, "--key", "lab", "--machine", "cli.m3", "--clip", clip, "--label", "normal");
        Assert.True(code == 0, error);
        Assert.Contains("labelled normal", output);
        (code, output, _) = await CliHarness.Run("label", "submit", "--url", _url, "--key", "lab", "--machine", "cli.m3", "--clip", clip, "--label", "normal");
        Assert.Equal(0, code);
        Assert.Contains("already labelled normal; nothing changed", output);
        (code, _, error) = await CliHarness.Run("label", "submit", "--url", _url, "--key", "lab", "--machine", "cli.m3", "--clip", clip, "--label", "anomalous");
        Assert.Equal(2, code);
        Assert.Contains("already labelled normal", error);
        (code, _, error) = await CliHarness.Run("label", "submit", "--url", _url, "--key", "lab", "--machine", "cli.m3", "--clip", "never-asked", "--label", "normal");
        Assert.Equal(2, code);
        Assert.Contains("no label request", error);
        (code, _, error) = await CliHarness.Run("label", "submit", "--url", _url, "--key", "lab", "--machine", "cli.m3", "--clip", clip, "--label", "maybe");
        Assert.Equal(2, code);
        (code, _, error) = await CliHarness.Run("label", "list", "--url", _url, "--key", "dev");
        Assert.Equal(2, code);
        Assert.Contains("403", error);

        (code, output, _) = await CliHarness.Run("label", "list", "--url", _url, "--key", "lab", "--machine", "cli.m3");
        Assert.Equal(0, code);
        Assert.Contains("15 pending", output);
        Assert.DoesNotContain(clip, output);
    }

    [Fact]
    public async Task Cluster_status_shows_what_the_silo_received_from_each_gateway()
    {
        var (code, _, error) = await CliHarness.Run("enroll", "--url", _url, "--key", "op", "--machine", "cli.line9-01", "--data", Path.Combine(_dir, "train"));
        Assert.True(code == 0, error);
        (code, _, error) = await CliHarness.Run("push", "--url", _url, "--key", "line9-key", "--machine", "cli.line9-01", "--data", Path.Combine(_dir, "test"));
        Assert.True(code == 0, error);
        using (var http = new HttpClient { BaseAddress = new Uri(_url) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/machines/cli.other-01/clips") { Content = new ByteArrayContent(new byte[44]) };
            request.Headers.Add("X-Api-Key", "line9-key");
            Assert.Equal(System.Net.HttpStatusCode.Forbidden, (await http.SendAsync(request, TestContext.Current.CancellationToken)).StatusCode); // not its machine
        }
        string output;
        (code, output, error) = await CliHarness.Run("cluster", "status", "--url", _url, "--key", "op");
        Assert.True(code == 0, error);
        Assert.Contains("clips received by gateway on silo ", output);
        Assert.Contains("sum by (gateway) (rate(asd_clips_received_total[5m]))", output);
        Assert.Matches(@"  line9: 16 clip\(s\), last \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ; 1 refusal\(s\), last 403 at \d{4}-", output);
        Assert.Contains("  (plant): 0 clip(s) (none since this silo started); 0 refusal(s)", output); // the plant-wide key sent none here

        (code, output, error) = await CliHarness.Run("cluster", "status", "--url", _url, "--key", "op", "--json");
        Assert.True(code == 0, error);
        var gateway = System.Text.Json.JsonDocument.Parse(output).RootElement.EnumerateArray().Single().GetProperty("gateways").EnumerateArray().First();
        Assert.Equal(("line9", 16, 1), (gateway.GetProperty("gateway").GetString(), gateway.GetProperty("clips").GetInt64(), gateway.GetProperty("refusals").GetInt64()));
    }

    [Fact]
    public async Task Cluster_status_warns_while_the_alert_webhook_refuses_and_says_why()
    {
        var settings = SiloSettings("webhook-silo");
        settings["Asd:AlertWebhook:Url"] = "http://127.0.0.1:9/hooks/asd"; // nothing listens there: every POST fails
        var (app, address) = await SiloApp.StartOnLoopbackAsync(settings);
        try
        {
            string url = address.ToString();
            var (code, _, error) = await CliHarness.Run("enroll", "--url", url, "--key", "op", "--machine", "cli.hook", "--data", Path.Combine(_dir, "train"));
            Assert.True(code == 0, error);
            (code, _, error) = await CliHarness.Run("push", "--url", url, "--key", "dev", "--machine", "cli.hook", "--data", Path.Combine(_dir, "test"));
            Assert.True(code == 0, error);
            string output = "";
            await Waiting.Until(async () =>
            {
                (code, output, error) = await CliHarness.Run("cluster", "status", "--url", url, "--key", "op");
                return code == 0 && output.Contains("warning: the alert webhook's last POST failed:", StringComparison.Ordinal);
            }, "the webhook's failure in cluster status", seconds: 30);
            Assert.Matches(@"alert webhook: http://127\.0\.0\.1:9/hooks/asd: [1-9]\d* alert\(s\) waiting, 1 of 32 shards failing", output);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task An_operator_lists_alerts_and_follows_new_ones_as_they_are_raised()
    {
        var (code, _, error) = await CliHarness.Run("enroll", "--url", _url, "--key", "op", "--machine", "cli.m5", "--data", Path.Combine(_dir, "train"));
        Assert.True(code == 0, error);
        (code, _, error) = await CliHarness.Run("push", "--url", _url, "--key", "dev", "--machine", "cli.m5", "--data", Path.Combine(_dir, "test"));
        Assert.True(code == 0, error);
        using var http = new HttpClient { BaseAddress = new Uri(_url) };
        http.DefaultRequestHeaders.Add("X-Api-Key", "lab");
        var fromApi = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/api/alerts?machine=cli.m5")).RootElement;
        Assert.True(fromApi.GetArrayLength() > 0, "the untrained encoder's machine raises alerts");

        // list: the API's alerts, newest first, as a table and as JSON.
        (code, var output, error) = await CliHarness.Run("alerts", "list", "--url", _url, "--key", "lab", "--machine", "cli.m5", "--json");
        Assert.True(code == 0, error);
        var listed = System.Text.Json.JsonDocument.Parse(output).RootElement;
        Assert.Equal(fromApi.EnumerateArray().Select(a => a.GetProperty("clipId").GetString()), listed.EnumerateArray().Select(a => a.GetProperty("clipId").GetString()));
        Assert.Equal(fromApi[0].GetProperty("score").GetDouble(), listed[0].GetProperty("score").GetDouble());
        Assert.Equal(fromApi[0].GetProperty("audioUrl").GetString(), listed[0].GetProperty("audioUrl").GetString()); // the newest alerts keep their audio
        Assert.StartsWith("/api/machines/cli.m5/clips/", listed[0].GetProperty("audioUrl").GetString());
        (code, output, error) = await CliHarness.Run("alerts", "list", "--url", _url, "--key", "lab", "--machine", "cli.m5");
        Assert.True(code == 0, error);
        Assert.Contains($"{fromApi.GetArrayLength()} alert(s)", output);
        Assert.Contains(fromApi[0].GetProperty("clipId").GetString()!, output);

        // An alert whose label request a labeller declines says so, in the table and the JSON, instead of "awaited".
        var open = fromApi.EnumerateArray().FirstOrDefault(a => a.GetProperty("labelRequested").GetBoolean() && a.GetProperty("requestOutcome").ValueKind == System.Text.Json.JsonValueKind.Null);
        Assert.True(open.ValueKind == System.Text.Json.JsonValueKind.Object, "an alert whose label request is still open");
        string openClip = open.GetProperty("clipId").GetString()!;
        Assert.Matches($@"{System.Text.RegularExpressions.Regex.Escape(openClip)}\s.*awaited", output);
        (code, _, error) = await CliHarness.Run("label", "decline", "--url", _url, "--key", "lab", "--machine", "cli.m5", "--clip", openClip, "--labeller", "frank smith");
        Assert.Equal(2, code);
        Assert.Contains("--labeller", error);
        (code, _, error) = await CliHarness.Run("label", "decline", "--url", _url, "--key", "lab", "--machine", "cli.m5", "--clip", openClip, "--labeller", "frank");
        Assert.True(code == 0, error);
        (code, output, error) = await CliHarness.Run("alerts", "list", "--url", _url, "--key", "lab", "--machine", "cli.m5");
        Assert.True(code == 0, error);
        Assert.Matches($@"{System.Text.RegularExpressions.Regex.Escape(openClip)}\s.*declined \(frank\)", output);
        (code, output, error) = await CliHarness.Run("alerts", "list", "--url", _url, "--key", "lab", "--machine", "cli.m5", "--json");
        Assert.True(code == 0, error);
        var declinedAlert = System.Text.Json.JsonDocument.Parse(output).RootElement.EnumerateArray().Single(a => a.GetProperty("clipId").GetString() == openClip);
        Assert.Equal(("declined", System.Text.Json.JsonValueKind.Null, "frank"),
            (declinedAlert.GetProperty("unanswered").GetString(), declinedAlert.GetProperty("label").ValueKind, declinedAlert.GetProperty("closedBy").GetString()));

        (code, output, _) = await CliHarness.Run("alerts", "list", "--url", _url, "--key", "lab", "--machine", "cli.m5", "--since", "2999-01-01T00:00:00Z");
        Assert.Equal(0, code);
        Assert.Contains("no alerts", output);
        (code, _, error) = await CliHarness.Run("alerts", "list", "--url", _url, "--key", "lab", "--since", "yesterday");
        Assert.Equal(2, code);
        Assert.Contains("--since", error);
        (code, _, error) = await CliHarness.Run("alerts", "list", "--url", _url, "--key", "dev");
        Assert.Equal(2, code);
        Assert.Contains("403", error);

        // follow: new alerts as they are raised; it stops after --count of them.
        // On a machine enrolled alike that took no clips yet: the push's own alerts, which travel on an Orleans stream
        // and may still be arriving, are not on it.
        (code, _, error) = await CliHarness.Run("enroll", "--url", _url, "--key", "op", "--machine", "cli.m5-follow", "--data", Path.Combine(_dir, "train"));
        Assert.True(code == 0, error);
        var follow = CliHarness.Run("alerts", "follow", "--url", _url, "--key", "lab", "--machine", "cli.m5-follow", "--count", "2", "--json");
        var pushed = await RaiseAlertsUntil(follow, new Uri(_url), "cli.m5-follow", fromApi[0].GetProperty("clipId").GetString()!, "again");
        (code, output, error) = await follow;
        Assert.True(code == 0, error);
        var seen = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => System.Text.Json.JsonDocument.Parse(line).RootElement).ToList();
        Assert.Equal(2, seen.Count);
        Assert.All(seen, a => Assert.Contains(a.GetProperty("clipId").GetString(), pushed));
        Assert.All(seen, a => Assert.True(a.GetProperty("score").GetDouble() > a.GetProperty("decisionThreshold").GetDouble()));
        Assert.All(seen, a => Assert.Equal($"/api/machines/cli.m5-follow/clips/{a.GetProperty("clipId").GetString()}/audio", a.GetProperty("audioUrl").GetString()));
        Assert.True(long.Parse(seen[1].GetProperty("id").GetString()!, System.Globalization.CultureInfo.InvariantCulture) > long.Parse(seen[0].GetProperty("id").GetString()!, System.Globalization.CultureInfo.InvariantCulture));

        // A first connection that fails ends the command (a typo is not retried forever); so does a refusal.
        (code, _, error) = await CliHarness.Run("alerts", "follow", "--url", "http://127.0.0.1:1", "--key", "lab");
        Assert.Equal(2, code);
        Assert.Contains("cannot reach the silo", error);
        (code, _, error) = await CliHarness.Run("alerts", "follow", "--url", _url, "--key", "nobody");
        Assert.Equal(2, code);
        Assert.Contains("401", error);
        (code, _, error) = await CliHarness.Run("alerts", "follow", "--url", _url, "--key", "lab", "--count", "0");
        Assert.Equal(2, code);
        Assert.Contains("--count", error);
    }

    [Fact]
    public async Task Following_alerts_rides_out_a_silo_restart()
    {
        var settings = SiloSettings("follow-data");
        var (first, address) = await SiloApp.StartOnLoopbackAsync(settings);
        string url = address.ToString();
        // A probe machine finds a clip that alerts; the followed one, enrolled alike, takes only the clips raised below.
        string alerting = await ProbeAndEnroll(url, "cli.m6");

        var follow = CliHarness.Run("alerts", "follow", "--url", url, "--key", "lab", "--machine", "cli.m6", "--count", "2", "--json");
        await Task.WhenAny(follow, Task.Delay(1000));
        await RaiseAlertsUntil(follow, address, "cli.m6", alerting, "before-restart", most: 1);
        await Task.WhenAny(follow, Task.Delay(1000));
        Assert.False(follow.IsCompleted, "one alert so far, at most");
        var stopping = System.Diagnostics.Stopwatch.StartNew();
        await first.StopAsync();
        await first.DisposeAsync();
        // An open event stream does not hold the silo up for the shutdown timeout (30 s).
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(15), $"the silo took {stopping.Elapsed.TotalSeconds:F1} s to stop");

        // The same address and data directory: the follower reconnects by itself and goes on.
        settings["urls"] = url;
        var (second, _) = await SiloApp.StartOnLoopbackAsync(settings);
        try
        {
            await RaiseAlertsUntil(follow, address, "cli.m6", alerting, "after-restart");
            var (code, output, error) = await follow;
            Assert.True(code == 0, error);
            Assert.Contains("reconnecting", error);
            var seen = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => System.Text.Json.JsonDocument.Parse(line).RootElement.GetProperty("clipId").GetString()).ToList();
            Assert.Equal(2, seen.Count);
            Assert.StartsWith("after-restart-", seen[1]);
        }
        finally
        {
            await second.StopAsync();
            await second.DisposeAsync();
        }
    }

    /// <summary>A probe machine on the silo at <paramref name="url"/> finds a test clip that alerts; <paramref name="machine"/>,
    /// enrolled alike, takes no clips yet. Returns the alerting clip's id.</summary>
    private async Task<string> ProbeAndEnroll(string url, string machine)
    {
        var (code, _, error) = await CliHarness.Run("enroll", "--url", url, "--key", "op", "--machine", machine + "-probe", "--data", Path.Combine(_dir, "train"));
        Assert.True(code == 0, error);
        (code, _, error) = await CliHarness.Run("push", "--url", url, "--key", "dev", "--machine", machine + "-probe", "--data", Path.Combine(_dir, "test"));
        Assert.True(code == 0, error);
        (code, var listed, error) = await CliHarness.Run("alerts", "list", "--url", url, "--key", "lab", "--machine", machine + "-probe", "--json");
        Assert.True(code == 0, error);
        (code, _, error) = await CliHarness.Run("enroll", "--url", url, "--key", "op", "--machine", machine, "--data", Path.Combine(_dir, "train"));
        Assert.True(code == 0, error);
        return System.Text.Json.JsonDocument.Parse(listed).RootElement[0].GetProperty("clipId").GetString()!;
    }

    [Fact]
    public async Task Following_alerts_catches_up_from_the_silos_clock_when_the_clients_runs_an_hour_ahead()
    {
        var gate = new EventsGate();
        var (app, address) = await SiloApp.StartOnLoopbackAsync(SiloSettings("ahead-data"), gate.Install);
        try
        {
            string url = address.ToString();
            string alerting = await ProbeAndEnroll(url, "cli.m7");
            // The client's clock is an hour ahead of the silo's: a catch-up "since" the client's start would list nothing.
            using var output = new SignalAtLine("\"live-0\"");
            AlertsCommand.Clock.Value = new AheadClock(TimeSpan.FromHours(1));
            var follow = CliHarness.RunWriting(output, "alerts", "follow", "--url", url, "--key", "lab", "--machine", "cli.m7", "--count", "2", "--json", "--give-up-after", "2m");
            AlertsCommand.Clock.Value = null;
            await gate.WaitForConnections(1);
            await RaiseAlertsUntil(follow, address, "cli.m7", alerting, "live", most: 1);
            Assert.Same(output.Seen, await Task.WhenAny(output.Seen, follow, Task.Delay(TimeSpan.FromSeconds(60))));

            // Away: the stream drops and the silo answers 503 while an alert is raised; the hub has it before the follower
            // comes back to a silo that no longer knows its last event (a reset, as after a restart).
            gate.Refuse = true;
            gate.DropAll();
            var hub = app.Services.GetRequiredService<ConsoleEventHub>();
            var (_, _, live, leave) = hub.Listen(null);
            try
            {
                await RaiseAlertsUntil(follow, address, "cli.m7", alerting, "away", most: 1);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                while (!(await live.ReadAsync(timeout.Token)).Json.Contains("\"away-0\"", StringComparison.Ordinal)) { }
            }
            finally
            {
                leave();
            }
            gate.UnknownLastEventId = true;
            gate.Refuse = false;

            Assert.Same(follow, await Task.WhenAny(follow, Task.Delay(TimeSpan.FromSeconds(60))));
            var (code, printed, error) = await follow;
            Assert.True(code == 0, error);
            Assert.Contains("no longer holds the events", error);
            var seen = printed.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => System.Text.Json.JsonDocument.Parse(line).RootElement).ToList();
            // Each once: live-0 from the stream, away-0 from the catch-up's list (id null), although the list holds live-0 too.
            Assert.Equal(["live-0", "away-0"], seen.Select(a => a.GetProperty("clipId").GetString()));
            Assert.NotEqual(System.Text.Json.JsonValueKind.Null, seen[0].GetProperty("id").ValueKind);
            Assert.Equal(System.Text.Json.JsonValueKind.Null, seen[1].GetProperty("id").ValueKind);
            // The list was asked from a time of the silo's: its Date when the follower started, or 30 s before live-0 was
            // raised by its clock, the later; never the client's (an hour ahead).
            var since = DateTimeOffset.Parse(Assert.Single(gate.AlertListsSince), System.Globalization.CultureInfo.InvariantCulture);
            var liveAt = seen[0].GetProperty("at").GetDateTimeOffset();
            Assert.InRange(since, liveAt - TimeSpan.FromSeconds(30), liveAt);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task Following_alerts_gives_up_on_a_silo_that_stays_gone()
    {
        var (code, _, error) = await CliHarness.Run("alerts", "follow", "--url", _url, "--key", "lab", "--give-up-after", "soon");
        Assert.Equal(2, code);
        Assert.Contains("--give-up-after: 'soon' is not a duration", error);

        var gate = new EventsGate();
        var (app, address) = await SiloApp.StartOnLoopbackAsync(SiloSettings("gone-data"), gate.Install);
        string url = address.ToString();
        var follow = CliHarness.Run("alerts", "follow", "--url", url, "--key", "lab", "--give-up-after", "3s");
        var away = new System.Diagnostics.Stopwatch();
        try
        {
            await gate.WaitForConnections(1);
        }
        finally
        {
            away.Start(); // before the stop: the follower's failures begin while it runs
            await app.StopAsync();
            await app.DisposeAsync(); // removed for good: nothing answers at its address again
        }
        Assert.Same(follow, await Task.WhenAny(follow, Task.Delay(TimeSpan.FromSeconds(60))));
        (code, _, error) = await follow;
        Assert.True(code == CliRunner.Incomplete, $"exit {code}: {error}");
        Assert.Contains($"error: gave up on the silo at {url}: reconnecting failed for ", error);
        Assert.Contains("(--give-up-after 3s; 0 retries forever)", error);
        Assert.True(away.Elapsed > TimeSpan.FromSeconds(2.5), $"gave up after {away.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public async Task Following_alerts_waits_the_retry_after_of_a_silo_at_its_event_stream_limit_and_does_not_give_up_on_it()
    {
        // A silo holding its most event streams answers 503 (429 for a person's key) with Retry-After: 15. The follower
        // waits that long (the console does too), not its own 1, 2, 4 s, so refused followers do not press it; and the
        // silo answered, so it is not gone: however long it stays full, that does not count toward --give-up-after.
        var gate = new EventsGate();
        var (app, address) = await SiloApp.StartOnLoopbackAsync(SiloSettings("busy-data"), gate.Install);
        var follow = CliHarness.Run("alerts", "follow", "--url", address.ToString(), "--key", "lab", "--give-up-after", "3s");
        var gone = new System.Diagnostics.Stopwatch();
        try
        {
            await gate.WaitForStreaming();
            gate.RetryAfterSeconds = 2;
            gate.Refuse = true;
            gate.DropAll();
            // Full for well past --give-up-after (3 s): still following.
            for (var waited = System.Diagnostics.Stopwatch.StartNew(); gate.RefusedAt.Count < 4; await Task.Delay(100))
                Assert.True(waited.Elapsed < TimeSpan.FromSeconds(60), $"{gate.RefusedAt.Count} refusal(s) in a minute");
            Assert.False(follow.IsCompleted, follow.IsCompleted ? $"gave up on a silo that is full, not gone: {(await follow).Error}" : "");
            var refused = gate.RefusedAt.ToArray();
            Assert.True(refused[^1] - refused[0] > TimeSpan.FromSeconds(5), $"four refusals in {(refused[^1] - refused[0]).TotalSeconds:F1} s");
            for (int i = 1; i < refused.Length; i++)
                Assert.True(refused[i] - refused[i - 1] >= TimeSpan.FromSeconds(1.9), $"tried again {(refused[i] - refused[i - 1]).TotalSeconds:F1} s after a Retry-After of 2 s");
            // A place frees up: it follows again.
            gate.Refuse = false;
            await gate.WaitForConnections(2);
            await gate.WaitForStreaming();
        }
        finally
        {
            gone.Start();
            await app.StopAsync();
            await app.DisposeAsync(); // now gone for good: that is given up on, --give-up-after after the silo went
        }
        Assert.Same(follow, await Task.WhenAny(follow, Task.Delay(TimeSpan.FromSeconds(60))));
        var (code, _, error) = await follow;
        Assert.True(code == CliRunner.Incomplete, $"exit {code}: {error}");
        Assert.Contains("asd: the silo is up but holds its most event streams (", error);
        Assert.Contains("as it asks (Retry-After); this is not counted toward --give-up-after", error);
        Assert.Contains("error: gave up on the silo at ", error);
        Assert.True(gone.Elapsed > TimeSpan.FromSeconds(2.5), $"gave up {gone.Elapsed.TotalSeconds:F1} s after the silo went");
    }

    [Fact]
    public async Task Enroll_keep_labels_sends_a_raced_carry_again_and_no_other_conflict()
    {
        var race = new CarryRace();
        var (app, address) = await SiloApp.StartOnLoopbackAsync(SiloSettings("race-data"), race.Install);
        try
        {
            string url = address.ToString();
            await EnrollAskingForEveryClip(url, "cli.raced-01");
            var (code, _, error) = await CliHarness.Run("push", "--url", url, "--key", "dev", "--machine", "cli.raced-01", "--data", Path.Combine(_dir, "test"));
            Assert.True(code == 0, error);
            (code, _, error) = await CliHarness.Run("label", "submit", "--url", url, "--key", "lab", "--machine", "cli.raced-01",
                "--clip", Path.GetFileNameWithoutExtension(Directory.GetFiles(Path.Combine(_dir, "test")).Order(StringComparer.Ordinal).First()), "--label", "anomalous");
            Assert.True(code == 0, error);
            string[] keep = ["enroll", "--url", url, "--key", "op", "--machine", "cli.raced-01", "--data", Path.Combine(_dir, "train"), "--keep-labels"];

            // Two carries meet a label that came between their read and their write: the third goes through.
            race.Raced = 2;
            (code, var output, error) = await CliHarness.Run(keep);
            Assert.True(code == 0, error);
            Assert.Equal(3, race.Carries);
            Assert.Contains("a label came meanwhile; enroll again (nothing changed); enrolling again in 0.5 s (try 2 of 4)", error);
            Assert.Contains("enrolling again in 1 s (try 3 of 4)", error);
            Assert.Contains("kept 1 of 1 label(s): 0 normal, 1 anomalous", output);

            // Raced every time: four tries, then the silo's refusal, as before.
            race.Raced = int.MaxValue;
            (code, _, error) = await CliHarness.Run(keep);
            Assert.Equal(2, code);
            Assert.Equal(7, race.Carries);
            Assert.Contains("409", error);

            // Another 409 is not sent again.
            race.Refusal = "the cluster's encoder workers embed with different models (a, b); enroll when they agree";
            (code, _, error) = await CliHarness.Run(keep);
            Assert.Equal(2, code);
            Assert.Equal(8, race.Carries);
            Assert.Contains("enroll when they agree", error);
            Assert.DoesNotContain("enrolling again", error);
            Assert.Equal(1, (await CliStatus("cli.raced-01", url)).GetProperty("anomalousLabels").GetInt64());
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    /// <summary>Posts test clip <paramref name="alertingClip"/>'s audio again as new clips (prefix-0, prefix-1, …) until
    /// <paramref name="until"/> completes or <paramref name="most"/> are posted: an event stream carries only what is
    /// raised after it connects. Returns the clip ids posted.</summary>
    private async Task<List<string>> RaiseAlertsUntil(Task until, Uri silo, string machine, string alertingClip, string prefix, int most = 200)
    {
        byte[] wav = await File.ReadAllBytesAsync(Path.Combine(_dir, "test", alertingClip + ".wav"));
        using var device = new HttpClient { BaseAddress = silo };
        device.DefaultRequestHeaders.Add("X-Api-Key", "dev");
        var posted = new List<string>();
        for (int i = 0; !until.IsCompleted && i < most; i++)
        {
            var response = await device.PostAsync($"/api/machines/{machine}/clips?clipId={prefix}-{i}", ClusterHttp.Wav(wav));
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
            posted.Add($"{prefix}-{i}");
            await Task.WhenAny(until, Task.Delay(250));
        }
        return posted;
    }
}
