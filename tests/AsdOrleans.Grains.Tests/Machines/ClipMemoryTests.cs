using AsdOrleans.Method.Strategies;
using AsdOrleans.Abstractions;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Storage;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>The machine's hash-keyed memories of recent, answered and expired clips.</summary>
public sealed class ClipMemoryTests
{
    private static OrleansGrainStorageSerializer StorageSerializer() => new(new ServiceCollection()
        .AddSerializer(b => b.AddAssembly(typeof(MachineGrainState).Assembly).AddAssembly(typeof(MachineSettings).Assembly))
        .BuildServiceProvider().GetRequiredService<Serializer>());

    [Fact]
    public void Keeps_the_newest_clips_up_to_its_capacity_and_updates_a_known_clip_in_place()
    {
        var memory = new ClipMemory<int>(capacity: 3);
        for (int i = 0; i < 5; i++)
            memory.Remember($"k{i}", i);

        Assert.Equal(3, memory.Count);
        Assert.Equal([2, 3, 4], memory.OldestFirst());
        Assert.False(memory.Contains("k1"));
        Assert.True(memory.TryGet("k3", out var three));
        Assert.Equal(3, three);

        memory.Remember("k3", 30); // not a new clip: nothing is forgotten, and it keeps its age
        Assert.Equal([2, 30, 4], memory.OldestFirst());
        memory.Remember("k5", 5);
        Assert.Equal([30, 4, 5], memory.OldestFirst());
        Assert.False(memory.TryGet("k2", out _));
        Assert.False(memory.Contains("K5")); // clip ids are case-sensitive, as everywhere

        memory.Clear();
        Assert.Equal(0, memory.Count);
        Assert.False(memory.Contains("k5"));
    }

    [Fact]
    public void Resizing_keeps_the_newest_clips_in_age_order_and_the_ring_goes_on_from_there()
    {
        var memory = new ClipMemory<int>(capacity: 5);
        for (int i = 0; i < 8; i++) // wrapped: the oldest entry is no longer in slot 0
            memory.Remember($"k{i}", i);

        memory.Resize(3);
        Assert.Equal(3, memory.Capacity);
        Assert.Equal([5, 6, 7], memory.OldestFirst());
        Assert.False(memory.Contains("k4"));
        memory.Remember("k8", 8);
        Assert.Equal([6, 7, 8], memory.OldestFirst());

        memory.Resize(6); // larger: nothing forgotten, room for three more
        memory.Remember("k9", 9);
        Assert.Equal([6, 7, 8, 9], memory.OldestFirst());
        for (int i = 10; i < 13; i++)
            memory.Remember($"k{i}", i);
        Assert.Equal([7, 8, 9, 10, 11, 12], memory.OldestFirst());
        Assert.True(memory.TryGet("k7", out var seven));
        Assert.Equal(7, seven);

        var partial = new ClipMemory<int>(capacity: 10); // not full: resizing below its count keeps the newest
        for (int i = 0; i < 4; i++)
            partial.Remember($"p{i}", i);
        partial.Resize(2);
        Assert.Equal([2, 3], partial.OldestFirst());
        var empty = new ClipMemory<int>(capacity: 4);
        empty.Resize(1);
        Assert.Equal(0, empty.Count);
        Assert.Throws<ArgumentOutOfRangeException>(() => empty.Resize(0));
    }

    [Fact]
    public void A_state_stored_with_ten_thousand_answered_and_expired_clips_takes_the_current_capacities_and_shrinks()
    {
        // The capacities before "smaller clip memories": a long-running machine filled them in about two weeks.
        var old = new MachineGrainState { AnsweredClips = new(10_000), ExpiredClips = new(10_000) };
        for (int i = 0; i < 10_500; i++)
        {
            old.AnsweredClips.Remember($"answered-{i}", i % 3 == 0 ? ClipLabelValue.Anomalous : ClipLabelValue.Normal);
            old.ExpiredClips.Remember($"expired-{i}", 1_000_000L + i);
        }
        for (int i = 0; i < 1_000; i++)
            old.RecentClips.Remember($"recent-{i}", new RecentVerdict(i, i, false, QueryReason.None));
        var oldBytes = StorageSerializer().Serialize(old).ToArray();
        var stored = StorageSerializer().Deserialize<MachineGrainState>(BinaryData.FromBytes(oldBytes))!;

        stored.ApplyMemoryCapacities();

        Assert.Equal(MachineGrainState.AnsweredMemory, stored.AnsweredClips.Capacity);
        Assert.Equal(MachineGrainState.ExpiredMemory, stored.ExpiredClips.Capacity);
        Assert.Equal(MachineGrainState.AnsweredMemory, stored.AnsweredClips.Count);
        Assert.True(stored.AnsweredClips.TryGet("answered-10499", out var newest)); // the newest are kept
        Assert.Equal(ClipLabelValue.Normal, newest);
        Assert.True(stored.ExpiredClips.Contains($"expired-{10_500 - MachineGrainState.ExpiredMemory}"));
        Assert.False(stored.ExpiredClips.Contains($"expired-{10_499 - MachineGrainState.ExpiredMemory}"));
        var bytes = StorageSerializer().Serialize(stored).ToArray();
        Assert.True(oldBytes.Length > 300_000, $"{oldBytes.Length} bytes with the old capacities");
        Assert.True(bytes.Length < 60_000, $"{bytes.Length} bytes with the current capacities, against {oldBytes.Length}");
    }

