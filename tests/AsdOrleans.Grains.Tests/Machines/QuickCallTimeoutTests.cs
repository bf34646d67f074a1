using System.Diagnostics;
using AsdOrleans.Abstractions;
using Orleans.Configuration;
using AsdOrleans.Grains.Tests.Storage;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>
/// A clip call that gets no answer (it went down with a crashed silo; here a silo holds it longer than any clip takes)
/// fails after <see cref="CallTimeouts.Quick"/>, not after the 5 minutes that silos and clients allow enrollment: the
/// caller, a gateway, retries it instead of holding it.
/// </summary>
public sealed class QuickCallTimeoutTests : IDisposable
{
    private static readonly TimeSpan Held = TimeSpan.FromSeconds(40);
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task A_clip_call_that_gets_no_answer_fails_after_the_quick_timeout_though_the_default_is_five_minutes()
    {
        var cluster = await SqliteMachineCluster.StartAsync(_folder.File("grains.db"), silo: silo =>
        {
            silo.Configure<SiloMessagingOptions>(m => m.ResponseTimeout = TimeSpan.FromMinutes(5)); // as SiloApp
            silo.AddIncomingGrainCallFilter(async call =>
            {
                if (call.InterfaceMethod.Name == nameof(IMachineGrain.ProcessClip)) await Task.Delay(Held);
                await call.Invoke();
            });
        }, client: client => client.Configure<ClientMessagingOptions>(m => m.ResponseTimeout = TimeSpan.FromMinutes(5))); // as AsdClientOptions
        try
        {
            var machine = cluster.Client.GetGrain<IMachineGrain>("held.m1");
            var clock = Stopwatch.StartNew();
            await Assert.ThrowsAsync<TimeoutException>(() => machine.ProcessClip(new ClipSubmission("c0", new float[8], "enc")));
            Assert.InRange(clock.Elapsed, TimeSpan.Parse(CallTimeouts.Quick) - TimeSpan.FromSeconds(1), Held - TimeSpan.FromSeconds(1));
        }
        finally
        {
            await cluster.StopAllSilosAsync();
            await cluster.DisposeAsync();
        }
    }
}
