using System.Net.Http.Json;
using System.Text.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Silo;
using AsdOrleans.Tests;
using Microsoft.AspNetCore.Builder;

namespace AsdOrleans.Cli.Tests;

/// <summary>`asd cluster spread` (stop 57) against two real silos on one Redis: the second joins empty, one round moves
/// half the machines onto it through a --url list whose first silo is down; then the cluster is even and a round moves
/// nothing; a labeller's key and bounds out of range are refused.</summary>
public sealed class ClusterSpreadCommandTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-cluster-spread-").FullName;
    private RedisServer _redis = null!;
    private readonly List<(WebApplication App, string Url)> _silos = [];
    private const int Machines = 24;

    public async ValueTask InitializeAsync() => _redis = await RedisServer.StartAsync(_dir);

    private async Task<string> StartSilo()
    {
        var (app, address) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
        {
            ["Asd:Embedder"] = "spectral", // the encoder role without a model file
            ["Asd:Redis"] = _redis.Connection,
            ["Asd:ClusterId"] = "cli-spread",
            ["Asd:DataDirectory"] = Path.Combine(_dir, "shared"),
            ["Asd:ApiKeys:Operator:0"] = "op",
            ["Asd:ApiKeys:Labeller:0"] = "lab",
        });
        _silos.Add((app, address.ToString()));
        return address.ToString();
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

    [Fact]
    public async Task One_round_moves_half_the_machines_onto_the_silo_that_joined_and_then_nothing()
    {
        var cancellation = TestContext.Current.CancellationToken;
        string a = await StartSilo();
        using (var http = new HttpClient { BaseAddress = new Uri(a) })
        {
            http.DefaultRequestHeaders.Add("X-Api-Key", "op");
            for (int m = 0; m < Machines; m++) // created and active on the only silo
                Assert.True((await http.PutAsJsonAsync($"/api/machines/spread.m{m:00}", new MachineSettings { Strategy = "random", Budget = 0.2 }, cancellation)).IsSuccessStatusCode);
        }
        string b = await StartSilo();
        await Waiting.Until(async () =>
        {
            var (code, output, _) = await CliHarness.Run("cluster", "status", "--url", a, "--key", "op", "--json");
            return code == 0 && JsonDocument.Parse(output).RootElement.EnumerateArray().Count(s => s.GetProperty("status").GetString() == "Active"
                && s.TryGetProperty("roles", out var roles) && roles.ValueKind == JsonValueKind.String) == 2;
        }, "both silos active with their roles", seconds: 60);

        // Before any round: status says the silos are uneven, and that this test's silos do not spread by themselves.
        var (statusCode, status, statusError) = await CliHarness.Run("cluster", "status", "--url", a, "--key", "op");
        Assert.True(statusCode == 0, statusError);
        Assert.Contains($"note: the machines-role silos are uneven (mean {Machines / 2}; ", status);
        Assert.Contains(" holds 0): asd cluster spread moves machines onto the silos below the mean", status);
        Assert.Contains("spreading after a join: off on the answering silo (Asd__SpreadOnJoinSeconds=0, or the rebalancer on)", status);
        Assert.DoesNotContain("spreading: the last ended", status);

        var (refused, _, error) = await CliHarness.Run("cluster", "spread", "--url", a, "--key", "lab");
        Assert.NotEqual(0, refused);
        Assert.Contains("403", error);
        (refused, _, error) = await CliHarness.Run("cluster", "spread", "--url", a, "--key", "op", "--max", "0");
        Assert.NotEqual(0, refused);
        Assert.Contains("max is the most machines one round moves", error);

        // The first silo listed is down: the command goes on to the next.
        string down = $"http://127.0.0.1:{SiloApp.FreeLoopbackPort()}/";
        var (exit, table, failed) = await CliHarness.Run("cluster", "spread", "--url", $"{down},{b}", "--key", "op");
        Assert.True(exit == 0, failed);
        Assert.Contains("held before", table);
        Assert.Contains("arrived", table);
        Assert.Contains($"{Machines / 2} machines moved to the silos below the mean ({Machines / 2}) in 1 pass(es)", table);

        // Status tells the round that ended, and the silos are even now.
        (statusCode, status, statusError) = await CliHarness.Run("cluster", "status", "--url", b, "--key", "op");
        Assert.True(statusCode == 0, statusError);
        Assert.Contains("spreading: the last ended ", status);
        Assert.Contains($"(an operator's round, asked of silo ", status);
        Assert.Contains($"): {Machines / 2} machine(s) moved in 1 round(s); {Machines / 2} machines moved to the silos below the mean", status);
        Assert.DoesNotContain("note: the machines-role silos are uneven", status);

        (exit, var json, failed) = await CliHarness.Run("cluster", "spread", "--url", b, "--key", "op", "--json");
        Assert.True(exit == 0, failed);
        var round = JsonDocument.Parse(json).RootElement;
        Assert.Equal(0, round.GetProperty("moved").GetInt32());
        Assert.All(round.GetProperty("silos").EnumerateArray(), s => Assert.Equal(Machines / 2, s.GetProperty("heldAfter").GetInt32()));
        Assert.StartsWith("nothing to spread: no machines-role silo holds more than the mean", round.GetProperty("summary").GetString());
    }
}
