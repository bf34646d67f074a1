using AsdOrleans.Datasets.Synthesis;

namespace AsdOrleans.Core.Tests.Synthesis;

public sealed class SynthPlanTests
{
    private static readonly SynthSettings Small = new() { MachineTypes = 3, SourceTrain = 12, TargetTrain = 3, Test = 16, Seconds = 0.5, Seed = 9 };

    [Fact]
    public void EachMachineTypeHasTheDcaseSplitsDomainsAndLabels()
    {
        var plan = SynthPlan.Create(Small);

        Assert.Equal(new[] { "synth-fan", "synth-pump", "synth-gearbox" }, plan.MachineTypes.Select(m => m.Name));
        Assert.Equal(3 * (12 + 3 + 16), plan.Clips.Count);
        foreach (var machine in plan.MachineTypes)
        {
            var clips = plan.Clips.Where(c => c.Machine == machine).ToList();
            int Count(SynthSplit split, SynthDomain domain, bool anomaly)
                => clips.Count(c => c.Split == split && c.Domain == domain && c.IsAnomaly == anomaly);
            Assert.Equal(12, Count(SynthSplit.Train, SynthDomain.Source, false));
            Assert.Equal(3, Count(SynthSplit.Train, SynthDomain.Target, false));
            Assert.Equal(0, Count(SynthSplit.Train, SynthDomain.Source, true) + Count(SynthSplit.Train, SynthDomain.Target, true));
            foreach (var domain in new[] { SynthDomain.Source, SynthDomain.Target })
                foreach (bool anomaly in new[] { false, true })
                    Assert.Equal(4, Count(SynthSplit.Test, domain, anomaly));
            Assert.All(clips, c => Assert.Equal(8_000, c.Samples));
            Assert.All(clips, c => Assert.Equal(c.IsAnomaly, c.Severity > 0));
        }
    }

    [Fact]
    public void FileNamesFollowTheDcasePatternAndNumberClipsUniquelyPerSplit()
    {
        var plan = SynthPlan.Create(Small);

        foreach (var group in plan.Clips.GroupBy(c => (c.Machine.Name, c.Split)))
        {
            var clips = group.ToList();
            Assert.Equal(Enumerable.Range(0, clips.Count), clips.Select(c => c.Index));
            Assert.Equal(clips.Count, clips.Select(c => c.FileName).Distinct().Count());
            foreach (var clip in clips)
            {
                Assert.Matches(SynthFileName.Pattern(), clip.FileName);
                var parts = SynthFileName.TryParse(clip.FileName)!;
                Assert.Equal(new SynthFileName.Parts(0, clip.Domain, clip.Split, clip.IsAnomaly, clip.Index, clip.Speed, clip.Load), parts);
            }
        }
        var first = plan.Clips[0];
        Assert.Equal($"section_00_source_train_normal_0000_spd_{first.Speed}_load_{first.Load}.wav", first.FileName);
        Assert.Null(SynthFileName.TryParse("section_00_source_train_normal_0000_spd_8_0_load_1.wav"));
        Assert.Null(SynthFileName.TryParse("section_00_0001.wav"));
    }

    [Fact]
    public void TestBlocksComeInDcaseOrderAndTrainingPutsSourceFirst()
    {
        var plan = SynthPlan.Create(Small);
        var test = plan.Clips.Where(c => c.Machine.Name == "synth-fan" && c.Split == SynthSplit.Test).ToList();
        var train = plan.Clips.Where(c => c.Machine.Name == "synth-fan" && c.Split == SynthSplit.Train).ToList();

        Assert.Equal(
            Enumerable.Repeat("source normal", 4).Concat(Enumerable.Repeat("source anomaly", 4))
                .Concat(Enumerable.Repeat("target normal", 4)).Concat(Enumerable.Repeat("target anomaly", 4)),
            test.Select(c => $"{SynthNames.Of(c.Domain)} {(c.IsAnomaly ? "anomaly" : "normal")}"));
        Assert.All(train.Take(12), c => Assert.Equal(SynthDomain.Source, c.Domain));
        Assert.All(train.Skip(12), c => Assert.Equal(SynthDomain.Target, c.Domain));
    }

