using AsdOrleans.Abstractions;
using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Grains.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Orleans.TestingHost;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>
/// Two activations of one machine on one store (a duplicate activation in a Redis cluster, two silos on one SQLite
/// directory): after one of them writes the full state, the other's journal write (a label that merges into a capped
/// set) must fail rather than be acknowledged, since the next load drops a journal of an older generation. Here two
/// clusters share one SQLite file, each with its own activation of the machine.
/// </summary>
public sealed class StaleActivationJournalTests : IDisposable
{
    private const string Model = "enc-stale1";
    private const string Id = "stale.m1";
    private static readonly EmbeddingTable Plant = SyntheticEmbeddings.Generate(new SyntheticEmbeddingSettings { Machines = 1, Seed = 11, SourceTrain = 120 });
    private static readonly List<EmbeddingRecord> Train = Plant.Records.Where(r => !r.IsTest).ToList();
    private static readonly List<EmbeddingRecord> Test = Plant.Records.Where(r => r.IsTest).ToList();
    // Caps below what enrollment fills: a normal label merges in place (the model keeps its length), a journal write.
    private static readonly MachineSettings Settings = new() { Strategy = "random", Budget = 0.5, Seed = 9, ReferenceCap = 40, AnomalyCap = 1, ScoreCap = 40, EmbeddingPrecision = "fp32" };

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private Task<InProcessTestCluster> Start() => SqliteMachineCluster.StartAsync(_folder.File("grains.db"));

    private static async Task Stop(InProcessTestCluster cluster)
    {
        await cluster.StopAllSilosAsync();
        await cluster.DisposeAsync();
    }

    [Fact]
    public async Task A_stale_activations_label_after_another_full_write_is_refused_and_every_acknowledged_label_survives()
    {
        var a = await Start();
        var machineA = a.Client.GetGrain<IMachineGrain>(Id);
        await machineA.Configure(Settings);
        await machineA.Enroll(new EnrollmentRequest(Train.Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model));
        var pending = new List<string>();
        for (int clip = 0; pending.Count < 3; clip++)
        {
            var verdict = await machineA.ProcessClip(new ClipSubmission($"c{clip}", Test[clip % Test.Count].Embedding, Model));
            if (verdict.LabelRequested) pending.Add(verdict.ClipId);
        }
        // One anomalous label fills A's cap (a full write): later labels merge in place.
        await machineA.SubmitLabel(pending[0], ClipLabelValue.Anomalous);
        await a.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero); // flushed, deactivated

        // B loads the machine as stored; A then changes its settings, a full write B knows nothing of.
        var b = await Start();
        var machineB = b.Client.GetGrain<IMachineGrain>(Id);
        Assert.Equal(2, (await machineB.GetPendingLabelRequests(10)).Count);
        await machineA.Configure(Settings with { Budget = 0.4 });

        var acknowledged = new List<string>();
        try
        {
            await machineB.SubmitLabel(pending[1], ClipLabelValue.Normal);
            acknowledged.Add(pending[1]);
        }
        catch (Exception e) when (Chain(e).Any(x => x is InconsistentStateException))
        {
            // refused: the caller is told the state changed on another silo, and retries
        }
        Assert.Empty(acknowledged); // B's ETag is stale: its journal write must not be acknowledged

        // B's retry reloads what storage holds (A's settings) and is acknowledged.
        var receipt = await Retried(() => machineB.SubmitLabel(pending[1], ClipLabelValue.Normal));
        Assert.False(receipt.AlreadyApplied);
        acknowledged.Add(pending[1]);
        await Stop(a);
        await Stop(b);

