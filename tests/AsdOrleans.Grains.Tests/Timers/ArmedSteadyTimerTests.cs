using System.Diagnostics;
using Orleans.TestingHost;

namespace AsdOrleans.Grains.Tests.Timers;

public interface IArmedTimerTestGrain : IGrainWithStringKey
{
    Task Start(int periodMs);
    Task Arm();
    /// <summary>Milliseconds since <see cref="Start"/> of each tick so far.</summary>
    Task<List<long>> Ticks();
}

/// <summary>Holds one <see cref="ArmedSteadyTimer"/> and records when it ticks.</summary>
public sealed class ArmedTimerTestGrain : Grain, IArmedTimerTestGrain
{
    private readonly Stopwatch _clock = new();
    private readonly List<long> _ticks = [];
    private ArmedSteadyTimer? _timer;

    public Task Start(int periodMs)
    {
        _clock.Restart();
        _timer = new ArmedSteadyTimer(this, _ =>
        {
            _ticks.Add(_clock.ElapsedMilliseconds);
            return Task.CompletedTask;
        }, TimeSpan.FromMilliseconds(periodMs));
        return Task.CompletedTask;
    }

    public Task Arm()
    {
        _timer!.Arm();
        return Task.CompletedTask;
    }

    public Task<List<long>> Ticks() => Task.FromResult(_ticks.ToList());
}

/// <summary>The flush timer of machines and score histories: no tick unless armed, one tick per arming, within one
/// period, on the activation's own grid.</summary>
public sealed class ArmedSteadyTimerTests : IAsyncLifetime
{
    private const int PeriodMs = 1_000;
    private InProcessTestCluster _cluster = null!;

    public async ValueTask InitializeAsync()
    {
        _cluster = new InProcessTestClusterBuilder(1).Build();
        await _cluster.DeployAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task A_timer_never_armed_never_ticks()
    {
        var grain = _cluster.Client.GetGrain<IArmedTimerTestGrain>("quiet");
        await grain.Start(PeriodMs);
        await Task.Delay(2 * PeriodMs + 500);
        Assert.Empty(await grain.Ticks());
    }

    [Fact]
    public async Task Each_arming_gives_one_tick_within_a_period_and_ticks_keep_to_one_grid()
    {
        var grain = _cluster.Client.GetGrain<IArmedTimerTestGrain>("armed");
        await grain.Start(PeriodMs);
        await grain.Arm();
        await grain.Arm(); // already armed: still one tick
        await Task.Delay(PeriodMs + 600);
        var first = await grain.Ticks();
        Assert.Single(first);

        await Task.Delay(PeriodMs + 300); // unarmed: nothing more
        Assert.Single(await grain.Ticks());

        await grain.Arm();
        await Task.Delay(PeriodMs + 600);
        var ticks = await grain.Ticks();
        Assert.Equal(2, ticks.Count);
        // The second tick comes a whole number of periods after the first (its grid), not a period after its arming.
        long apart = ticks[1] - ticks[0];
        long offGrid = Math.Min(apart % PeriodMs, PeriodMs - apart % PeriodMs);
        Assert.True(apart >= PeriodMs && offGrid < 300, $"ticks at {ticks[0]} and {ticks[1]} ms: {apart} ms apart, {offGrid} ms off the grid");
    }
}
