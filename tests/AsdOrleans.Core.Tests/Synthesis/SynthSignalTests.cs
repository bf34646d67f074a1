using AsdOrleans.Datasets.Synthesis;
using static AsdOrleans.Core.Tests.Synthesis.SynthAudio;

namespace AsdOrleans.Core.Tests.Synthesis;

/// <summary>The generator does what it says: harmonics where the attributes put them, and each fault leaves its mark.</summary>
public sealed class SynthSignalTests
{
    private static readonly SynthPlan Plan = SynthPlan.Create(new SynthSettings
    {
        MachineTypes = MachineCatalog.All.Count, SourceTrain = 4, TargetTrain = 4, Test = 8, Seconds = 2, Seed = 21,
    });

    private static IEnumerable<ClipSpec> NormalTestClips(string machine)
        => Plan.Clips.Where(c => c.Machine.Name == machine && c.Split == SynthSplit.Test && !c.IsAnomaly);

    public static TheoryData<string> Types => new(MachineCatalog.All.Select(m => m.Name));

    [Theory]
    [MemberData(nameof(Types))]
    public void HarmonicsSitAtTheRotationFrequencyTheAttributesGive(string machine)
    {
        foreach (var clip in NormalTestClips(machine).Concat(Plan.Clips.Where(c => c.Machine.Name == machine && c.Split == SynthSplit.Train).Take(2)))
        {
            var spectrum = Spectrum(ClipSynthesizer.Render(clip));
            double nominal = clip.NominalRotationHz;
            var orders = StrongOrders(clip.Machine, nominal, 5);

            double estimate = EstimateRotationHz(spectrum, nominal, orders);

            Assert.True(Math.Abs(estimate - nominal) <= 0.01 * nominal,
                $"{clip.FileName}: rotation estimated {estimate:F2} Hz from the audio, attributes say {nominal:F2} Hz");
            if (clip.Domain == SynthDomain.Target)
                continue; // behind the target plant's louder background and low cut, single harmonics can sink (the comb still finds them)
            int strongest = orders[0];
            double hzPerBin = HzPerBin(spectrum);
            int centre = (int)Math.Round(strongest * nominal / hzPerBin);
            double peak = Enumerable.Range(centre - 3, 7).Max(b => spectrum[b]);
            var around = Enumerable.Range((int)(centre * 0.85), (int)(centre * 0.3)).Select(b => spectrum[b]).Order().ToList();
            double prominenceDb = 20 * Math.Log10(peak / around[around.Count / 2]);
            Assert.True(prominenceDb > 10, $"{clip.FileName}: harmonic {strongest} stands only {prominenceDb:F1} dB above its neighbourhood");
        }
    }

    [Theory]
    [InlineData("synth-fan")]
    [InlineData("synth-pump")]
    [InlineData("synth-toycar")]
    public void TargetClipsRunAtRotationFrequenciesOutsideTheSourceRange(string machine)
    {
        double Measured(ClipSpec clip) => EstimateRotationHz(Spectrum(ClipSynthesizer.Render(clip)), clip.NominalRotationHz, StrongOrders(clip.Machine, clip.NominalRotationHz, 5));
        var clips = Plan.Clips.Where(c => c.Machine.Name == machine && !c.IsAnomaly).ToList();
        var source = clips.Where(c => c.Domain == SynthDomain.Source).Select(Measured).ToList();
        var target = clips.Where(c => c.Domain == SynthDomain.Target).Select(Measured).ToList();

        Assert.True(target.Min() > source.Max() || target.Max() < source.Min(),
            $"{machine}: source {string.Join(", ", source.Select(f => f.ToString("F1")))} Hz overlap target {string.Join(", ", target.Select(f => f.ToString("F1")))} Hz");
    }

    [Fact]
    public void TargetClipsSoundDifferentFromSourceClips()
    {
        // another plant and microphone: target clips' band profiles sit further from the source clips than source clips from each other
        double within = 0, across = 0;
        foreach (var machine in MachineCatalog.All)
        {
            var clips = Plan.Clips.Where(c => c.Machine == machine && !c.IsAnomaly).ToList();
            var source = clips.Where(c => c.Domain == SynthDomain.Source).Select(c => BandProfile(Spectrum(ClipSynthesizer.Render(c)))).ToList();
            var target = clips.Where(c => c.Domain == SynthDomain.Target).Select(c => BandProfile(Spectrum(ClipSynthesizer.Render(c)))).ToList();
            within += source.SelectMany((a, i) => source.Skip(i + 1).Select(b => RmsDistance(a, b))).Average();
            across += source.SelectMany(a => target.Select(b => RmsDistance(a, b))).Average();
        }
        Assert.True(across > 1.25 * within, $"mean source–target distance {across / 7:F2} dB vs source–source {within / 7:F2} dB");
    }