    [Fact]
    public void TargetDomainUsesSpeedsNeverSeenInTheSourceDomain()
    {
        foreach (var machine in MachineCatalog.All)
        {
            Assert.Empty(machine.TargetSpeeds.Intersect(machine.SourceSpeeds));
            double sourceLow = machine.SourceSpeeds.Min(s => machine.RotationHz(s, 3)), sourceHigh = machine.SourceSpeeds.Max(s => machine.RotationHz(s, 1));
            Assert.All(machine.TargetSpeeds, s => Assert.True(machine.RotationHz(s, 3) > sourceHigh * 1.02 || machine.RotationHz(s, 1) < sourceLow * 0.98,
                $"{machine.Name}: target spd {s} overlaps the source rotation range"));
        }
        var plan = SynthPlan.Create(Small with { MachineTypes = 7 });
        Assert.All(plan.Clips, c => Assert.Contains(c.Speed, c.Domain == SynthDomain.Source ? c.Machine.SourceSpeeds : c.Machine.TargetSpeeds));
        Assert.All(plan.Clips, c => Assert.Contains(c.Load, c.Machine.Loads));
        Assert.All(plan.Clips, c => Assert.Equal(c.Domain == SynthDomain.Source ? 50 : 60, c.Environment.MainsHz));
    }

    [Fact]
    public void AnomaliesCycleThroughTheFourFaultsWithSeveritiesFromSubtleToSevere()
    {
        var plan = SynthPlan.Create(Small with { MachineTypes = 2, Test = 400 });
        var anomalies = plan.Clips.Where(c => c.IsAnomaly).ToList();

        Assert.Equal(2 * 200, anomalies.Count);
        foreach (var kind in SynthNames.Faults)
            Assert.Equal(100, anomalies.Count(c => c.Anomaly == kind));
        Assert.All(anomalies, c => Assert.InRange(c.Severity, SynthPlan.MinSeverity, 1.0));
        Assert.InRange(anomalies.Count(c => c.Severity < 0.2) / (double)anomalies.Count, 0.15, 0.45);
        Assert.Contains(anomalies, c => c.Severity > 0.8);
        Assert.All(plan.Clips.Where(c => !c.IsAnomaly), c => Assert.Equal((AnomalyKind.None, 0.0), (c.Anomaly, c.Severity)));
    }

    [Fact]
    public void RecurringFaultsShareOneConditionPerMachineTypeAndKindInBothDomains()
    {
        var perClip = SynthPlan.Create(Small with { Test = 32 });
        var recurring = SynthPlan.Create(Small with { Test = 32, Faults = FaultConditions.Recurring });

        Assert.All(perClip.Clips, c => Assert.Null(c.FaultConditionSeed));
        Assert.All(recurring.Clips.Where(c => !c.IsAnomaly), c => Assert.Null(c.FaultConditionSeed));
        var conditions = recurring.Clips.Where(c => c.IsAnomaly).GroupBy(c => (c.Machine.Name, c.Anomaly)).ToList();
        Assert.Equal(3 * 4, conditions.Count);
        foreach (var group in conditions)
        {
            Assert.Single(group.Select(c => c.FaultConditionSeed).Distinct());
            Assert.Equal(2, group.Select(c => c.Domain).Distinct().Count());
            Assert.True(group.Select(c => c.Severity).Distinct().Count() > 1, "severity still varies per clip");
        }
        Assert.Equal(conditions.Count, conditions.Select(g => g.First().FaultConditionSeed).Distinct().Count());
        // everything but the condition is as in the per-clip plan
        Assert.Equal(perClip.Clips.Select(c => c with { FaultConditionSeed = null }), recurring.Clips.Select(c => c with { FaultConditionSeed = null }));
        var otherSeed = SynthPlan.Create(Small with { Test = 32, Faults = FaultConditions.Recurring, Seed = 10 });
        Assert.Empty(otherSeed.Clips.Select(c => c.FaultConditionSeed).OfType<ulong>().Intersect(recurring.Clips.Select(c => c.FaultConditionSeed).OfType<ulong>()));
    }

