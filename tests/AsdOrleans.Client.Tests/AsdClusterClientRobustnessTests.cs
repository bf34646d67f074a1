using System.Collections.Concurrent;
using AsdOrleans.Abstractions;
using Microsoft.Extensions.Logging;

namespace AsdOrleans.Client.Tests;

/// <summary>What an integrator's audit found (stop 53): a reader that falls behind, cancellation, options, disposal.</summary>
public sealed class AsdClusterClientRobustnessTests(EmbeddedSiloFixture silo) : IClassFixture<EmbeddedSiloFixture>
{
    private static readonly TimeSpan EventWait = TimeSpan.FromSeconds(15);

    private Task<AsdClusterClient> Connect(int subscriptionBuffer = 10_000)
        => AsdClusterClient.ConnectAsync(new AsdClientOptions { GatewayPort = silo.GatewayPort, SubscriptionBuffer = subscriptionBuffer });

    private async Task EnrollAskingForEveryLabel(AsdClusterClient client, string machine)
    {
        await client.ConfigureAsync(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 2 });
        Assert.True((await client.EnrollAsync(machine, await silo.TrainingEnrollment())).Enrolled);
    }

    private static async Task<T> Next<T>(MachineEventSubscription<T> subscription) where T : IMachineEvent
    {
        using var timeout = new CancellationTokenSource(EventWait);
        return await subscription.ReadAsync(timeout.Token);
    }

    [Fact]
    public async Task A_subscription_nobody_reads_ends_itself_and_the_others_keep_receiving()
    {
        const string machine = "robust.unread-1";
        await using var client = await Connect(subscriptionBuffer: 2);
        await EnrollAskingForEveryLabel(client, machine);
        var closed = await client.SubscribeToClosedLabelRequestsAsync(machine); // never read until the end
        await using var requests = await client.SubscribeToLabelRequestsAsync(machine);

        for (int i = 0; i < 8; i++)
        {
            await client.PushClipAsync(machine, $"u-{i}", TestClips.Test[i]);
            Assert.Equal($"u-{i}", (await Next(requests)).Request.ClipId); // stalled at the 3rd closed event before the fix
            await client.DeclineLabelRequestAsync(machine, $"u-{i}");
        }
        Assert.Equal("u-0", (await Next(closed)).ClipId);
        Assert.Equal("u-1", (await Next(closed)).ClipId);
        var overflow = await Assert.ThrowsAsync<SubscriptionOverflowException>(async () => await Next(closed));
        Assert.Contains("fell behind by more than 2 events", overflow.Message);
        // Enumerating says the same; disposing it afterwards is harmless.
        await Assert.ThrowsAsync<SubscriptionOverflowException>(async () => { await foreach (var _ in closed) { } });
        await closed.DisposeAsync();
    }

    [Fact]
    public async Task A_slow_callback_delays_only_its_own_subscription()
    {
        const string machine = "robust.slow-callback-1";
        await using var client = await Connect(subscriptionBuffer: 2);
        await EnrollAskingForEveryLabel(client, machine);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int called = 0;
        await using var slow = await client.OnLabelRequestAsync(async _ => { Interlocked.Increment(ref called); await gate.Task; }, machine);
        await using var requests = await client.SubscribeToLabelRequestsAsync(machine);

        for (int i = 0; i < 6; i++)
        {
            await client.PushClipAsync(machine, $"s-{i}", TestClips.Test[i]);
            Assert.Equal($"s-{i}", (await Next(requests)).Request.ClipId);
        }
        Assert.Equal(1, Volatile.Read(ref called)); // still in the first event; the others overflowed its buffer
        Assert.False(slow.Completion.IsCompleted);
        gate.SetResult();
        // The application is told the callbacks stopped, whether or not it gave the client a logger.
        await Assert.ThrowsAsync<SubscriptionOverflowException>(() => slow.Completion.WaitAsync(EventWait, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_cancelled_token_stops_a_call_before_it_reaches_the_cluster()
    {
        const string machine = "robust.cancelled-1";
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        var client = silo.Client;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            client.ConfigureAsync(machine, new MachineSettings { Strategy = "random" }, cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetPendingLabelRequestsAsync(cancellationToken: cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.SubscribeToAlertsAsync(machine, cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.OnAlertAsync(_ => Task.CompletedTask, machine, cancelled.Token));
        // The configure never ran: the machine does not exist.
        await Assert.ThrowsAsync<MachineNotFoundException>(() => client.GetStatusAsync(machine));
        // A token that fires during a call stops the wait (the grain call still completes on the silo).
        using var soon = new CancellationTokenSource(TimeSpan.FromMilliseconds(1));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            for (int i = 0; i < 1000; i++)
                await client.ListMachinesAsync(soon.Token);
        });
    }

    private static List<(string, AsdClientOptions)> InvalidOptions(int port) =>
    [
        (nameof(AsdClientOptions.SubscriptionBuffer), new AsdClientOptions { GatewayPort = port, SubscriptionBuffer = 0 }),
        (nameof(AsdClientOptions.ResponseTimeout), new AsdClientOptions { GatewayPort = port, ResponseTimeout = TimeSpan.Zero }),
        (nameof(AsdClientOptions.ConnectTimeout), new AsdClientOptions { GatewayPort = port, ConnectTimeout = TimeSpan.FromDays(2) }),
        (nameof(AsdClientOptions.ConnectTimeout), new AsdClientOptions { GatewayPort = port, ConnectTimeout = TimeSpan.FromSeconds(-3) }),
        (nameof(AsdClientOptions.GatewayPort), new AsdClientOptions { GatewayPort = 0 }),
        (nameof(AsdClientOptions.Redis), new AsdClientOptions { Redis = "localhost:1,nosuchkeyword=1" }),
        (nameof(AsdClientOptions.ServiceId), new AsdClientOptions { Redis = "localhost:1", ServiceId = " " }),
    ];

    [Fact]
    public async Task Invalid_options_are_refused_before_anything_connects()
    {
        // Against the live gateway, SubscriptionBuffer = 0 used to connect first and leave that client connected.
        var live = await Assert.ThrowsAsync<ArgumentException>(() =>
            AsdClusterClient.ConnectAsync(new AsdClientOptions { GatewayPort = silo.GatewayPort, SubscriptionBuffer = 0 }));
        Assert.Equal(nameof(AsdClientOptions.SubscriptionBuffer), live.ParamName);
        foreach (var (name, options) in InvalidOptions(Silo.SiloApp.FreeLoopbackPort()))
        {
            options.ConnectTimeout = options.ConnectTimeout == TimeSpan.FromSeconds(30) ? TimeSpan.FromSeconds(5) : options.ConnectTimeout;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var e = await Assert.ThrowsAsync<ArgumentException>(() => AsdClusterClient.ConnectAsync(options));
            Assert.Equal(name, e.ParamName);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"{name}: refused after {clock.Elapsed}, so it tried to connect first");
        }
    }

    [Fact]
    public async Task A_disposed_client_says_so()
    {
        var client = await Connect();
        await client.DisposeAsync();
        var subscribe = await Assert.ThrowsAsync<ObjectDisposedException>(() => client.SubscribeToAlertsAsync());
        Assert.Equal(nameof(AsdClusterClient), subscribe.ObjectName);
        var call = await Assert.ThrowsAsync<ObjectDisposedException>(() => client.GetStatusAsync("robust.any"));
        Assert.Equal(nameof(AsdClusterClient), call.ObjectName);
        var callback = await Assert.ThrowsAsync<ObjectDisposedException>(() => client.OnAlertAsync(_ => Task.CompletedTask));
        Assert.Equal(nameof(AsdClusterClient), callback.ObjectName);
        await client.DisposeAsync(); // twice is harmless
    }

    [Fact]
    public async Task The_client_logs_to_the_given_logger_factory()
    {
        const string machine = "robust.logged-1";
        var provider = new CollectingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(provider));
        await using var client = await AsdClusterClient.ConnectAsync(new AsdClientOptions { GatewayPort = silo.GatewayPort, LoggerFactory = loggerFactory });
        await EnrollAskingForEveryLabel(client, machine);
        await using var failing = await client.OnLabelRequestAsync(_ => throw new InvalidOperationException("labeller broke"), machine);
        await client.PushClipAsync(machine, "l-0", TestClips.Test[0]);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!provider.Messages.Any(m => m.Contains("handler failed") && m.Contains("labeller broke")) && clock.Elapsed < EventWait)
            await Task.Delay(100);
        Assert.Contains(provider.Messages, m => m.Contains("LabelRequestEvent handler failed for machine robust.logged-1"));
    }

    [Fact]
    public async Task Losing_the_gateway_is_announced()
    {
        var other = new EmbeddedSiloFixture();
        await other.InitializeAsync();
        await using var client = await AsdClusterClient.ConnectAsync(new AsdClientOptions { GatewayPort = other.GatewayPort });
        var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var counts = new ConcurrentQueue<int>();
        object? sentBy = null;
        client.GatewayCountChanged += (_, e) => counts.Enqueue(e.NumberOfConnectedGateways);
        client.ConnectionLost += (sender, _) => { sentBy = sender; lost.TrySetResult(); };
        await other.DisposeAsync(); // stops that silo
        await lost.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Same(client, sentBy);
        Assert.Contains(0, counts);
    }

    private sealed class CollectingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<string> Messages { get; } = new();
        public ILogger CreateLogger(string categoryName) => new Collector(this);
        public void Dispose() { }

        private sealed class Collector(CollectingLoggerProvider owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => true;
            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
                => owner.Messages.Enqueue($"{formatter(state, exception)} {exception?.Message}");
        }
    }
}
