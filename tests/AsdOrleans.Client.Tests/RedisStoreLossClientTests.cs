using System.Net;
using System.Net.Http.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Model;
using AsdOrleans.Silo;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Client.Tests;

/// <summary>
/// A Redis that lost the cluster's store refused the HTTP API's writes (stop 55), but not the .NET client's: its calls go
/// through an Orleans gateway straight to the grains, so a labelling service could still post clips and labels into the
/// emptied store. A real redis-server and silo (as RedisStoreLossTests): after the loss the client's writes are refused
/// with <see cref="ClusterStoreLostException"/> naming the loss and the accept-loss command, and change nothing; reads
/// are answered; after the operator accepts the loss the writes are taken again.
/// </summary>
public sealed class RedisStoreLossClientTests : IAsyncLifetime
{
    private const string Key = "loss-client-operator";
    private const string Service = "asd-orleans";
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-client-loss-").FullName;
    private RedisServer _redis = null!;
    private WebApplication _silo = null!;
    private HttpClient _http = null!;
    private string ClusterId => "client-loss-" + Path.GetFileName(_dir);
    private string DataDirectory => Path.Combine(_dir, "shared");

    public async ValueTask InitializeAsync()
    {
        _redis = await RedisServer.StartAsync(_dir);
        string modelPath = Path.Combine(_dir, "tiny.asdm");
        using (var model = EncoderModel.Untrained(new EncoderArchitecture { Width = 4, EmbeddingDimension = 16 }, seed: 7, TorchSharp.torch.CPU))
            model.Save(modelPath);
        Uri address;
        (_silo, address) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
        {
            ["Asd:Redis"] = _redis.Connection,
            ["Asd:ClusterId"] = ClusterId,
            ["Asd:DataDirectory"] = DataDirectory,
            ["Asd:ModelPath"] = modelPath,
            ["Asd:Device"] = "cpu",
            ["Asd:ApiKeys:Operator:0"] = Key,
        });
        _http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
        _http.DefaultRequestHeaders.Add("X-Api-Key", Key);
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        using (var soon = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            try { await _silo.StopAsync(soon.Token); } catch (OperationCanceledException) { }
        }
        await _silo.DisposeAsync();
        await _redis.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private static (long Seen, int Pending, long Normal, long Anomalous, double? Budget) Counts(MachineStatus s)
        => (s.ClipsSeen, s.PendingLabelRequests, s.NormalLabels, s.AnomalousLabels, s.Settings.Budget);

    [Fact]
    public async Task After_a_store_loss_the_clients_writes_are_refused_changing_nothing_reads_are_answered_and_accepting_the_loss_ends_it()
    {
        await using var client = await AsdClusterClient.ConnectAsync(new AsdClientOptions { Redis = _redis.Connection, ClusterId = ClusterId });
        const string machine = "loss.client-1";
        var settings = new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 4 };
        await client.ConfigureAsync(machine, settings);
        await client.EnrollFromAudioAsync(machine, TestClips.Training.Take(6).ToList());
        Assert.True((await client.PushClipAsync(machine, "c-1", TestClips.Test[0], "store://c-1")).LabelRequested);
        var before = Counts(await client.GetStatusAsync(machine));
        Assert.Equal(1, before.Pending);

