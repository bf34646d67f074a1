using AsdOrleans.Datasets.Synthesis;

namespace AsdOrleans.Core.Tests.Synthesis;

public sealed class SynthSettingsTests
{
    [Fact]
    public void DefaultsAreTheDocumentedDataSet()
    {
        var s = new SynthSettings().Validate();

        Assert.Equal((4, 200, 10, 100, 10.0, 0UL), (s.MachineTypes, s.SourceTrain, s.TargetTrain, s.Test, s.Seconds, s.Seed));
        Assert.Equal(160_000, s.SamplesPerClip);
        Assert.Equal(25, s.TestPerDomainAndLabel);
        Assert.Equal(4 * 310, s.TotalClips);
    }

    public static TheoryData<SynthSettings, string> Impossible => new()
    {
        { new SynthSettings { MachineTypes = 0 }, "machine-types must be between 1 and 7, got 0" },
        { new SynthSettings { MachineTypes = 8 }, "machine-types must be between 1 and 7, got 8" },
        { new SynthSettings { SourceTrain = 0 }, "train must be at least 1, got 0" },
        { new SynthSettings { TargetTrain = -1 }, "target-train must be at least 0, got -1" },
        { new SynthSettings { SourceTrain = 9_995, TargetTrain = 10 }, "train + target-train must be at most 10000" },
        { new SynthSettings { Test = 0 }, "test must be a positive multiple of 4" },
        { new SynthSettings { Test = 6 }, "test must be a positive multiple of 4 (a quarter each of source/target × normal/anomaly), got 6" },
        { new SynthSettings { Test = 10_004 }, "test must be at most 10000" },
        { new SynthSettings { Seconds = 0 }, "seconds must be in [0.05, 60] (a clip shorter than 0.05 s is too short for the features), got 0" },
        { new SynthSettings { Seconds = -1 }, "seconds must be in [0.05, 60] (a clip shorter than 0.05 s is too short for the features), got -1" },
        { new SynthSettings { Seconds = 60.5 }, "seconds must be in [0.05, 60] (a clip shorter than 0.05 s is too short for the features), got 60.5" },
        { new SynthSettings { Seconds = double.NaN }, "seconds must be in [0.05, 60] (a clip shorter than 0.05 s is too short for the features), got NaN" },
        { new SynthSettings { Seconds = 0.01 }, "seconds must be in [0.05, 60]" },
    };

    [Theory]
    [MemberData(nameof(Impossible))]
    public void ImpossibleSettingsAreRefusedNamingTheParameter(SynthSettings settings, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => settings.Validate());
        Assert.Contains(message, e.Message);
        Assert.Throws<ArgumentException>(() => SynthPlan.Create(settings));
    }

    [Fact]
    public void TheLimitsThemselvesAreAccepted()
    {
        new SynthSettings { MachineTypes = MachineCatalog.All.Count, SourceTrain = 9_990, TargetTrain = 10, Test = 10_000, Seconds = 60 }.Validate();
        new SynthSettings { MachineTypes = 1, SourceTrain = 1, TargetTrain = 0, Test = 4, Seconds = 0.05 }.Validate();
    }
}
