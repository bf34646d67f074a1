using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Audio;
using AsdOrleans.Datasets.Synthesis;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Model;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// A Redis cluster of silo processes (this test executable again, running only <see cref="SiloChildHost"/>) under a
/// steady load of clips and labels: it grows from 2 to 3 silos and new machine grains land on the new one; then one
/// silo is killed with SIGKILL, its machines come back on the others, and every acknowledged label is still applied.
/// With the activation rebalancer on, machines move onto a joining silo by themselves, and killing that silo while it
/// holds them loses nothing either.
/// </summary>
public sealed class ClusterGrowAndCrashTests : IAsyncLifetime
{
    private const string OperatorKey = "op", DeviceKey = "dev", LabellerKey = "lab";
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-grow-crash-").FullName;
    private RedisServer _redis = null!;
    private EncoderModel _model = null!;
    private string _modelPath = "";
    private readonly List<ChildSilo> _silos = [];

    public async ValueTask InitializeAsync()
    {
        _redis = await RedisServer.StartAsync(_dir);
        _model = EncoderModel.Untrained(new EncoderArchitecture { Width = 2, EmbeddingDimension = 16 }, seed: 5, TorchSharp.torch.CPU);
        _modelPath = Path.Combine(_dir, "tiny.asdm");
        _model.Save(_modelPath);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var silo in _silos) silo.Dispose();
        await _redis.DisposeAsync();
        _model.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Grows_under_load_then_survives_kill_9_of_a_silo_without_losing_an_acknowledged_label()
    {
        var cancellation = TestContext.Current.CancellationToken;
        var a = await StartSilo("a");
        var b = await StartSilo("b");
        var load = new Load(this);
        for (int m = 0; m < 12; m++) await load.AddMachine($"grow.m{m:00}", a);
        var running = load.RunAsync();

        await load.WaitForClips(40, TimeSpan.FromSeconds(120));
        var c = await StartSilo("c");
        await WaitFor(async () => (await Cluster(a)).Count(s => s.Status == "Active") == 3, TimeSpan.FromSeconds(60), "3 active silos");
        // The plant grows with the cluster: machines enrolled now are placed across all three silos.
        for (int m = 12; m < 36; m++) await load.AddMachine($"grow.m{m:00}", m % 2 == 0 ? c : a);
        await load.WaitForClips(load.Clips + 60, TimeSpan.FromSeconds(120));
        List<SiloView> grown = [];
        await WaitFor(async () => (grown = await Cluster(a)).Count == 3, TimeSpan.FromSeconds(30), "the cluster view");
        var onC = grown.Single(s => s.Address.Contains($":{c.SiloPort}:", StringComparison.Ordinal));
        Assert.True(onC.MachineGrains > 0, "no machine grain on the new silo: " + JsonSerializer.Serialize(grown));

        // kill -9 a silo that holds machines, while clips and labels keep coming.
        var victim = (await Cluster(a)).Where(s => s.Status == "Active" && !s.Address.Contains($":{a.SiloPort}:", StringComparison.Ordinal))
            .OrderByDescending(s => s.MachineGrains).First();
        var killed = _silos.Single(s => victim.Address.Contains($":{s.SiloPort}:", StringComparison.Ordinal));
        Assert.True(victim.MachineGrains > 0);
        int labelsBeforeKill = load.AcknowledgedLabels.Count;
        load.KillStarts();
        killed.Kill();
        // Until the cluster declares it dead, the cluster view still answers (not 503) and says the silo does not answer.
        var meanwhile = await Cluster(a);
        var unconfirmed = meanwhile.Single(s => s.Address == victim.Address);
        Assert.True(unconfirmed.Status != "Active" || unconfirmed.NotAnswering is not null, JsonSerializer.Serialize(meanwhile));
        Assert.All(meanwhile.Where(s => s.Address != victim.Address && s.Status == "Active"), s => Assert.Null(s.NotAnswering));
        await WaitFor(async () => (await Cluster(a)).Any(s => s.Address == victim.Address && s.Status == "Dead"), TimeSpan.FromSeconds(90), "the killed silo declared dead");
        int clipsAtDeath = load.Clips;
        await load.WaitForClips(clipsAtDeath + 60, TimeSpan.FromSeconds(120));
        await load.StopAsync(running);

        var survivor = _silos.First(s => s != killed);
        await AssertEveryMachineAnswersAndNoAcknowledgedLabelIsLost(load, labelsBeforeKill, survivor, victim);
        TestContext.Current.SendDiagnosticMessage(
            $"{load.Clips} clips and {load.AcknowledgedLabels.Count} labels acknowledged ({load.AcknowledgedLabels.Count - labelsBeforeKill} after kill -9 of {victim.Address}, " +
            $"which held {victim.MachineGrains} machines); {load.Retries} calls retried on another silo; {load.RequestsLostWithTheSilo.Count} unwritten label requests lost with it; new silo held {onC.MachineGrains} of {load.Machines.Count} machines.");
    }