    [Fact]
    public void MachineTypesHaveTheirOwnSpectra()
    {
        var profiles = MachineCatalog.All.ToDictionary(m => m.Name,
            m => NormalTestClips(m.Name).Concat(Plan.Clips.Where(c => c.Machine == m && c.Split == SynthSplit.Train && c.Domain == SynthDomain.Source))
                .Where(c => c.Domain == SynthDomain.Source).Select(c => BandProfile(Spectrum(ClipSynthesizer.Render(c)))).ToList());

        foreach (var (name, own) in profiles)
        {
            double within = own.SelectMany((a, i) => own.Skip(i + 1).Select(b => RmsDistance(a, b))).Average();
            foreach (var (other, theirs) in profiles.Where(p => p.Key != name))
            {
                double across = own.SelectMany(a => theirs.Select(b => RmsDistance(a, b))).Average();
                Assert.True(across > within, $"{name} vs {other}: {across:F2} dB apart, but {name} clips are {within:F2} dB apart from each other");
            }
        }
    }

    [Theory]
    [InlineData("synth-fan")]
    [InlineData("synth-pump")]
    [InlineData("synth-slider")]
    [InlineData("synth-bearing")]
    public void ImbalanceModulatesTheSoundAtTheRotationRate(string machine)
    {
        foreach (var normal in NormalTestClips(machine))
        {
            var faulty = normal with { Anomaly = AnomalyKind.ImbalanceModulation, Severity = 1 };
            double before = EnvelopeLineRatio(ClipSynthesizer.Render(normal), normal.NominalRotationHz);
            double after = EnvelopeLineRatio(ClipSynthesizer.Render(faulty), normal.NominalRotationHz);
            Assert.True(after > 5 && after > 2.5 * before, $"{normal.FileName}: envelope line at f_rot {before:F1} → {after:F1}");
        }
    }

    [Theory]
    [InlineData("synth-fan")]
    [InlineData("synth-pump")]
    [InlineData("synth-gearbox")]
    [InlineData("synth-compressor")]
    public void BearingImpulsesRaiseKurtosisAndCrestFactor(string machine)
    {
        // source domain: in the target plant's louder background (SNR 0–8 dB) even severe clicks can drown
        foreach (var normal in NormalTestClips(machine).Where(c => c.Domain == SynthDomain.Source))
        {
            var faulty = normal with { Anomaly = AnomalyKind.BearingImpulses, Severity = 1 };
            var x = ClipSynthesizer.Render(normal);
            var y = ClipSynthesizer.Render(faulty);
            double kurtosisBefore = Kurtosis(HighPass(x, 1000)), kurtosisAfter = Kurtosis(HighPass(y, 1000));
            Assert.InRange(kurtosisBefore, 2.3, 4.0); // near Gaussian
            Assert.True(kurtosisAfter > kurtosisBefore + 1, $"{normal.FileName}: kurtosis {kurtosisBefore:F2} → {kurtosisAfter:F2}");
            Assert.True(CrestFactor(y) > CrestFactor(x), $"{normal.FileName}: crest factor {CrestFactor(x):F2} → {CrestFactor(y):F2}");
        }
    }

    [Fact]
    public void MildBearingFaultsAreSubtle()
    {
        var normal = NormalTestClips("synth-fan").First();
        double Excess(double severity)
            => Kurtosis(HighPass(ClipSynthesizer.Render(normal with { Anomaly = AnomalyKind.BearingImpulses, Severity = severity }), 1000)) - 3;

        Assert.True(Excess(0.1) < 0.5, $"excess kurtosis at severity 0.1: {Excess(0.1):F2}");
        Assert.True(Excess(0.1) < Excess(0.5) && Excess(0.5) < Excess(1.0));
    }

    [Theory]
    [InlineData("synth-fan")]
    [InlineData("synth-pump")]
    [InlineData("synth-slider")]
    [InlineData("synth-toycar")]
    public void HarmonicDriftSmearsTheHarmonics(string machine)
    {
        foreach (var normal in NormalTestClips(machine))
        {
            var faulty = normal with { Anomaly = AnomalyKind.HarmonicDrift, Severity = 1 };
            var orders = StrongOrders(normal.Machine, normal.NominalRotationHz, 5);
            double before = HarmonicSharpness(Spectrum(ClipSynthesizer.Render(normal)), normal.NominalRotationHz, orders);
            double after = HarmonicSharpness(Spectrum(ClipSynthesizer.Render(faulty)), normal.NominalRotationHz, orders);
            Assert.True(after < 0.6 * before, $"{normal.FileName}: share of harmonic energy within 0.5% {before:F2} → {after:F2}");
            if (normal.Domain == SynthDomain.Source) // in the target domain low harmonics can sink under the background
                Assert.True(before > 0.5, $"{normal.FileName}: harmonics not sharp without the fault ({before:F2})");
        }
    }

