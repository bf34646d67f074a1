using System.Diagnostics;
using System.Net;
using System.Text.Json;
using AsdOrleans.Silo;

namespace AsdOrleans.Cli.Tests;

/// <summary>`asd silo`'s options: roles and model checked before anything starts; a real machines-only silo process.</summary>
public sealed class SiloCommandTests
{
    [Theory]
    [InlineData("--roles gpu", "--roles: unknown silo role(s) 'gpu'")]
    [InlineData("--roles ,", "--roles: a silo needs at least one role")]
    [InlineData("--roles encoder --embedder model", "--roles includes encoder and --embedder model, which needs --model")]
    [InlineData("--embedder model", "--roles includes encoder and --embedder model, which needs --model")]
    [InlineData("--embedder spectral --model MODEL", "--embedder spectral is training-free; drop --model")]
    [InlineData("--roles machines --model MODEL", "--model is for silos with the encoder role")]
    [InlineData("--embedder baseline --model MODEL", "--embedder baseline is training-free; drop --model")]
    [InlineData("--embedder magic", "--embedder: 'magic' is not one of 'model', 'baseline', 'spectral'")]
    public async Task Roles_and_model_must_agree(string options, string message)
    {
        using var model = new TempFile();
        var args = new List<string> { "silo" };
        args.AddRange(options.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(a => a == "MODEL" ? model.Path : a));
        var (code, _, error) = await CliHarness.Run([.. args]);
        Assert.Equal(2, code);
        Assert.Contains(message, error);
    }

    [Theory]
    [InlineData("Asd__MachineIdleMinutes", "abc", "Asd:MachineIdleMinutes (Asd__MachineIdleMinutes): 'abc' is not a number")]
    [InlineData("Asd__AlertWebhook__Timeout", "foo", "Asd:AlertWebhook:Timeout (Asd__AlertWebhook__Timeout): 'foo' is not a duration")]
    [InlineData("Asd__ActivationRebalancer", "maybe", "Asd:ActivationRebalancer (Asd__ActivationRebalancer): 'maybe' is not true or false")]
    [InlineData("Asd__MaxClipBytes", "-1", "Asd:MaxClipBytes (Asd__MaxClipBytes) must be at least 1 byte, got -1")]
    [InlineData("Asd__EncoderMaxBatchSize", "0", "Asd:EncoderMaxBatchSize (Asd__EncoderMaxBatchSize) must be at least 1 clip, got 0")]
    [InlineData("Asd__AlertAudioPerMachine", "-3", "Asd:AlertAudioPerMachine (Asd__AlertAudioPerMachine) must be 0 (keep none) or more, got -3")]
    [InlineData("Asd__MaxConcurrentClips", "0", "Asd:MaxConcurrentClips (Asd__MaxConcurrentClips) must be at least 1 request, got 0")]
    [InlineData("Asd__QueuedClips", "many", "Asd:QueuedClips (Asd__QueuedClips): 'many' is not a whole number")]
    [InlineData("Asd__LabelRequestTtl", "00:00:00", "Asd:LabelRequestTtl must be between 00:00:01 and 365.00:00:00")]
    [InlineData("Asd__MaxPendingLabelRequests", "0", "Asd:MaxPendingLabelRequests must be between 1 and 100000, got 0")]
    public async Task A_setting_the_silo_cannot_use_stops_it_at_start_with_one_line(string variable, string value, string message)
    {
        var (code, error, all) = await RunRefusedSilo([], new() { [variable] = value });
        Assert.True(code == 2, $"exit {code}: {all}");
        Assert.Contains($"error: {message}", error);
        Assert.DoesNotContain("   at ", all); // no stack trace
        Assert.DoesNotContain("silo up", all);
    }