    [Fact]
    public async Task Alerts_waiting_for_a_webhook_on_a_silo_killed_with_kill_9_are_delivered_by_the_survivor()
    {
        await using var receiver = WebhookReceiver.Start();
        receiver.Down = true;
        var webhook = new Dictionary<string, string?> { ["Asd:AlertWebhook:Url"] = receiver.Url, ["Asd:AlertWebhook:MaxRetryDelay"] = "00:00:02" };
        var a = await StartSilo("a", webhook);
        var b = await StartSilo("b", webhook);
        var load = new Load(this); // for the silos' logs only: the clips here are the console plan's, whose anomalies alert
        var plan = ConsoleFixture.Plan;
        var enrollment = LoopbackSilo.EnrollmentOf(_model, plan);
        var wavs = plan.Clips.Where(c => c.Split == SynthSplit.Test).Take(30).Select(c => WavEncoder.EncodeMono16(ClipSynthesizer.Render(c), 16_000)).ToList();
        int clips = 0;
        for (int m = 0; m < 12; m++)
        {
            var through = m % 2 == 0 ? a : b;
            string machine = $"hook.m{m:00}";
            Assert.True((await through.Http(OperatorKey).PutAsJsonAsync($"/api/machines/{machine}", new MachineSettings { Strategy = "none" })).IsSuccessStatusCode);
            var enrolled = await through.Http(OperatorKey).PostAsJsonAsync($"/api/machines/{machine}/enrollment", enrollment);
            Assert.True(enrolled.IsSuccessStatusCode, await enrolled.Content.ReadAsStringAsync());
            for (int i = 0; i < wavs.Count; i++, clips++)
            {
                var pushed = await through.Http(DeviceKey).PostAsync($"/api/machines/{machine}/clips?clipId=c{i:00}", LoopbackSilo.WavContent(wavs[i]));
                Assert.True(pushed.IsSuccessStatusCode, await pushed.Content.ReadAsStringAsync());
            }
        }

        // Every alert is written (the shards write behind within 5 s) and was tried: the receiver refused it.
        List<string> alerts = [];
        await WaitFor(async () =>
        {
            var listed = await a.Http(LabellerKey).GetFromJsonAsync<JsonElement>("/api/alerts?limit=10000", TestContext.Current.CancellationToken);
            alerts = listed.EnumerateArray().Select(WebhookReceiver.AlertId).ToList();
            return alerts.Count > 0 && alerts.All(receiver.TriedAlerts().Contains);
        }, TimeSpan.FromSeconds(60), "every alert tried and refused",
            () => $"untried: {string.Join(", ", alerts.Where(x => !receiver.TriedAlerts().Contains(x)))} of {alerts.Count}\n{load.SiloLogs()}");
        var waiting = await a.Http(OperatorKey).GetFromJsonAsync<JsonElement>("/api/alert-webhook", TestContext.Current.CancellationToken);
        Assert.Equal(alerts.Count, waiting.GetProperty("waiting").GetInt64());
        var backlogged = waiting.GetProperty("shards").EnumerateArray().Where(s => s.GetProperty("waiting").GetInt64() > 0).ToList();

        // kill -9 the silo of a deliverer that is behind: it goes with its retry timer. Then the receiver comes back.
        string host = backlogged[0].GetProperty("silo").GetString()!;
        var victim = _silos.Single(s => host.Contains($":{s.SiloPort}:", StringComparison.Ordinal));
        var survivor = victim == a ? b : a;
        int onVictim = backlogged.Count(s => s.GetProperty("silo").GetString() == host);
        victim.Kill();
        receiver.Down = false;
        // The survivor takes over the dead silo's reminders, which bring its deliverers back: nothing new is pushed.
        await WaitFor(() => Task.FromResult(alerts.All(receiver.TakenAlerts().Contains)), TimeSpan.FromSeconds(120),
            "every alert delivered after the kill", () => $"{alerts.Count - alerts.Count(receiver.TakenAlerts().Contains)} of {alerts.Count} missing\n{load.SiloLogs()}");
        var after = await survivor.Http(OperatorKey).GetFromJsonAsync<JsonElement>("/api/alert-webhook", TestContext.Current.CancellationToken);
        Assert.Equal(0, after.GetProperty("waiting").GetInt64());
        TestContext.Current.SendDiagnosticMessage($"{alerts.Count} alerts from {clips} clips, waiting in {backlogged.Count} shards ({onVictim} of their deliverers on the killed silo); all delivered.");
    }

