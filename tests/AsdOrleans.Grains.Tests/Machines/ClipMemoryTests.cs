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
        Assert.Equal(new RecentVerdict(0.25 + 200 * 1e-4, 50_200, false, true), clip200);
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
}
