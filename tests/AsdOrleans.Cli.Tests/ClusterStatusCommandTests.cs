using System.Net.Http.Json;
using System.Text.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Silo;
using AsdOrleans.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Cli.Tests;

/// <summary>`asd cluster status|where` against two real silos in one Redis cluster on loopback.</summary>
public sealed class ClusterStatusCommandTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-cluster-status-").FullName;
    private RedisServer _redis = null!;
    private readonly List<(WebApplication App, string Url)> _silos = [];
    private const int Machines = 12;
    private const string Webhook = "http://127.0.0.1:9/hooks/asd";
    /// <summary>The first silo hosts machines only; the second the encoder workers as well.</summary>
    private static readonly string[] Roles = ["machines", "encoder,machines"];

    public async ValueTask InitializeAsync()
    {
        _redis = await RedisServer.StartAsync(_dir);
        foreach (var roles in Roles)
        {
            var (app, address) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
            {
                ["Asd:Roles"] = roles,
                ["Asd:Embedder"] = "spectral", // the encoder role without a model file
                ["Asd:Redis"] = _redis.Connection,
                ["Asd:ClusterId"] = "cli-" + Path.GetFileName(_dir),
                ["Asd:DataDirectory"] = Path.Combine(_dir, "shared"),
                ["Asd:ApiKeys:Operator:0"] = "op",
                ["Asd:ApiKeys:Labeller:0"] = "lab",
                ["Asd:AlertWebhook:Url"] = Webhook, // no alert is raised here: nothing is sent to it
            });
            _silos.Add((app, address.ToString()));
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (app, _) in _silos)
        {
            try { await app.StopAsync(); } catch (ObjectDisposedException) { }
            await app.DisposeAsync();
        }
        await _redis.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private static HttpClient Operator(string url)
    {
        var http = new HttpClient { BaseAddress = new Uri(url) };
        http.DefaultRequestHeaders.Add("X-Api-Key", "op");
        return http;
    }

    [Fact]
    public async Task An_operator_sees_each_silos_roles_and_machines_where_a_machine_is_and_what_a_stopped_encoder_silo_takes_away()
    {
        var cancellation = TestContext.Current.CancellationToken;
        string a = _silos[0].Url, b = _silos[1].Url;
        using (var http = Operator(a))
            for (int m = 0; m < Machines; m++) // created and active, wherever the cluster places them
                Assert.True((await http.PutAsJsonAsync($"/api/machines/cl.m{m:00}", new MachineSettings(), cancellation)).IsSuccessStatusCode);

        var (code, output, error) = await CliHarness.Run("cluster", "status", "--url", b, "--key", "op", "--json");
        Assert.True(code == 0, error);
        var silos = JsonDocument.Parse(output).RootElement.EnumerateArray().ToList();
        Assert.Equal(2, silos.Count);
        Assert.All(silos, s => Assert.Equal("Active", s.GetProperty("status").GetString()));
        Assert.Equal(Roles.Order(), silos.Select(s => s.GetProperty("roles").GetString()!).Order());
        Assert.Equal(Machines, silos.Sum(s => s.GetProperty("machineGrains").GetInt32()));
        var addresses = silos.Select(s => s.GetProperty("address").GetString()!).ToList();

        (code, output, error) = await CliHarness.Run("cluster", "status", "--url", a, "--key", "op");
        Assert.True(code == 0, error);
        Assert.All(addresses, address => Assert.Contains(address, output));
        Assert.Contains($"2 of 2 silos active; {Machines} machine grains, 0 encoder workers active (a silo with the encoder role starts its workers with the first clip or enrollment it embeds)", output);
        Assert.Contains("encoder,machines", output);
        Assert.Contains($"alert webhook: {Webhook}: 0 alert(s) waiting, 0 of 32 shards failing", output);
        Assert.DoesNotContain("warning", output);

        // Where one machine is: one of the two silos, as the directory says; a machine nobody configured is no machine.
        (code, output, error) = await CliHarness.Run("cluster", "where", "--url", a, "--key", "op", "--machine", "cl.m03");
        Assert.True(code == 0, error);
        Assert.Single(addresses, address => output.Contains($"cl.m03: on silo {address} (Active)"));
        (code, output, error) = await CliHarness.Run("cluster", "where", "--url", a, "--key", "op", "--machine", "cl.never");
        Assert.True(code == 2, $"exit {code}: {output}{error}");
        Assert.Contains("no machine 'cl.never': nobody configured or enrolled it", error);

        // The cluster view is an operator's: a labeller key is refused, and a bad machine id is a usage error.
        (code, _, error) = await CliHarness.Run("cluster", "status", "--url", a, "--key", "lab");
        Assert.Equal(2, code);
        Assert.Contains("403", error);
        (code, _, error) = await CliHarness.Run("cluster", "where", "--url", a, "--key", "op", "--machine", "no spaces");
        Assert.Equal(2, code);
        Assert.Contains("--machine", error);

        // Stop the encoder silo: the other one lists it as dead and says what no longer works without the encoder role.
        var (survivorUrl, stoppedApp) = (_silos[0].Url, _silos[1].App);
        string survivor = OrleansAddress(_silos[0].App);
        await stoppedApp.StopAsync(cancellation);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        do
        {
            (code, output, error) = await CliHarness.Run("cluster", "status", "--url", survivorUrl, "--key", "op");
            Assert.True(code == 0, error);
            if (output.Contains("1 of 2 silos active")) break;
            await Task.Delay(500, cancellation);
        } while (DateTime.UtcNow < deadline);
        Assert.Contains("1 of 2 silos active", output);
        Assert.Contains("Dead", output);
        Assert.Contains("warning: no active silo has the encoder role: clips and enrollments sent as audio cannot be embedded", output);
        Assert.DoesNotContain("machines role", output);

        // A machine's next call activates it on the survivor, wherever it was.
        using (var http = Operator(survivorUrl))
            Assert.True((await http.GetAsync("/api/machines/cl.m03", cancellation)).IsSuccessStatusCode);
        (code, output, error) = await CliHarness.Run("cluster", "where", "--url", survivorUrl, "--key", "op", "--machine", "cl.m03");
        Assert.True(code == 0, error);
        Assert.Contains($"cl.m03: on silo {survivor} (Active)", output);
    }

    /// <summary>A silo's address as the membership table and the CLI show it (not its HTTP URL).</summary>
    private static string OrleansAddress(WebApplication app) => app.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToString();
}