    [Theory]
    [InlineData("true")]
    [InlineData("false")] // the durability check skipped, the reachability check not
    public async Task An_unreachable_redis_stops_a_cluster_silo_with_one_line_and_exit_2(string requireDurable)
    {
        string redis = $"127.0.0.1:{SiloApp.FreeLoopbackPort()}";
        var (code, error, all) = await RunRefusedSilo(["--cluster", redis], new() { ["Asd__RequireDurableRedis"] = requireDurable });
        Assert.True(code == 2, $"exit {code}: {all}");
        Assert.Contains($"error: cannot reach Redis at '{redis}'", error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries)); // one line
        Assert.DoesNotContain("   at ", all);
        Assert.DoesNotContain("abortConnect", all);
        Assert.DoesNotContain("this is a bug", all);
    }

    /// <summary>Runs `asd silo` (free ports, its own data folder, <paramref name="environment"/> set) until it exits:
    /// its exit code, stderr, and stdout and stderr together.</summary>
    private static async Task<(int Code, string Error, string All)> RunRefusedSilo(string[] arguments, Dictionary<string, string> environment, string? dataDirectory = null)
    {
        var data = dataDirectory ?? Directory.CreateTempSubdirectory("asd-cli-silo-refused-").FullName;
        var start = new ProcessStartInfo("dotnet",
        [
            Path.Combine(AppContext.BaseDirectory, "asd.dll"), "silo", .. arguments, "--urls", $"http://127.0.0.1:{SiloApp.FreeLoopbackPort()}", "--data-dir", data,
            "--silo-port", SiloApp.FreeLoopbackPort().ToString(), "--gateway-port", SiloApp.FreeLoopbackPort().ToString(),
        ])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (name, value) in environment) start.Environment[name] = value;
        try
        {
            using var silo = Process.Start(start)!;
            var stdout = silo.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            string error = await silo.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            await silo.WaitForExitAsync(TestContext.Current.CancellationToken);
            return (silo.ExitCode, error, await stdout + error);
        }
        finally
        {
            if (dataDirectory is null) Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task A_silo_port_that_a_running_silo_listens_on_is_refused_and_the_running_one_is_left_alone()
    {
        // Listening as Orleans does (address reuse, which on Linux lets a second such socket share the port).
        using var running = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        running.SetSocketOption(System.Net.Sockets.SocketOptionLevel.Socket, System.Net.Sockets.SocketOptionName.ReuseAddress, true);
        running.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        running.Listen();
        int port = ((IPEndPoint)running.LocalEndPoint!).Port;
        var data = Directory.CreateTempSubdirectory("asd-cli-silo-port-").FullName;
        try
        {
            var (code, _, error) = await CliHarness.Run("silo", "--urls", $"http://127.0.0.1:{SiloApp.FreeLoopbackPort()}", "--data-dir", data,
                "--silo-port", port.ToString(), "--gateway-port", SiloApp.FreeLoopbackPort().ToString());
            Assert.Equal(2, code);
            Assert.Contains($"Asd:SiloPort {port}: 127.0.0.1:{port} is in use (another silo on this host?)", error);
            Assert.True(running.IsBound);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task A_second_silo_on_a_running_silos_data_directory_is_refused_and_the_running_one_is_left_alone()
    {
        var data = Directory.CreateTempSubdirectory("asd-cli-silo-lock-").FullName;
        try
        {
            var (running, address) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?> { ["Asd:DataDirectory"] = data });
            await using (running)
            {
                // Without the lock the second silo starts and runs: the wait fails the test instead of hanging it.
                var (code, error, all) = await RunRefusedSilo([], [], data).WaitAsync(TimeSpan.FromSeconds(90), TestContext.Current.CancellationToken);
                Assert.Equal(2, code);
                Assert.Contains($"the data directory {data} is in use by another silo (it holds silo.lock)", error);
                // One line, as every other refusal at start: the host logged it with its stack when the lock was its to take.
                Assert.StartsWith("error: ", error);
                Assert.Single(error.Trim().Split('\n'));
                Assert.DoesNotContain("   at ", all);
                using var http = new HttpClient { BaseAddress = address };
                Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz", TestContext.Current.CancellationToken)).StatusCode);
                await running.StopAsync(TestContext.Current.CancellationToken);
            }
            // Stopped, the directory is free again: a restart on it starts.
            var (again, _) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?> { ["Asd:DataDirectory"] = data });
            await again.StopAsync(TestContext.Current.CancellationToken);
            await again.DisposeAsync();
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task An_http_address_in_use_is_refused_with_one_line_before_the_host_starts()
    {
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var data = Directory.CreateTempSubdirectory("asd-cli-silo-http-").FullName;
        try
        {
            var (code, _, error) = await CliHarness.Run("silo", "--urls", $"http://127.0.0.1:{port}", "--data-dir", data,
                "--silo-port", SiloApp.FreeLoopbackPort().ToString(), "--gateway-port", SiloApp.FreeLoopbackPort().ToString());
            Assert.Equal(2, code);
            Assert.Contains($"--urls {port}: 127.0.0.1:{port} is in use (another silo on this host?); give this silo another HTTP address (--urls)", error);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task A_silo_with_the_encoder_role_and_no_model_file_embeds_with_the_spectral_embedder()
    {
        // What a fresh deployment (compose, Helm, `asd silo` alone) runs: the default recipe, no trained encoder needed.
        var data = Directory.CreateTempSubdirectory("asd-cli-silo-").FullName;
        int http = SiloApp.FreeLoopbackPort();
        var start = new ProcessStartInfo("dotnet",
        [
            Path.Combine(AppContext.BaseDirectory, "asd.dll"), "silo", "--urls", $"http://127.0.0.1:{http}", "--data-dir", data,
            "--silo-port", SiloApp.FreeLoopbackPort().ToString(), "--gateway-port", SiloApp.FreeLoopbackPort().ToString(),
        ])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["Asd__ModelPath"] = ""; // as compose leaves it without ASD_MODEL_PATH
        try
        {
            var output = await UntilUp(start, _ => Task.CompletedTask);
            Assert.Contains(output, l => l.StartsWith("silo up (encoder,machines)", StringComparison.Ordinal) && l.Contains("embeds with the spectral embedder;"));
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    /// <summary>Starts a silo process, waits for its "silo up" line, runs <paramref name="whileUp"/>, stops it; its output
    /// (stdout and stderr together), and its stderr alone in <paramref name="errors"/> when given.</summary>
    private static async Task<List<string>> UntilUp(ProcessStartInfo start, Func<System.Collections.Concurrent.ConcurrentQueue<string>, Task> whileUp,
        System.Collections.Concurrent.ConcurrentQueue<string>? errors = null)
    {
        using var silo = Process.Start(start)!;
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        silo.OutputDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue(e.Data); };
        silo.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            output.Enqueue(e.Data);
            errors?.Enqueue(e.Data);
        };
        silo.BeginOutputReadLine();
        silo.BeginErrorReadLine();
        try
        {
            for (var deadline = DateTime.UtcNow.AddSeconds(90); !output.Any(l => l.StartsWith("silo up", StringComparison.Ordinal)); await Task.Delay(100))
            {
                Assert.False(silo.HasExited, "asd silo exited: " + string.Join('\n', output));
                Assert.True(DateTime.UtcNow < deadline, "asd silo did not start within 90 s: " + string.Join('\n', output));
            }
            await whileUp(output);
        }
        finally
        {
            silo.Kill(entireProcessTree: true);
            await silo.WaitForExitAsync();
        }
        return output.ToList();
    }

    [Fact]
    public async Task A_cluster_silo_whose_service_id_has_no_data_beside_another_services_warns_on_stderr_and_starts()
    {
        var folder = Directory.CreateTempSubdirectory("asd-cli-silo-service-").FullName;
        var redis = await AsdOrleans.Tests.RedisServer.StartAsync(Directory.CreateDirectory(Path.Combine(folder, "redis")).FullName);
        try
        {
            // Stderr of a cluster silo of service serviceId, up until whileUp is done.
            async Task<List<string>> Errors(string serviceId, Func<Task>? whileUp = null)
            {
                var start = new ProcessStartInfo("dotnet",
                [
                    Path.Combine(AppContext.BaseDirectory, "asd.dll"), "silo", "--cluster", redis.Connection, "--urls", $"http://127.0.0.1:{SiloApp.FreeLoopbackPort()}",
                    // One data directory per service: a cluster's silos share one (a silo on another warns, stop 54).
                    "--data-dir", Path.Combine(folder, $"data-{serviceId}"), "--silo-port", SiloApp.FreeLoopbackPort().ToString(), "--gateway-port", SiloApp.FreeLoopbackPort().ToString(),
                ])
                { RedirectStandardOutput = true, RedirectStandardError = true };
                start.Environment["Asd__ServiceId"] = serviceId;
                var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
                await UntilUp(start, _ => whileUp?.Invoke() ?? Task.CompletedTask, errors);
                return errors.ToList();
            }

            List<string> typo = [], sameService = [];
            // The first silo of a fresh Redis starts a new service; it stays up (a killed silo would hold up the next
            // silo of its cluster while Orleans tries to reach it), and the others start beside it.
            var first = await Errors("plant-a", async () =>
            {
                typo = await Errors("plant-a-typo");
                sameService = await Errors("plant-a");
            });
            Assert.DoesNotContain(first, l => l.StartsWith("warning:", StringComparison.Ordinal));
            Assert.Contains($"warning: Redis at '127.0.0.1:{redis.Port}' holds the data of service(s) 'plant-a' and none of this silo's service id 'plant-a-typo' "
                + "(Asd:ServiceId, Asd__ServiceId): this silo starts a new, empty service, whose machines must be enrolled again. "
                + "If it should join 'plant-a', stop it and give it that service id", typo);
            Assert.DoesNotContain(sameService, l => l.StartsWith("warning:", StringComparison.Ordinal)); // its service's data is there
        }
        finally
        {
            await redis.DisposeAsync();
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task A_machines_only_silo_process_configured_by_environment_serves_the_api_description_and_the_dashboard()
    {
        var data = Directory.CreateTempSubdirectory("asd-cli-silo-").FullName;
        int http = SiloApp.FreeLoopbackPort();
        var start = new ProcessStartInfo("dotnet",
        [
            Path.Combine(AppContext.BaseDirectory, "asd.dll"), "silo", "--urls", $"http://127.0.0.1:{http}",
            "--silo-port", SiloApp.FreeLoopbackPort().ToString(), "--gateway-port", SiloApp.FreeLoopbackPort().ToString(),
        ])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        // Containers configure a silo through the environment: options left out must not override it with their defaults.
        start.Environment["Asd__Roles"] = "machines";
        start.Environment["Asd__DataDirectory"] = data;
        start.Environment["Asd__ApiKeys__Operator__0"] = "operator-from-env";
        start.Environment["Asd__ApiKeys__Labellers__quinn.r"] = "quinn-from-env"; // one person's key: no shared labeller key is generated
        start.Environment["Asd__AlertWebhook__Url"] = "http://127.0.0.1:9/hooks/asd"; // no alert is raised: nothing is sent
        try
        {
            await UntilUp(start, async output =>
            {
                Assert.Contains(output, l => l.StartsWith("silo up (machines)", StringComparison.Ordinal) && l.Contains("/dashboard"));
                // The shipped runtime configuration keeps gen0 pauses short and compacts a fragmented gen2 (docs/decisions.md).
                for (var deadline = DateTime.UtcNow.AddSeconds(5); !output.Any(l => l.StartsWith("garbage collector:", StringComparison.Ordinal)) && DateTime.UtcNow < deadline;)
                    await Task.Delay(50);
                // A heap limit follows where the process runs under a memory limit (a container's).
                Assert.Contains(output, l => l.StartsWith("garbage collector: workstation, concurrent, gen0 budget at most 1,024 KB, conserve-memory level 7", StringComparison.Ordinal));
                // An operator sees where alerts go, and that they go unsigned.
                Assert.Contains("alerts POSTed to http://127.0.0.1:9/hooks/asd (unsigned: Asd__AlertWebhook__Secret is empty)", output);
                // The operator key came from the environment; the other roles' keys were generated for this run.
                Assert.DoesNotContain(output, l => l.StartsWith("generated operator API key", StringComparison.Ordinal));
                Assert.Contains(output, l => l.StartsWith("generated device API key", StringComparison.Ordinal));
                Assert.DoesNotContain(output, l => l.StartsWith("generated labeller API key", StringComparison.Ordinal));
                string operatorKey = "operator-from-env";

                using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{http}") };
                var document = JsonDocument.Parse(await client.GetStringAsync(SiloWebSurface.OpenApiPath)).RootElement;
                Assert.True(document.GetProperty("paths").TryGetProperty("/api/machines/{id}/clips", out _));
                Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/dashboard/")).StatusCode);
                using var configure = new HttpRequestMessage(HttpMethod.Put, "/api/machines/cli.m1") { Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json") };
                configure.Headers.Add("X-Api-Key", operatorKey);
                Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(configure)).StatusCode);
                Assert.True(File.Exists(Path.Combine(data, "grains.db")), "grain state goes under Asd__DataDirectory");
                using var whoami = new HttpRequestMessage(HttpMethod.Get, "/api/whoami");
                whoami.Headers.Add("X-Api-Key", "quinn-from-env");
                var identity = JsonDocument.Parse(await (await client.SendAsync(whoami)).Content.ReadAsStringAsync()).RootElement;
                Assert.Equal(("labeller", "quinn.r"), (identity.GetProperty("role").GetString(), identity.GetProperty("labeller").GetString()));
            });
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    private sealed class TempFile : IDisposable
    {
        public string Path { get; } = System.IO.Path.GetTempFileName();
        public void Dispose() => File.Delete(Path);
    }
}
