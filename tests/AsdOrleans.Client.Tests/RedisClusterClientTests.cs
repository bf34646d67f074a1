using AsdOrleans.Abstractions;
using AsdOrleans.Encoder;
using AsdOrleans.Encoder.Model;
using Microsoft.AspNetCore.Builder;

namespace AsdOrleans.Client.Tests;

/// <summary>Cluster mode: a real redis-server started by the test, a silo clustered through it, and a client that finds
/// the silo's gateway through Redis; stream subscriptions are kept in Redis grain storage.</summary>
public sealed class RedisClusterClientTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-client-redis-").FullName;
    private RedisServer _redis = null!;
    private string _connection = "";
    private WebApplication _silo = null!;
    private string ClusterId => "client-test-" + Path.GetFileName(_dir);

    public async ValueTask InitializeAsync()
    {
        _redis = await RedisServer.StartAsync(_dir);
        _connection = _redis.Connection;
        string modelPath = Path.Combine(_dir, "tiny.asdm");
        using (var model = EncoderModel.Untrained(new EncoderArchitecture { Width = 4, EmbeddingDimension = 16 }, seed: 7, TorchSharp.torch.CPU))
            model.Save(modelPath);
        (_silo, _) = await Silo.SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
        {
            ["Asd:Redis"] = _connection,
            ["Asd:ClusterId"] = ClusterId,
            ["Asd:DataDirectory"] = Path.Combine(_dir, "shared"),
            ["Asd:ModelPath"] = modelPath,
            ["Asd:Device"] = "cpu",
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _silo.StopAsync();
        await _silo.DisposeAsync();
        await _redis.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_client_found_through_redis_gets_label_requests_and_answers_them()
    {
        await using var client = await AsdClusterClient.ConnectAsync(new AsdClientOptions { Redis = _connection, ClusterId = ClusterId });
        const string machine = "redis.client-1";
        await client.ConfigureAsync(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 4 });
        await client.EnrollFromAudioAsync(machine, TestClips.Training.Take(6).ToList());
        await using var requests = await client.SubscribeToLabelRequestsAsync(machine);

        var verdict = await client.PushClipAsync(machine, "r-1", TestClips.Test[0], "store://r-1");
        Assert.True(verdict.LabelRequested);
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            var request = await requests.ReadAsync(timeout.Token);
            Assert.Equal((machine, "r-1", "store://r-1"), (request.MachineId, request.Request.ClipId, request.Request.AudioReference));
        }
        await client.SubmitLabelAsync(machine, "r-1", ClipLabelValue.Normal);
        Assert.Equal((1L, 0), (await client.GetStatusAsync(machine)) is var s ? (s.NormalLabels, s.PendingLabelRequests) : default);

        using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_connection);
        Assert.NotEmpty(redis.GetServers()[0].Keys(pattern: "*pubsubrendezvous*"));
    }

    [Fact]
    public async Task A_client_connects_and_works_as_a_redis_acl_user_with_the_documented_rights()
    {
        using var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_connection + ",allowAdmin=true");
        var server = admin.GetServers()[0];
        async Task<string> ClientUser(string commands)
        {
            await server.ExecuteAsync("ACL", ["SETUSER", "client", "reset", "on", ">client-secret", "resetchannels", "~asd-orleans/members/*", .. commands.Split(' ')]);
            return _connection + ",user=client,password=client-secret";
        }
        // Orleans' gateway list provider writes the membership hash's version field if it is missing.
        string withoutHsetnx = await ClientUser(AsdClientOptions.RedisAclCommands.Replace(" +hsetnx", ""));
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => AsdClusterClient.ConnectAsync(
            new AsdClientOptions { Redis = withoutHsetnx, ClusterId = ClusterId, ConnectTimeout = TimeSpan.FromSeconds(10) }));
        Assert.Contains("NOPERM", refused.Message);
        Assert.DoesNotContain("client-secret", refused.Message);

        await server.ExecuteAsync("ACL", "LOG", "RESET");
        await using (var client = await AsdClusterClient.ConnectAsync(new AsdClientOptions { Redis = await ClientUser(AsdClientOptions.RedisAclCommands), ClusterId = ClusterId }))
        {
            const string machine = "acl.client-1";
            await client.ConfigureAsync(machine, new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 4 });
            Assert.Equal<double?>(0.5, (await client.GetStatusAsync(machine)).Settings.Budget);
        }
        // StackExchange.Redis's optional handshake (CONFIG GET, CLUSTER NODES, its tie-break GET, SUBSCRIBE) may be refused; nothing else.
        var others = ((StackExchange.Redis.RedisResult[])(await server.ExecuteAsync("ACL", "LOG"))!)
            .Select(entry => ((StackExchange.Redis.RedisResult[])entry!).Select(x => x.ToString()).ToList())
            .Select(fields => fields[fields.IndexOf("object") + 1])
            .Where(what => what is not ("config|get" or "cluster|nodes" or "get" or "subscribe")).ToList();
        Assert.True(others.Count == 0, "refused the documented client user: " + string.Join(", ", others));
    }

    [Fact]
    public async Task A_cluster_id_no_silo_uses_is_a_clear_error()
    {
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => AsdClusterClient.ConnectAsync(
            new AsdClientOptions { Redis = _connection, ClusterId = "no-such-cluster", ConnectTimeout = TimeSpan.FromSeconds(3) }));
        Assert.Contains("cluster 'no-such-cluster'", e.Message);
    }
}