        // Every acknowledged label survives a restart, and A's settings too.
        var c = await Start();
        try
        {
            var machine = c.Client.GetGrain<IMachineGrain>(Id);
            Assert.Equal(0.4, (await machine.GetStatus()).Settings.Budget);
            var stillPending = (await machine.GetPendingLabelRequests(10)).Select(r => r.ClipId).ToList();
            Assert.Equal([pending[2]], stillPending);
            foreach (var clipId in acknowledged)
                Assert.True((await machine.SubmitLabel(clipId, ClipLabelValue.Normal)).AlreadyApplied);
        }
        finally
        {
            await Stop(c);
        }
    }

    [Fact]
    public async Task While_a_silo_leaves_a_second_activation_fences_off_the_first_and_no_clip_either_acknowledged_is_dropped()
    {
        // Two clusters on one file stand for the second activation that Orleans' default directory can make while a silo
        // leaves: B starts while A still lives. Without the fence, A's next clip went to the journal and was acknowledged,
        // B's full write (here a settings change) then raised the generation, and the next load dropped A's journal.
        var quiet = Settings with { Strategy = "none" }; // no label requests: clips are journal writes
        var a = await Start();
        var b = await Start();
        var acknowledged = new List<string>();
        var status = await StoredAfter(a, b, async () =>
        {
            foreach (var cluster in new[] { a, b })
                cluster.Silos[0].ServiceProvider.GetRequiredService<WriteThroughWindow>().Open();
            var machineA = a.Client.GetGrain<IMachineGrain>(Id);
            await machineA.Configure(quiet);
            await machineA.Enroll(new EnrollmentRequest(Train.Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model));
            for (int clip = 0; clip < 3; clip++)
            {
                await machineA.ProcessClip(new ClipSubmission($"a{clip}", Test[clip].Embedding, Model));
                acknowledged.Add($"a{clip}");
            }
            var machineB = b.Client.GetGrain<IMachineGrain>(Id);
            Assert.Equal(3, (await machineB.GetStatus()).ClipsSeen); // B reads what A wrote: each clip before its verdict
            try
            {
                await machineA.ProcessClip(new ClipSubmission("a3", Test[3].Embedding, Model));
                acknowledged.Add("a3");
            }
            catch (Exception e) when (Chain(e).Any(x => x is InconsistentStateException))
            {
                // refused: B fenced A off, and the caller retries, to B
            }
            Assert.DoesNotContain("a3", acknowledged);
            await machineB.Configure(quiet with { Budget = 0.4 }); // a full write: the generation moves on
            await machineB.ProcessClip(new ClipSubmission("a3", Test[3].Embedding, Model)); // the retry
            acknowledged.Add("a3");
        });
        Assert.Equal(acknowledged.Count, status.ClipsSeen);
        Assert.Equal(0.4, status.Settings.Budget);
    }

    [Fact]
    public async Task An_activation_fenced_off_while_the_window_was_open_refuses_its_first_clip_after_it_instead_of_writing_it_behind()
    {
        // A lives through the window without a clip while B fences it off; its first clip after the window must not be
        // acknowledged and written behind (that write would fail, and the clip be lost).
        var clock = new SettableClock();
        var a = await SqliteMachineCluster.StartAsync(_folder.File("grains.db"), silo: s => s.Services.AddSingleton(new WriteThroughWindow(clock)));
        var b = await Start();
        var status = await StoredAfter(a, b, async () =>
        {
            var quiet = Settings with { Strategy = "none" };
            var machineA = a.Client.GetGrain<IMachineGrain>(Id);
            await machineA.Configure(quiet);
            await machineA.Enroll(new EnrollmentRequest(Train.Select(r => new EnrollmentClip(r.Embedding, r.IsTarget)).ToList(), Model));
            // A was activated before any window; then both windows open, and A's clip is written before its verdict.
            a.Silos[0].ServiceProvider.GetRequiredService<WriteThroughWindow>().Open();
            b.Silos[0].ServiceProvider.GetRequiredService<WriteThroughWindow>().Open();
            await machineA.ProcessClip(new ClipSubmission("a0", Test[0].Embedding, Model));
            Assert.Equal(1, (await b.Client.GetGrain<IMachineGrain>(Id).GetStatus()).ClipsSeen); // B reads it, and fences A off
            clock.Now += WriteThroughWindow.Length + TimeSpan.FromSeconds(1); // A's window closes

            var refused = await Assert.ThrowsAnyAsync<Exception>(() => machineA.ProcessClip(new ClipSubmission("a1", Test[1].Embedding, Model)));
            Assert.Contains(Chain(refused), x => x is InconsistentStateException);
            await b.Client.GetGrain<IMachineGrain>(Id).ProcessClip(new ClipSubmission("a1", Test[1].Embedding, Model)); // the retry
        });
        Assert.Equal(2, status.ClipsSeen);
    }

    /// <summary>Runs <paramref name="steps"/> on two clusters that share the file (two activations of the machine), stops
    /// each once, and returns the machine's status as a third cluster reads it from the store.</summary>
    private async Task<MachineStatus> StoredAfter(InProcessTestCluster a, InProcessTestCluster b, Func<Task> steps)
    {
        bool aStopped = false, bStopped = false;
        try
        {
            await steps();
            aStopped = true;
            await Stop(a);
            bStopped = true;
            await Stop(b);
        }
        finally
        {
            if (!aStopped) await Stop(a);
            if (!bStopped) await Stop(b);
        }
        var c = await Start();
        try
        {
            return await c.Client.GetGrain<IMachineGrain>(Id).GetStatus();
        }
        finally
        {
            await Stop(c);
        }
    }

    private sealed class SettableClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = DateTimeOffset.UtcNow;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    /// <summary>The call, again while it fails for a conflict or a discarded activation (what a 503 tells a client).</summary>
    private static async Task<T> Retried<T>(Func<Task<T>> call)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (attempt < 10 && Chain(e).Any(x => x is InconsistentStateException or MachineStateUnavailableException))
            {
                await Task.Delay(100);
            }
        }
    }

    private static IEnumerable<Exception> Chain(Exception? e)
    {
        for (; e is not null; e = e.InnerException) yield return e;
    }
}