        string lost = File.ReadAllText(Path.Combine(DataDirectory, RedisStoreIdentity.FileName(Service)));
        using (var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_redis.Connection + ",allowAdmin=true"))
            await admin.GetServers()[0].FlushAllDatabasesAsync();
        var watch = _silo.Services.GetRequiredService<RedisStoreWatch>();
        await Waiting.Until(() => watch.Problem is not null, "the silo's store watch sees the loss");

        // Every write the client makes is refused, naming the loss and the operator's command; the HTTP API's too (503).
        var clip = await Assert.ThrowsAsync<ClusterStoreLostException>(() => client.PushClipAsync(machine, "c-2", TestClips.Test[1], "store://c-2"));
        Assert.Contains("lost its data", clip.Message);
        Assert.Contains("asd cluster accept-store-loss", clip.Message);
        Assert.Contains("POST /api/cluster/store/accept-loss", clip.Message);
        await Assert.ThrowsAsync<ClusterStoreLostException>(() => client.SubmitLabelAsync(machine, "c-1", ClipLabelValue.Anomalous, "ann"));
        await Assert.ThrowsAsync<ClusterStoreLostException>(() => client.DeclineLabelRequestAsync(machine, "c-1", "ann"));
        await Assert.ThrowsAsync<ClusterStoreLostException>(() => client.ClaimLabelRequestAsync(machine, "c-1", "ann"));
        await Assert.ThrowsAsync<ClusterStoreLostException>(() => client.ConfigureAsync(machine, settings with { Budget = 0.2 }));
        await Assert.ThrowsAsync<ClusterStoreLostException>(() => client.ConfigureAsync("loss.client-new", settings));
        await Assert.ThrowsAsync<ClusterStoreLostException>(() => client.RetireAsync(machine));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await _http.PutAsJsonAsync($"/api/machines/{machine}", settings with { Budget = 0.2 })).StatusCode);

        // Reads are answered, and show that nothing changed: the clip was not scored, the request is still pending, unclaimed.
        Assert.Equal(before, Counts(await client.GetStatusAsync(machine)));
        var pending = Assert.Single(await client.GetPendingLabelRequestsAsync(machine));
        Assert.Equal("c-1", pending.ClipId);
        Assert.Null(pending.ClaimedBy);
        Assert.Contains(machine, await client.ListMachinesAsync());
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync($"/api/machines/{machine}")).StatusCode);

        // The operator accepts the loss: the client's writes are taken again, the first of each at once. The silo answers
        // only once it has dropped the activations that lived through the loss (the machine, its registry shard), so
        // the machine reloads from the new store: nothing of the lost state is mixed in, and it is listed again.
        var accepted = await _http.PostAsJsonAsync("/api/cluster/store/accept-loss", new { lost, by = "test operator" });
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        var answer = System.Text.Json.JsonDocument.Parse(await accepted.Content.ReadAsStringAsync()).RootElement;
        Assert.True(answer.GetProperty("droppedActivations").GetInt32() > 0);
        Assert.Equal(0, answer.GetProperty("stillGoing").GetInt32());
        Assert.Contains("reloads from the new store", answer.GetProperty("reloaded").GetString());
        Assert.Null(watch.Problem);
        await client.ConfigureAsync(machine, settings);
        await client.EnrollFromAudioAsync(machine, TestClips.Training.Take(6).ToList());
        Assert.True((await client.PushClipAsync(machine, "c-2", TestClips.Test[1], "store://c-2")).LabelRequested);
        var receipt = await client.SubmitLabelAsync(machine, "c-2", ClipLabelValue.Normal, "ann");
        Assert.Equal(("c-2", ClipLabelValue.Normal, false), (receipt.ClipId, receipt.Label, receipt.AlreadyApplied));
        // Before stop 56's fix GetStatusAsync failed here (MachineNotFoundException): the registry shard, active through
        // the loss, kept the lost state's version and failed every write into the new store, so the machine was never listed.
        Assert.Equal((1L, 0, 1L, 0L, (double?)1.0), Counts(await client.GetStatusAsync(machine)));
        Assert.Equal([machine], await client.ListMachinesAsync());
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync($"/api/machines/{machine}")).StatusCode);
    }

    [Fact]
    public void Every_machine_method_is_a_marked_write_or_a_known_read()
    {
        // A new method is a write unless it is added here knowingly: a read is answered while the store is lost.
        string[] reads = ["EarlierVerdict", "GetPendingLabelRequests", "GetStatus", "GetEnrolledEmbedder"];
        var unmarked = typeof(IMachineGrain).GetMethods()
            .Where(m => !m.IsDefined(typeof(StoreWriteAttribute), inherit: false)).Select(m => m.Name).Distinct().Order().ToList();
        Assert.Equal(reads.Order(), unmarked);
        Assert.True(typeof(IEncoderWorkerGrain).GetMethod(nameof(IEncoderWorkerGrain.Ingest))!.IsDefined(typeof(StoreWriteAttribute), inherit: false));
    }
}
