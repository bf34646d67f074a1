using AsdOrleans.Abstractions;
using AsdOrleans.Grains;
using AsdOrleans.Method.Enrollment;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Strategies;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Storage;
using AsdOrleans.Storage.Sqlite;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>The stored machine state (Orleans' binary serializer, as SQLite storage writes it) across format changes.</summary>
public sealed class MachineStateFormatTests
{
    /// <summary>
    /// An enrolled machine's state (settings random/0.5/seed 3, model enc-old0001 on three 3-d clips, clip c1 answered
    /// normal) as written before issue 11 added <see cref="MachineGrainState.Standardizer"/> (commit e910f9f).
    /// </summary>
    private const string BeforeStandardizer = "ICDoQA1yYW5kb22BAAAAAAAA4D/BAcEBwQHBAcEBAQfBAcEBwQHBAcIBwQHBAeBBQgVBU0RNAwABAAAAAAAA4D8AAAAAAADgP3sUrkfheoQ/yAAAAJqZmZmZmbk/CgAAAM3MzMzMzOw/ZAAAADIAAAAgAAAAzczMzMzM7D/NzMzMzMzsPwMAAAAAAAAAAgEAAgAAgAAAAOgDAAALZW5jLW9sZDAwMDEDAAAAAwAAAC75ZD8AAAAALvnkPgAAAAAu+WQ/LvnkPuwF0T7sBdE+7AVRPwAAAAADAAAAXNsJPYipjT5c2wk9iKmNPgAAAAAAAAAAXNsJPYipjT4eZ57/1TSVPkgshgs2SW+2s1JpID3El+FYjM1Yg9LKzreovL5/uZdDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAADAAAAihaKPooWij6KFoo+AwAAAAAAgD8AAIA/AACAPwAAAAADAAAAAAAAAAEAAAAAAADgPwAAAAAAAPg/AQAh4CEBA0EFYzEIAwHgIQADwS3gIeAh4CHgIeABAeA=";

    /// <summary>
    /// A state and its journal as written before recent clips kept their audio fingerprints (commit 4b5c57d): recent clips
    /// c1 (0.5, clip 1, anomalous, asked: uncertain) and c2 (0.25, clip 2); the journal adds c3 (0.75, clip 3, anomalous).
    /// </summary>
    private const string BeforeFingerprints = "ICDowAHBAcEBwQHBAcEBwQHBAcEBwQHBAcEBwQHBAcEBwQHBAcEB4MEBIeDBAcEBwQHBAcEBwQEBAcEBAQ0hAEIfQQHBRQEBAQHgIQBCH0ECAsXZ4Yrg7+IrW6LibyXsFugAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQYIEAAAAAAAA4D8BAAAAAAAAAAECAAAAAAAA0D8CAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQkBAeAhAEIfwUXBRQEBAQHgAQHg",
        JournalBeforeFingerprints = "IAANAQEh4CHgIQADIehABWMzgQAAAAAAAOg/AQMBAQENAQHBAeDgIeAh4OA=";

    private static Serializer OrleansSerializer() => new ServiceCollection()
        .AddSerializer(b => b.AddAssembly(typeof(MachineGrainState).Assembly).AddAssembly(typeof(MachineSettings).Assembly)
            .AddAssembly(typeof(MachineStateFormatTests).Assembly))
        .BuildServiceProvider().GetRequiredService<Serializer>();

    private static OrleansGrainStorageSerializer StorageSerializer() => new(OrleansSerializer());

    [Fact]
    public void The_compact_storage_serializer_writes_orleans_own_bytes_in_an_exact_array()
    {
        var state = StorageSerializer().Deserialize<MachineGrainState>(BinaryData.FromBytes(Convert.FromBase64String(BeforeStandardizer)))!;
        var journal = new MachineJournal { Generation = 4, ModelLength = 600, ModelPatch = [new BytePatch(256, new byte[256])] };
        journal.NewVerdicts.Add(new ClipVerdict("c2", 0.31, false, true, 7));
        journal.NewPending.Add(new PendingLabel { ClipId = "c2", Embedding = [1f, 2f, 3f], Score = 0.31, RequestedAt = DateTimeOffset.UnixEpoch, AudioFingerprint = 0xC0FFEE });
        var compact = new CompactOrleansStorageSerializer(OrleansSerializer());

        foreach (var (ours, theirs) in new[] { (compact.Serialize(state), StorageSerializer().Serialize(state)), (compact.Serialize(journal), StorageSerializer().Serialize(journal)) })
        {
            Assert.Equal(theirs.ToArray(), ours.ToArray());
            Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(ours.ToMemory(), out var segment));
            Assert.Equal(segment.Array!.Length, segment.Count); // the store writes this array as it is, no copy
        }
        var pending = compact.Deserialize<MachineJournal>(compact.Serialize(journal))!.NewPending.Single();
        Assert.Equal(("c2", 0xC0FFEEu), (pending.ClipId, pending.AudioFingerprint)); // whose audio a label may keep
    }

    [Fact]
    public void A_state_written_before_the_standardiser_existed_loads_without_one()
    {
        var state = StorageSerializer().Deserialize<MachineGrainState>(BinaryData.FromBytes(Convert.FromBase64String(BeforeStandardizer)))!;

        Assert.Null(state.Standardizer);
        Assert.Equal("random", state.Settings.Strategy);
        Assert.Equal(ClipLabelValue.Normal, state.LegacyAnswered!["c1"]);
        Assert.True(state.MoveLegacyMemories());
        Assert.True(state.AnsweredClips.TryGet("c1", out var answered));
        Assert.Equal(ClipLabelValue.Normal, answered);
        var model = MachineModel.Deserialize(state.Model!);
        Assert.Equal("enc-old0001", model.ModelVersion);
        Assert.Equal(3, model.ReferenceSet.Count);
    }

    [Fact]
    public void The_standardiser_round_trips_through_storage()
    {
        var standardizer = FeatureStandardizer.Fit([[1f, 2f, 3f], [3f, 2f, 7f]]);
        var state = new MachineGrainState { Standardizer = standardizer.ToBytes() };

        var back = StorageSerializer().Deserialize<MachineGrainState>(StorageSerializer().Serialize(state))!;

        var restored = FeatureStandardizer.FromBytes(back.Standardizer!);
        Assert.Equal(standardizer.Mean, restored.Mean);
        Assert.Equal(standardizer.Scale, restored.Scale);
    }

    [Fact]
    public void A_state_written_before_fingerprints_answers_its_recent_clips_as_repeats_whatever_the_audio()
    {
        var state = StorageSerializer().Deserialize<MachineGrainState>(BinaryData.FromBytes(Convert.FromBase64String(BeforeFingerprints)))!;
        var journal = StorageSerializer().Deserialize<MachineJournal>(BinaryData.FromBytes(Convert.FromBase64String(JournalBeforeFingerprints)))!;

        Assert.True(state.RecentClips.TryGet("c1", out var c1, out uint c1Fingerprint));
        Assert.Equal(new ClipVerdict("c1", 0.5, true, true, 1, Repeated: true, QueryReason: "uncertain"), c1.Repeated("c1"));
        Assert.Equal(ClipAudioFingerprint.Unknown, c1Fingerprint);
        Assert.False(ClipAudioFingerprint.Differ(c1Fingerprint, ClipAudioFingerprint.Of([1, 2, 3]))); // unknown: a repeat, as before
        Assert.Equal("c3", journal.NewVerdicts.Single().ClipId);
        Assert.Equal(ClipAudioFingerprint.Unknown, journal.FingerprintOf(0));

        // A fingerprinted clip joins them; the old ones stay unknown, in memory and after a write.
        state.RecentClips.Remember("c4", new RecentVerdict(0.1, 4, false, QueryReason.None), 0xabcd);
        journal.AddVerdict(new ClipVerdict("c4", 0.1, false, false, 4), 0xabcd);
        Assert.Equal([ClipAudioFingerprint.Unknown, 0xabcdu], journal.NewVerdictFingerprints); // padded for c3
        var back = StorageSerializer().Deserialize<MachineGrainState>(StorageSerializer().Serialize(state))!;
        Assert.True(back.RecentClips.TryGet("c2", out _, out uint c2Fingerprint));
        Assert.Equal(ClipAudioFingerprint.Unknown, c2Fingerprint);
        Assert.True(back.RecentClips.TryGet("c4", out var c4, out uint c4Fingerprint));
        Assert.Equal((4L, 0xabcdu), (c4.ClipIndex, c4Fingerprint));
        back.RecentClips.Resize(2); // keeps the newest two with their fingerprints
        Assert.False(back.RecentClips.Contains("c1"));
        Assert.True(back.RecentClips.TryGet("c4", out _, out c4Fingerprint));
        Assert.Equal(0xabcdu, c4Fingerprint);
    }

    /// <summary><see cref="ClipMemory{TValue}"/>'s fields as a silo before fingerprints knew them.</summary>
    [GenerateSerializer]
    public sealed class ClipMemoryBeforeFingerprints
    {
        [Id(0)] public int Capacity;
        [Id(1)] public byte[] Keys = [];
        [Id(2)] public byte[] Values = [];
        [Id(3)] public int Count;
        [Id(4)] public int Next;
    }

    [Fact]
    public void A_silo_before_fingerprints_reads_the_recent_clips_of_a_state_that_has_them()
    {
        var memory = new ClipMemory<RecentVerdict>(MachineGrainState.RecentClipMemory);
        memory.Remember("c1", new RecentVerdict(0.5, 1, true, QueryReason.Uncertain), 0x1234);
        memory.Remember("c2", new RecentVerdict(0.25, 2, false, QueryReason.None), 0x5678);
        var serializer = OrleansSerializer();

        var read = serializer.Deserialize<ClipMemoryBeforeFingerprints>(serializer.SerializeToArray(memory))!;

        Assert.Equal(2, read.Count);
        var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, RecentVerdict>(read.Values);
        Assert.Equal(new RecentVerdict(0.25, 2, false, QueryReason.None), values[1]); // the values' layout is unchanged
        Assert.Equal(ClipMemory<RecentVerdict>.KeyOf("c2"), System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(read.Keys)[1]);
    }
}