    /// <summary>Orleans' activation rebalancer with short cycles (its defaults wait a minute and cycle every 15 s).</summary>
    private static readonly Dictionary<string, string?> Rebalancing = new()
    {
        ["Asd:ActivationRebalancer"] = "true",
        ["Asd:Rebalancer:RebalancerDueTime"] = "00:00:03",
        ["Asd:Rebalancer:SessionCyclePeriod"] = "00:00:03", // must exceed twice the load publisher's 1-s refresh
        // Each cycle's counts and migrations in the silo's log, which a failure prints.
        ["Logging:LogLevel:Orleans.Runtime.Placement.Rebalancing"] = "Trace",
    };

    private const int MovedBeforeKill = 8;
    /// <summary>The rebalancer moves random activations, and about 50 of a silo's are not machines (registry shards, system
    /// grains): with 40 machines the new silo settled at about 10 of them, too close to 8; with 96 it held 27 after 28 s.</summary>
    private const int MovingMachines = 96;

    [Fact]
    public async Task The_rebalancer_moves_machines_onto_a_joining_silo_and_kill_9_of_it_mid_session_loses_no_acknowledged_label()
    {
        var a = await StartSilo("a", Rebalancing);
        var b = await StartSilo("b", Rebalancing);
        var load = new Load(this);
        for (int m = 0; m < MovingMachines; m++) await load.AddMachine($"move.m{m:00}", m % 2 == 0 ? a : b);
        var running = load.RunAsync();
        await load.WaitForClips(40, TimeSpan.FromSeconds(120));

        // No machine is enrolled from here on: what the new silo holds, the rebalancer moved there (machines handed
        // over in memory, under clips and labels).
        var c = await StartSilo("c", Rebalancing);
        SiloView? onC = null;
        var moves = new List<string>(); // machine grains per silo each time they change, for the message
        var started = Stopwatch.StartNew();
        await WaitFor(async () =>
        {
            var view = await Cluster(a);
            string counts = string.Join(" ", view.Select(s => $"{s.Status}:{s.MachineGrains}"));
            if (moves.Count == 0 || !moves[^1].EndsWith(counts, StringComparison.Ordinal)) moves.Add($"{started.Elapsed.TotalSeconds:0}s {counts}");
            onC = view.SingleOrDefault(s => s.Address.Contains($":{c.SiloPort}:", StringComparison.Ordinal));
            return onC?.MachineGrains >= MovedBeforeKill;
        }, TimeSpan.FromSeconds(180), $"the rebalancer moving {MovedBeforeKill} machines onto the new silo", () => string.Join("; ", moves) + "\n" + load.SiloLogs());
        await load.WaitForClips(load.Clips + 20, TimeSpan.FromSeconds(60)); // the moved machines take clips and labels there
        var victim = (await Cluster(a)).Single(s => s.Address == onC!.Address);
        int labelsBeforeKill = load.AcknowledgedLabels.Count;
        load.KillStarts();
        c.Kill();
        await WaitFor(async () => (await Cluster(a)).Any(s => s.Address == victim.Address && s.Status == "Dead"), TimeSpan.FromSeconds(90), "the killed silo declared dead");
        await load.WaitForClips(load.Clips + 60, TimeSpan.FromSeconds(120));
        await load.StopAsync(running);

        await AssertEveryMachineAnswersAndNoAcknowledgedLabelIsLost(load, labelsBeforeKill, a, victim);
        TestContext.Current.SendDiagnosticMessage(
            $"{load.Clips} clips and {load.AcknowledgedLabels.Count} labels acknowledged ({load.AcknowledgedLabels.Count - labelsBeforeKill} after kill -9 of the joining silo, " +
            $"which held {victim.MachineGrains} of {load.Machines.Count} machines, all moved there by the rebalancer: {string.Join("; ", moves)}); {load.Retries} calls retried on another silo; {load.RequestsLostWithTheSilo.Count} unwritten label requests lost with it.");
    }

