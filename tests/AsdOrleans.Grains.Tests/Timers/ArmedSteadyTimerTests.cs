using System.Diagnostics;
using Orleans.TestingHost;

namespace AsdOrleans.Grains.Tests.Timers;

public interface IArmedTimerTestGrain : IGrainWithStringKey
{
    Task Start(int periodMs);
    /// <summary>Arms the timer <paramref name="times"/> times in one turn, so its tick cannot come in between.</summary>
    Task Arm(int times);
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

    public Task Arm(int times)
    {
        for (int i = 0; i < times; i++)
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
    public async Task Each_arming_gives_one_tick()
    {
        var grain = _cluster.Client.GetGrain<IArmedTimerTestGrain>("armed");
        await grain.Start(PeriodMs);
        // Armed again while armed: still one tick. Both in one turn: as two calls, a tick due within milliseconds (the grid's
        // phase is random) came between them on a loaded machine, and the second call rightly armed a second tick.
        await grain.Arm(2);
        await WaitForTicks(grain, 1);
        await Task.Delay(PeriodMs + 300); // unarmed: nothing more
        Assert.Single(await grain.Ticks());

        await grain.Arm(1);
        await WaitForTicks(grain, 2);
        await Task.Delay(PeriodMs + 300);
        Assert.Equal(2, (await grain.Ticks()).Count);
    }

    /// <summary>Polls until <paramref name="count"/> ticks came (each within a period of its arming, give or take a loaded
    /// machine's timer delay); when they came is checked on the grid's arithmetic below, not on a loaded clock.</summary>
    private static async Task WaitForTicks(IArmedTimerTestGrain grain, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await grain.Ticks()).Count < count && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.Equal(count, (await grain.Ticks()).Count);
    }

    [Theory]
    [InlineData(1_000, 5_000, 400, 1_000)]   // before the phase: the phase itself
    [InlineData(1_000, 5_000, 1_000, 6_000)] // on a grid point: the next one, a whole period on
    [InlineData(1_000, 5_000, 1_001, 6_000)]
    [InlineData(1_000, 5_000, 5_999, 6_000)]
    [InlineData(1_000, 5_000, 23_456, 26_000)] // periods later: still on the same grid
    public void The_next_tick_is_the_grids_next_point_within_one_period(long phase, long period, long now, long expected)
    {
        long next = ArmedSteadyTimer.NextGridPoint(phase, period, now);
        Assert.Equal(expected, next);
        Assert.InRange(next - now, 1, period);
        Assert.Equal(0, (next - phase) % period);
    }
}