    [Fact]
    public void A_thousand_verdicts_round_trip_through_storage_in_under_half_the_bytes_of_the_string_keyed_form()
    {
        var state = new MachineGrainState();
        var legacy = new MachineGrainState { LegacyRecentVerdicts = [], LegacyRecentOrder = [] };
        for (int i = 0; i < 1_200; i++)
        {
            var clipId = $"pump-07/2026-12-03T06:{i / 60 % 60:00}:{i % 60:00}Z";
            var verdict = new ClipVerdict(clipId, 0.25 + i * 1e-4, i % 7 == 0, i % 10 == 0, 50_000 + i);
            state.RecentClips.Remember(clipId, RecentVerdict.Of(verdict));
            legacy.LegacyRecentVerdicts[clipId] = verdict;
            legacy.LegacyRecentOrder.Add(clipId);
        }
        var bytes = StorageSerializer().Serialize(state).ToArray();
        var legacyBytes = StorageSerializer().Serialize(legacy).ToArray();

        var back = StorageSerializer().Deserialize<MachineGrainState>(BinaryData.FromBytes(bytes))!;
        Assert.Equal(1_000, back.RecentClips.Count);
        Assert.False(back.RecentClips.Contains("pump-07/2026-12-03T06:03:19Z")); // clip 199: forgotten
        Assert.True(back.RecentClips.TryGet("pump-07/2026-12-03T06:03:20Z", out var clip200));
        Assert.Equal(new RecentVerdict(0.25 + 200 * 1e-4, 50_200, false, QueryReason.Unrecorded), clip200);
        Assert.True(bytes.Length * 2 < legacyBytes.Length, $"{bytes.Length} bytes against {legacyBytes.Length} in the string-keyed form");
        Assert.True(bytes.Length < 27_000, $"{bytes.Length} bytes for 1,000 verdicts (8 + 18 each)");
    }

    [Fact]
    public void A_state_written_with_string_keyed_memories_moves_them_into_the_clip_memories_oldest_first()
    {
        var at = new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.FromHours(1));
        var old = new MachineGrainState
        {
            LegacyRecentVerdicts = [], LegacyRecentOrder = [],
            LegacyAnswered = new() { ["a"] = ClipLabelValue.Anomalous }, LegacyAnsweredOrder = ["a"],
            LegacyExpired = new() { ["e"] = at }, LegacyExpiredOrder = ["e"],
        };
        for (int i = 0; i < 1_005; i++)
        {
            old.LegacyRecentVerdicts[$"c{i}"] = new ClipVerdict($"c{i}", i, false, false, i);
            old.LegacyRecentOrder.Add($"c{i}");
        }
        var stored = StorageSerializer().Deserialize<MachineGrainState>(StorageSerializer().Serialize(old))!;

        Assert.True(stored.MoveLegacyMemories());
        Assert.Equal(Enumerable.Range(5, 1_000).Select(i => (double)i), stored.RecentClips.OldestFirst().Select(v => v.Score));
        Assert.True(stored.AnsweredClips.TryGet("a", out var label));
        Assert.Equal(ClipLabelValue.Anomalous, label);
        Assert.True(stored.ExpiredClips.TryGet("e", out var ticks));
        Assert.Equal(at.UtcTicks, ticks);
        Assert.Null(stored.LegacyRecentVerdicts);
        Assert.False(stored.MoveLegacyMemories()); // once
        Assert.Null(StorageSerializer().Deserialize<MachineGrainState>(StorageSerializer().Serialize(stored))!.LegacyAnswered);
    }

    /// <summary>RecentVerdict as stored before machines recorded why they asked: the last byte was "label requested".</summary>
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential, Pack = 1)]
    private readonly record struct VerdictWithoutReason(double Score, long ClipIndex, bool Anomalous, bool LabelRequested);

    [Fact]
    public void A_verdict_stored_before_query_reasons_answers_its_retry_as_asked_for_an_unrecorded_reason()
    {
        Assert.Equal(18, System.Runtime.CompilerServices.Unsafe.SizeOf<RecentVerdict>());
        VerdictWithoutReason[] stored = [new(0.5, 7, true, true), new(0.25, 8, false, false)];
        var read = System.Runtime.InteropServices.MemoryMarshal.Cast<VerdictWithoutReason, RecentVerdict>(stored);

        Assert.Equal(new ClipVerdict("c7", 0.5, true, true, 7, Repeated: true, QueryReason: "unrecorded"), read[0].Repeated("c7"));
        Assert.Equal(new ClipVerdict("c8", 0.25, false, false, 8, Repeated: true), read[1].Repeated("c8"));
        var asked = new ClipVerdict("c9", 0.75, true, true, 9, QueryReason: "budget-floor");
        Assert.Equal(asked with { Repeated = true }, RecentVerdict.Of(asked).Repeated("c9"));
    }
}
