using AsdOrleans.Abstractions;
using AsdOrleans.Grains;
using AsdOrleans.Method.Enrollment;
using AsdOrleans.Method.Machines;
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

    private static Serializer OrleansSerializer() => new ServiceCollection()
        .AddSerializer(b => b.AddAssembly(typeof(MachineGrainState).Assembly).AddAssembly(typeof(MachineSettings).Assembly))
        .BuildServiceProvider().GetRequiredService<Serializer>();

    private static OrleansGrainStorageSerializer StorageSerializer() => new(OrleansSerializer());

    [Fact]
    public void The_compact_storage_serializer_writes_orleans_own_bytes_in_an_exact_array()
    {
        var state = StorageSerializer().Deserialize<MachineGrainState>(BinaryData.FromBytes(Convert.FromBase64String(BeforeStandardizer)))!;
        var journal = new MachineJournal { Generation = 4, ModelLength = 600, ModelPatch = [new BytePatch(256, new byte[256])] };
        journal.NewVerdicts.Add(new ClipVerdict("c2", 0.31, false, true, 7));
        journal.NewPending.Add(new PendingLabel { ClipId = "c2", Embedding = [1f, 2f, 3f], Score = 0.31, RequestedAt = DateTimeOffset.UnixEpoch });
        var compact = new CompactOrleansStorageSerializer(OrleansSerializer());

        foreach (var (ours, theirs) in new[] { (compact.Serialize(state), StorageSerializer().Serialize(state)), (compact.Serialize(journal), StorageSerializer().Serialize(journal)) })
        {
            Assert.Equal(theirs.ToArray(), ours.ToArray());
            Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(ours.ToMemory(), out var segment));
            Assert.Equal(segment.Array!.Length, segment.Count); // the store writes this array as it is, no copy
        }
        Assert.Equal("c2", compact.Deserialize<MachineJournal>(compact.Serialize(journal))!.NewPending.Single().ClipId);
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
}