    /// <summary>After a silo died under load: every machine answers from the survivors, the dead silo holds none, and
    /// every acknowledged label (some after the kill) is already applied.</summary>
    private static async Task AssertEveryMachineAnswersAndNoAcknowledgedLabelIsLost(Load load, int labelsBeforeKill, ChildSilo survivor, SiloView victim)
    {
        var cancellation = TestContext.Current.CancellationToken;
        Assert.True(load.AcknowledgedLabels.Count > labelsBeforeKill, "no label was acknowledged after the kill");
        Assert.True(load.RequestsLostWithTheSilo.Count <= Load.Devices,
            $"{load.RequestsLostWithTheSilo.Count} label requests lost with the killed silo, more than one per device: " +
            string.Join(", ", load.RequestsLostWithTheSilo.Select(r => $"{r.Machine}/{r.ClipId}")));
        // Every machine answers again, from the surviving silos only. A call may still time out or be answered 503 on a
        // loaded machine (the suite runs beside this cluster), so each is retried for a while, as a client would after a crash.
        foreach (var machine in load.Machines)
        {
            if (await FailureOfAnswering(survivor, $"/api/machines/{machine}", TimeSpan.FromSeconds(90)) is { } failure)
                Assert.Fail($"{machine} did not answer through silo {survivor.Name}: {failure}\n" +
                    $"where the directory places it: {await Placement(survivor, machine)}; the silos: {JsonSerializer.Serialize(await Cluster(survivor))}\n" +
                    $"what the silos logged:\n{load.SiloLogs()}");
            // It answered, so the directory has it on a live silo, never on the dead one (asked again for a few seconds
            // while the rebalancer, still on, may be moving it: mid-move the directory can hold no entry for it).
            var placement = await Placement(survivor, machine);
            for (int ask = 1; ask < 10 && !(placement.SiloStatus == "Active" && placement.Silo != victim.Address); ask++)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);
                placement = await Placement(survivor, machine);
            }
            Assert.True(placement.SiloStatus == "Active" && placement.Silo != victim.Address, $"{machine}: {placement}");
        }
        var after = await Cluster(survivor);
        Assert.Equal(0, after.Single(s => s.Address == victim.Address).MachineGrains);
        Assert.True(after.Where(s => s.Status == "Active").Sum(s => s.MachineGrains) >= load.Machines.Count);

        // No acknowledged label is lost: each one is already applied (the same answer again changes nothing), and
        // each machine's label counts cover what it acknowledged.
        foreach (var (machine, clipId, label) in load.AcknowledgedLabels)
        {
            var again = await survivor.Http(LabellerKey).PostAsJsonAsync($"/api/machines/{machine}/clips/{clipId}/label", new { label }, cancellation);
            Assert.True(again.IsSuccessStatusCode, $"{machine}/{clipId}: {await again.Content.ReadAsStringAsync(cancellation)}");
            Assert.True(JsonDocument.Parse(await again.Content.ReadAsStringAsync(cancellation)).RootElement.GetProperty("alreadyApplied").GetBoolean(),
                $"{machine}/{clipId}: the acknowledged label {label} was lost");
        }
        foreach (var group in load.AcknowledgedLabels.GroupBy(l => l.Machine))
        {
            var status = JsonDocument.Parse(await survivor.Http(OperatorKey).GetStringAsync($"/api/machines/{group.Key}", cancellation)).RootElement;
            long labels = status.GetProperty("normalLabels").GetInt64() + status.GetProperty("anomalousLabels").GetInt64();
            Assert.True(labels >= group.Count(), $"{group.Key}: {labels} labels applied, {group.Count()} acknowledged");
        }
    }

    /// <summary>Asks until the silo answers 2xx, as a client would after a crash: a 5xx (503 with Retry-After while the
    /// cluster settles) or the client's 30-s timeout is tried again after a pause, up to <paramref name="limit"/>. Null
    /// when it answered; else the last failure, for the message.</summary>
    private static async Task<string?> FailureOfAnswering(ChildSilo silo, string path, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        for (int attempt = 1; ; attempt++)
        {
            string failure;
            try
            {
                using var response = await silo.Http(OperatorKey).GetAsync(path, TestContext.Current.CancellationToken);
                if (response.IsSuccessStatusCode) return null;
                failure = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
                Assert.True((int)response.StatusCode >= 500, $"{path}: {failure}");
            }
            catch (TaskCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
            {
                failure = "no answer within the client's 30-s timeout";
            }
            if (DateTime.UtcNow >= deadline) return $"{attempt} tries over {limit.TotalSeconds:0} s, the last: {failure}";
            await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);
        }
    }

    private async Task<ChildSilo> StartSilo(string name, IReadOnlyDictionary<string, string?>? extra = null)
    {
        int siloPort = SiloApp.FreeLoopbackPort();
        var settings = new Dictionary<string, string?>
        {
            ["Asd:Redis"] = _redis.Connection,
            ["Asd:ClusterId"] = "grow-" + Path.GetFileName(_dir),
            ["Asd:DataDirectory"] = Path.Combine(_dir, "shared"),
            ["Asd:ModelPath"] = _modelPath,
            ["Asd:Device"] = "cpu",
            ["Asd:SiloPort"] = siloPort.ToString(),
            ["Asd:ApiKeys:Operator:0"] = OperatorKey,
            ["Asd:ApiKeys:Device:0"] = DeviceKey,
            ["Asd:ApiKeys:Labeller:0"] = LabellerKey,
            // Declare a dead silo within seconds, not Orleans' production defaults.
            ["Asd:Membership:ProbeTimeout"] = "00:00:01",
            ["Asd:Membership:NumMissedProbesLimit"] = "2",
            ["Asd:Membership:TableRefreshTimeout"] = "00:00:02",
            ["Asd:Membership:IAmAliveTablePublishTimeout"] = "00:00:05",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>()) settings[key] = value;
        var (process, log, ready) = SiloChildHost.Launch(settings);
        var silo = new ChildSilo(name, process, siloPort, log);
        lock (_silos) _silos.Add(silo);
        var started = await Task.WhenAny(ready, Task.Delay(TimeSpan.FromSeconds(90)));
        Assert.True(started == ready, $"silo {name} did not start: {string.Join('\n', log)}");
        silo.Address = ready.Result;
        return silo;
    }

    /// <summary>Where the grain directory places a machine, as an operator asks it (never through the machine itself).</summary>
    private static async Task<MachinePlacement> Placement(ChildSilo through, string machine)
        => (await through.Http(OperatorKey).GetFromJsonAsync<MachinePlacement>($"/api/cluster/machines/{machine}", TestContext.Current.CancellationToken))!;

    private static async Task<List<SiloView>> Cluster(ChildSilo through)
        => (await through.Http(OperatorKey).GetFromJsonAsync<List<SiloView>>("/api/cluster", TestContext.Current.CancellationToken))!;

    private static async Task WaitFor(Func<Task<bool>> condition, TimeSpan limit, string what, Func<string>? explain = null)
    {
        var deadline = DateTime.UtcNow + limit;
        async Task<bool> Check()
        {
            try { return await condition(); }
            catch (HttpRequestException) { return false; } // the management grain asked a silo that just died
        }
        while (!await Check())
        {
            if (DateTime.UtcNow >= deadline) Assert.Fail($"timed out waiting for {what}" + (explain is null ? "" : $"\n{explain()}"));
            await Task.Delay(250);
        }
    }

    private sealed class ChildSilo(string name, Process process, int siloPort, ConcurrentQueue<string> log) : IDisposable
    {
        private readonly Dictionary<string, HttpClient> _clients = [];
        public string Name { get; } = name;
        public int SiloPort { get; } = siloPort;
        public Uri Address { get; set; } = null!;
        public bool Killed { get; private set; }
        public ConcurrentQueue<string> Log { get; } = log;

        public HttpClient Http(string key)
        {
            lock (_clients)
            {
                if (!_clients.TryGetValue(key, out var client))
                {
                    client = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(30) };
                    client.DefaultRequestHeaders.Add("X-Api-Key", key);
                    _clients[key] = client;
                }
                return client;
            }
        }

        public void Kill()
        {
            Killed = true;
            process.Kill(); // SIGKILL: no shutdown, no flush, no leaving the cluster
            process.WaitForExit();
        }

        public void Dispose()
        {
            if (!process.HasExited) process.Kill();
            process.WaitForExit();
            process.Dispose();
            lock (_clients) foreach (var client in _clients.Values) client.Dispose();
        }
    }

    /// <summary>Devices pushing clips round-robin over the machines and a labeller answering every request, each call
    /// through a random live silo and retried on another when a silo fails.</summary>
    private sealed class Load(ClusterGrowAndCrashTests test)
    {
        private static readonly SynthPlan Plan = SynthPlan.Create(new SynthSettings { MachineTypes = 1, SourceTrain = 12, TargetTrain = 2, Test = 4, Seconds = 0.25, Seed = 9 });
        private static readonly byte[][] Clips4 = Plan.Clips.Where(c => c.Split == SynthSplit.Test)
            .Select(c => WavEncoder.EncodeMono16(ClipSynthesizer.Render(c), 16_000)).ToArray();
        private EnrollmentRequest? _enrollment;
        private readonly CancellationTokenSource _stop = new();
        private readonly Random _random = new(4);
        private int _clips, _retries, _sequence;
        public List<string> Machines { get; } = [];
        public ConcurrentBag<(string Machine, string ClipId, string Label)> AcknowledgedLabels { get; } = [];
        public int Clips => Volatile.Read(ref _clips);
        public int Retries => Volatile.Read(ref _retries);
        /// <summary>Label requests that a verdict announced but the killed silo had not yet written: a machine writes a new
        /// request right after the clip's call returns and offers it to labellers only then (docs/decisions.md, "a new
        /// request is written right after the call"). This load's labeller answers from the device's verdict, before
        /// the offer, so a kill in that moment loses the request, and the label for it is refused, never applied.</summary>
        public ConcurrentBag<(string Machine, string ClipId)> RequestsLostWithTheSilo { get; } = [];
        private volatile bool _killStarted;
        /// <summary>From now on a label may be refused for a request lost with the silo being killed; before, never.</summary>
        public void KillStarts() => _killStarted = true;
        /// <summary>Devices, each with one clip in flight: a kill can catch each in that moment once at most.</summary>
        public const int Devices = 3;

        /// <summary>What each silo printed last, for a failure's message: its last 150 lines of warnings and errors, and
        /// apart from them (so that its trace does not crowd them out) the rebalancer's last 40 lines.</summary>
        public string SiloLogs()
        {
            static string Lines(IEnumerable<List<string>> entries, int count) => string.Join('\n', entries.SelectMany(e => e).TakeLast(count));
            lock (test._silos)
                return string.Join('\n', test._silos.Select(s =>
                {
                    var entries = LogEntries(s.Log).ToList();
                    bool Rebalancer(List<string> entry) => entry[0].Contains(".Placement.Rebalancing.", StringComparison.Ordinal);
                    return $"--- silo {s.Name}{(s.Killed ? " (killed)" : "")}:\n{Lines(entries.Where(e => !Rebalancer(e)), 150)}\n" +
                           $"--- its rebalancer trace:\n{Lines(entries.Where(Rebalancer), 40)}";
                }));
        }

        /// <summary>The console logger's entries: a header line ("warn: Category[id]") and the indented lines under it.</summary>
        private static IEnumerable<List<string>> LogEntries(IEnumerable<string> lines)
        {
            List<string>? entry = null;
            foreach (var line in lines)
            {
                if (entry is not null && line.StartsWith(' ')) { entry.Add(line); continue; }
                if (entry is not null) yield return entry;
                entry = [line];
            }
            if (entry is not null) yield return entry;
        }

        public async Task AddMachine(string id, ChildSilo through)
        {
            var enrollment = _enrollment ??= Enrollment(test._model); // every machine enrolls from the same clips: embed them once
            var http = through.Http(OperatorKey);
            var configured = await http.PutAsJsonAsync($"/api/machines/{id}", new MachineSettings { Strategy = "random", Budget = 0.3, BudgetWindow = 10 });
            Assert.True(configured.IsSuccessStatusCode, await configured.Content.ReadAsStringAsync());
            var enrolled = await http.PostAsJsonAsync($"/api/machines/{id}/enrollment", enrollment);
            Assert.True(enrolled.IsSuccessStatusCode, await enrolled.Content.ReadAsStringAsync());
            lock (Machines) Machines.Add(id);
        }

        private static EnrollmentRequest Enrollment(EncoderModel model) => LoopbackSilo.EnrollmentOf(model, Plan);

        public Task RunAsync() => Task.WhenAll(Enumerable.Range(0, Devices).Select(_ => Task.Run(Device)));

        public async Task StopAsync(Task running)
        {
            _stop.Cancel();
            await running;
        }

        public async Task WaitForClips(int count, TimeSpan limit)
        {
            var deadline = DateTime.UtcNow + limit;
            while (Clips < count)
            {
                Assert.True(DateTime.UtcNow < deadline, $"the load reached only {Clips} of {count} clips");
                await Task.Delay(100);
            }
        }

        private async Task Device()
        {
            while (!_stop.IsCancellationRequested)
            {
                int n = Interlocked.Increment(ref _sequence);
                string machine;
                lock (Machines) machine = Machines[n % Machines.Count];
                string clipId = $"c{n:000000}";
                // A retried clip keeps its id: the machine answers a retry of a recent clip without counting it twice.
                var verdict = await WithFailover(DeviceKey, http =>
                {
                    var content = new ByteArrayContent(Clips4[n % Clips4.Length]);
                    content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("audio/wav");
                    return http.PostAsync($"/api/machines/{machine}/clips?clipId={clipId}", content);
                });
                if (verdict is null) return;
                Interlocked.Increment(ref _clips);
                if (!verdict.Value.GetProperty("labelRequested").GetBoolean()) continue;
                string label = n % 5 == 0 ? "anomalous" : "normal";
                var receipt = await WithFailover(LabellerKey, http => http.PostAsJsonAsync($"/api/machines/{machine}/clips/{clipId}/label", new { label }),
                    refusedAsLost: body => _killStarted && body.Contains($"has no label request for clip '{clipId}'", StringComparison.Ordinal));
                if (receipt is null) return;
                if (receipt.Value.ValueKind == JsonValueKind.Undefined)
                {
                    RequestsLostWithTheSilo.Add((machine, clipId)); // refused, not acknowledged: nothing to check later
                    continue;
                }
                AcknowledgedLabels.Add((machine, clipId, label)); // acknowledged: the silo answered 200
            }
        }

        /// <summary>Sends through a random live silo until one answers 2xx; connection failures and 5xx (a call to a
        /// machine on a silo that just died) go to another silo. Null once the load is stopped; an undefined element for a
        /// 400 whose body <paramref name="refusedAsLost"/> accepts.</summary>
        private async Task<JsonElement?> WithFailover(string key, Func<HttpClient, Task<HttpResponseMessage>> send, Func<string, bool>? refusedAsLost = null)
        {
            for (int attempt = 0; ; attempt++)
            {
                if (_stop.IsCancellationRequested && attempt > 0) return null;
                ChildSilo silo;
                lock (test._silos)
                {
                    var live = test._silos.Where(s => !s.Killed && s.Address is not null).ToList();
                    lock (_random) silo = live[_random.Next(live.Count)];
                }
                try
                {
                    using var response = await send(silo.Http(key));
                    string body = await response.Content.ReadAsStringAsync();
                    if (response.IsSuccessStatusCode) return JsonDocument.Parse(body).RootElement.Clone();
                    if (response.StatusCode == HttpStatusCode.BadRequest && refusedAsLost?.Invoke(body) == true) return default(JsonElement);
                    Assert.True((int)response.StatusCode >= 500, $"{response.StatusCode} from silo {silo.Name}: {body}");
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                }
                Interlocked.Increment(ref _retries);
                Assert.True(attempt < 200, "a call failed on every silo for too long");
                await Task.Delay(200);
            }
        }
    }
}