    [Fact]
    public void RecurringFixedSeverityGivesEachDamagedPartOneSeverity()
    {
        var recurring = SynthPlan.Create(Small with { Test = 64, Faults = FaultConditions.Recurring });
        var fixedSeverity = SynthPlan.Create(Small with { Test = 64, Faults = FaultConditions.RecurringFixedSeverity });

        var parts = fixedSeverity.Clips.Where(c => c.IsAnomaly).GroupBy(c => c.FaultConditionSeed).ToList();
        Assert.Equal(3 * 4, parts.Count);
        Assert.All(parts, part => Assert.Single(part.Select(c => c.Severity).Distinct()));
        Assert.All(parts, part => Assert.InRange(part.First().Severity, SynthPlan.MinSeverity, 1.0));
        Assert.True(parts.Select(p => p.First().Severity).Distinct().Count() > 6, "parts draw their own severities");
        // the same parts as the recurring plant's, and the normal clips unchanged
        Assert.Equal(recurring.Clips.Select(c => (c.Seed, c.FaultConditionSeed)), fixedSeverity.Clips.Select(c => (c.Seed, c.FaultConditionSeed)));
        Assert.Equal(recurring.Clips.Where(c => !c.IsAnomaly), fixedSeverity.Clips.Where(c => !c.IsAnomaly));
    }

    [Fact]
    public void AClipDependsOnItsPositionInItsBlockNotOnTheOtherCounts()
    {
        var small = SynthPlan.Create(Small);
        var large = SynthPlan.Create(Small with { SourceTrain = 20, TargetTrain = 5, Test = 32 });

        ClipSpec Find(SynthPlan plan, SynthSplit split, SynthDomain domain, bool anomaly, int ordinal)
            => plan.Clips.Where(c => c.Machine.Name == "synth-pump" && c.Split == split && c.Domain == domain && c.IsAnomaly == anomaly).ElementAt(ordinal);
        foreach (var (split, domain, anomaly, ordinal) in new[]
                 {
                     (SynthSplit.Train, SynthDomain.Source, false, 5), (SynthSplit.Train, SynthDomain.Target, false, 2),
                     (SynthSplit.Test, SynthDomain.Target, true, 3), (SynthSplit.Test, SynthDomain.Source, false, 0),
                 })
        {
            var a = Find(small, split, domain, anomaly, ordinal);
            var b = Find(large, split, domain, anomaly, ordinal);
            Assert.Equal((a.Seed, a.Speed, a.Load, a.Anomaly, a.Severity), (b.Seed, b.Speed, b.Load, b.Anomaly, b.Severity));
            Assert.Equal(ClipSynthesizer.Render(a), ClipSynthesizer.Render(b));
        }
    }

    [Fact]
    public void SeedsDifferBetweenClipsAndBetweenDataSetSeeds()
    {
        var a = SynthPlan.Create(Small);
        var b = SynthPlan.Create(Small with { Seed = 10 });

        Assert.Equal(a.Clips.Count, a.Clips.Select(c => c.Seed).Distinct().Count());
        Assert.Empty(a.Clips.Select(c => c.Seed).Intersect(b.Clips.Select(c => c.Seed)));
    }

    [Fact]
    public void TheCatalogHasSevenDistinctTypes()
    {
        var all = MachineCatalog.All;
        Assert.Equal(7, all.Count);
        Assert.Equal(all.Count, all.Select(m => m.Name).Distinct().Count());
        Assert.All(all, m => Assert.StartsWith("synth-", m.Name));
        Assert.All(all, m => Assert.DoesNotContain('_', m.Name));
        Assert.Equal(all.Count, all.Select(m => (m.NominalRotationHz, m.EmphasisOrder, m.Resonances[0].Hz)).Distinct().Count());
        Assert.Same(all[2], MachineCatalog.Get("synth-gearbox"));
        Assert.Contains("synth-fan", Assert.Throws<ArgumentException>(() => MachineCatalog.Get("fan")).Message);
    }
}