    [Theory]
    [InlineData("synth-fan")]
    [InlineData("synth-pump")]
    [InlineData("synth-slider")]
    [InlineData("synth-toycar")]
    public void RubbingAddsBurstsOfBandNoise(string machine)
    {
        var clips = NormalTestClips(machine).ToList();
        var before = clips.Select(c => BandBurstDb(ClipSynthesizer.Render(c), c.Machine.RubBandHz)).ToList();
        var after = clips.Select(c => BandBurstDb(ClipSynthesizer.Render(c with { Anomaly = AnomalyKind.RubbingNoise, Severity = 1 }), c.Machine.RubBandHz)).ToList();

        Assert.True(after.Average() > before.Average() + 3, $"loudest/median frame in the rub band: {before.Average():F1} → {after.Average():F1} dB");
        Assert.All(before.Zip(after), p => Assert.True(p.Second > p.First - 0.5));
    }

    [Fact]
    public void SeverityMattersOnlyWithAFault()
    {
        var normal = NormalTestClips("synth-pump").First();
        Assert.Equal(ClipSynthesizer.Render(normal), ClipSynthesizer.Render(normal with { Severity = 0.7 }));
        var faulty = ClipSynthesizer.Render(normal with { Anomaly = AnomalyKind.RubbingNoise, Severity = 0.5 });
        Assert.NotEqual(ClipSynthesizer.Render(normal), faulty);
    }

    [Fact]
    public void RecurringRubbingKeepsItsBandFromClipToClipAndPerClipRubbingDoesNot()
    {
        // bands of the rubbing clips of one machine type, each at full severity so the band stands out
        double[] Bands(FaultConditions faults)
        {
            var plan = SynthPlan.Create(new SynthSettings { MachineTypes = 1, SourceTrain = 1, TargetTrain = 1, Test = 48, Seconds = 2, Seed = 4, Faults = faults });
            return plan.Clips.Where(c => c.Anomaly == AnomalyKind.RubbingNoise)
                .Select(c => RubBandHz(c with { Severity = 1 }, c with { Anomaly = AnomalyKind.None, Severity = 0, FaultConditionSeed = null }))
                .ToArray();
        }
        var recurring = Bands(FaultConditions.Recurring);
        var perClip = Bands(FaultConditions.PerClip);

        Assert.Equal(6, recurring.Length);
        Assert.True(recurring.Max() / recurring.Min() < 1.08, $"recurring bands: {string.Join(", ", recurring.Select(b => b.ToString("F0")))} Hz");
        Assert.True(perClip.Max() / perClip.Min() > 1.15, $"per-clip bands: {string.Join(", ", perClip.Select(b => b.ToString("F0")))} Hz");
    }

    /// <summary>Where the fault adds most power relative to the same clip without it: the rub band's centre.</summary>
    private static double RubBandHz(ClipSpec faulty, ClipSpec normal)
    {
        var y = Spectrum(ClipSynthesizer.Render(faulty));
        var x = Spectrum(ClipSynthesizer.Render(normal));
        double hzPerBin = HzPerBin(x), centre = faulty.Machine.RubBandHz;
        int half = (int)(60 / hzPerBin);
        double Smoothed(double[] s, int bin) => Enumerable.Range(bin - half, 2 * half + 1).Average(k => s[k] * s[k]);
        int lo = (int)(0.6 * centre / hzPerBin), hi = (int)(1.5 * centre / hzPerBin);
        // centroid of the excess power ratio: the fault's band, with the level change between the two renders divided out
        var ratio = Enumerable.Range(lo, hi - lo).Select(k => (Bin: k, Ratio: Smoothed(y, k) / Smoothed(x, k))).ToList();
        double floor = ratio.Select(r => r.Ratio).Order().ElementAt(ratio.Count / 4);
        double weight = ratio.Sum(r => Math.Max(0, r.Ratio - floor));
        return ratio.Sum(r => Math.Max(0, r.Ratio - floor) * r.Bin) / weight * hzPerBin;
    }
}
