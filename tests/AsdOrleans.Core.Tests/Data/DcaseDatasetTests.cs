using AsdOrleans.Datasets.Dcase;
using AsdOrleans.Method.Io;
using AsdOrleans.Core.Tests.Audio;

namespace AsdOrleans.Core.Tests.Data;

public sealed class DcaseDatasetTests : IDisposable
{
    private readonly TempDirectory dir = new("asd-dcase");

    public void Dispose() => dir.Dispose();

    // ------------------------------------------------------------------ the real mini set

    [Fact]
    public void TheMiniSetHas28ClipsOf7MachineTypes()
    {
        var clips = DcaseDataset.Scan(SharedData.Dcase2023Mini);

        Assert.Equal(28, clips.Count);
        Assert.Equal(["ToyCar", "ToyTrain", "bearing", "fan", "gearbox", "slider", "valve"], clips.Select(c => c.MachineType).Distinct());
        // The files hold 14 training normals and 9 test normals (ToyCar's two test clips are both normal);
        // the set's README says 16 and 7.
        Assert.Equal(14, clips.Count(c => !c.IsTest && c.IsAnomaly == false));
        Assert.Equal(9, clips.Count(c => c.IsTest && c.IsAnomaly == false));
        Assert.Equal(5, clips.Count(c => c.IsTest && c.IsAnomaly == true));
        Assert.All(clips, c =>
        {
            Assert.True(File.Exists(c.Path));
            Assert.True(Path.IsPathFullyQualified(c.Path));
            Assert.Equal(Path.GetFileName(c.Path), c.FileName);
            Assert.Equal("00", c.Section);
            Assert.NotEqual("", c.Attributes);
        });
        Assert.All(clips.Where(c => !c.IsTest), c => Assert.False(c.IsTarget)); // the mini set's training clips are all source
    }

    [Fact]
    public void TheOrderIsMachineTypeThenTrainBeforeTestThenFileName()
    {
        var clips = DcaseDataset.Scan(SharedData.Dcase2023Mini);

        var sorted = clips
            .OrderBy(c => c.MachineType, StringComparer.Ordinal)
            .ThenBy(c => c.IsTest)
            .ThenBy(c => c.FileName, StringComparer.Ordinal)
            .ToList();
        Assert.Equal(sorted, clips);
        Assert.Equal("section_00_source_train_normal_0362_car_C2_spd_31V_mic_1.wav", clips[0].FileName);
        Assert.Equal("section_00_target_test_normal_0044_pat_03.wav", clips[^1].FileName);
        Assert.Equal(clips, DcaseDataset.Scan(SharedData.Dcase2023Mini));
    }

    [Theory]
    [InlineData("ToyCar", "section_00_source_train_normal_0362_car_C2_spd_31V_mic_1.wav", false, false, false, "car_C2_spd_31V_mic_1")]
    [InlineData("ToyTrain", "section_00_target_test_anomaly_0015_car_A2_spd_6_mic_2.wav", true, true, true, "car_A2_spd_6_mic_2")]
    [InlineData("bearing", "section_00_source_test_normal_0022_vel_9_loc_A.wav", false, true, false, "vel_9_loc_A")]
    [InlineData("gearbox", "section_00_source_train_normal_0073_volt_1.5_wt_0.wav", false, false, false, "volt_1.5_wt_0")]
    [InlineData("fan", "section_00_source_test_anomaly_0022_m-n_W.wav", false, true, true, "m-n_W")]
    [InlineData("valve", "section_00_target_test_anomaly_0044_pat_03.wav", true, true, true, "pat_03")]
    public void MiniClipsCarryTheirNamesFields(string machine, string fileName, bool target, bool test, bool anomaly, string attributes)
    {
        var clip = DcaseDataset.Scan(SharedData.Dcase2023Mini).Single(c => c.FileName == fileName);

        Assert.Equal((machine, target, test, (bool?)anomaly, attributes), (clip.MachineType, clip.IsTarget, clip.IsTest, clip.IsAnomaly, clip.Attributes));
        Assert.Equal($"{machine}/section_00/{attributes}", clip.ClassKey);
    }

    [Fact]
    public void ClassKeysAreMachineSectionAndAttributes()
    {
        var keys = DcaseDataset.Scan(SharedData.Dcase2023Mini).Where(c => !c.IsTest).Select(c => c.ClassKey).Distinct().ToList();

        Assert.Contains("ToyCar/section_00/car_C2_spd_31V_mic_1", keys);
        Assert.Contains("gearbox/section_00/volt_1.5_wt_0", keys);
        Assert.Contains("fan/section_00/m-n_X", keys);
        Assert.Single(keys, k => k.StartsWith("fan/", StringComparison.Ordinal)); // both fan training clips are m-n_X
        Assert.Equal(12, keys.Count);
    }

    [Fact]
    public void TheRootMayBeTheRawFolderTheDevDataFolderOrOneMachine()
    {
        string mini = SharedData.Dcase2023Mini;
        Assert.Equal(28, DcaseDataset.Scan(Path.Combine(mini, "dev_data", "raw")).Count);
        Assert.Equal(28, DcaseDataset.Scan(Path.Combine(mini, "dev_data")).Count);
        var fan = DcaseDataset.Scan(Path.Combine(mini, "dev_data", "raw", "fan"));
        Assert.Equal(4, fan.Count);
        Assert.All(fan, c => Assert.Equal("fan", c.MachineType));
    }

    // ------------------------------------------------------------------ errors

    [Fact]
    public void AMissingRootIsNamed()
    {
        string root = dir.File("nowhere");
        var e = Assert.Throws<InputDataException>(() => DcaseDataset.Scan(root));
        Assert.Equal(root, e.File);
        Assert.Contains("no such directory", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFolderWithoutClipsSaysWhatWasExpected()
    {
        Touch("dev_data/raw/fan/train/readme.txt");
        var e = Assert.Throws<InputDataException>(() => DcaseDataset.Scan(dir.Path));
        Assert.StartsWith(dir.Path + ": no DCASE clips found", e.Message, StringComparison.Ordinal);
        Assert.Contains("dev_data/raw/<machine_type>/{train,test}/*.wav", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnparsableNameIsNamed()
    {
        Touch("dev_data/raw/fan/train/section_00_source_train_normal_0001_m-n_X.wav");
        string bad = Touch("dev_data/raw/fan/train/recording 2023-05-01.wav");

        var e = Assert.Throws<InputDataException>(() => DcaseDataset.Scan(dir.Path));

        Assert.Equal(bad, e.File);
        Assert.Contains("'recording 2023-05-01.wav' is not a DCASE 2023 clip name", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ANameWhoseSplitDisagreesWithItsFolderIsRefused()
    {
        string misplaced = Touch("dev_data/raw/fan/test/section_00_source_train_normal_0001_m-n_X.wav");
        var e = Assert.Throws<InputDataException>(() => DcaseDataset.Scan(dir.Path));
        Assert.Equal(misplaced, e.File);
        Assert.Contains("the name says train but the clip is in a test folder", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("train", "section_00_source_train_normal_0001_m-n_X.wav")]
    [InlineData("test", "section_00_target_test_anomaly_0003_m-n_X.wav")]
    public void AClipInBothDevDataAndEvalDataIsRefusedNamingBothPlaces(string split, string clip)
    {
        Touch($"dev_data/raw/fan/{split}/{clip}");
        Touch($"eval_data/raw/fan/{split}/{clip}");
        Touch("eval_data/raw/fan/train/section_00_source_train_normal_0002_m-n_X.wav");

        var e = Assert.Throws<InputDataException>(() => DcaseDataset.Scan(dir.Path));

        Assert.Equal(dir.Path, e.File);
        Assert.Contains($"clip '{clip}' appears twice for machine 'fan' in split '{split}'", e.Message, StringComparison.Ordinal);
        Assert.Contains(Path.Combine("dev_data", "raw", "fan", split, clip), e.Message, StringComparison.Ordinal);
        Assert.Contains(Path.Combine("eval_data", "raw", "fan", split, clip), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheSameFileNameInAnotherMachineTypeIsAnotherClip()
    {
        Touch("dev_data/raw/fan/train/section_00_source_train_normal_0001_m-n_X.wav");
        Touch("eval_data/raw/pump/train/section_00_source_train_normal_0001_m-n_X.wav");
        Assert.Equal(2, DcaseDataset.Scan(dir.Path).Count);
    }

    [Fact]
    public void OtherFilesAreIgnored()
    {
        Touch("dev_data/raw/fan/train/section_00_source_train_normal_0001_m-n_X.wav");
        Touch("dev_data/raw/fan/train/attributes_00.csv");
        Touch("dev_data/raw/fan/notes/anything.wav");
        Assert.Single(DcaseDataset.Scan(dir.Path));
    }

    // ------------------------------------------------------------------ evaluation data and ground truth

    private void EvalLayout()
    {
        Touch("eval_data/raw/bandsaw/train/section_00_source_train_normal_0000_vel_15.wav");
        Touch("eval_data/raw/bandsaw/train/section_00_target_train_normal_0000_vel_12.wav");
        Touch("eval_data/raw/bandsaw/test/section_00_0000.wav");
        Touch("eval_data/raw/bandsaw/test/section_00_0001.wav");
        Touch("eval_data/raw/bandsaw/test/section_00_0005.wav");
    }

    [Fact]
    public void EvaluationTrainingClipsNeedNoGroundTruthButTestClipsDo()
    {
        EvalLayout();

        var e = Assert.Throws<InputDataException>(() => DcaseDataset.Scan(dir.Path));

        Assert.Matches(@"bandsaw[/\\]test[/\\]section_00_000[015]\.wav$", e.File);
        Assert.Contains("evaluation test clip without a domain", e.Message, StringComparison.Ordinal);
        Assert.Contains("give the ground-truth directory", e.Message, StringComparison.Ordinal);
        Assert.Contains("ground_truth_bandsaw_section_00_test.csv", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheOfficialEvaluatorLayoutGivesLabelsAndDomains()
    {
        EvalLayout();
        Write("gt/ground_truth_data/ground_truth_bandsaw_section_00_test.csv", "section_00_0000.wav,0\nsection_00_0001.wav,1\nsection_00_0005.wav,1\nsection_00_0009.wav,0\n");
        Write("gt/ground_truth_domain/ground_truth_bandsaw_section_00_test.csv", "section_00_0000.wav,1\nsection_00_0001.wav,1\nsection_00_0005.wav,0\nsection_00_0009.wav,0\n");

        var clips = DcaseDataset.Scan(dir.Path, dir.File("gt"));

        Assert.Equal(5, clips.Count);
        var test = clips.Where(c => c.IsTest).ToList();
        Assert.Equal(["section_00_0000.wav", "section_00_0001.wav", "section_00_0005.wav"], test.Select(c => c.FileName));
        Assert.Equal([false, true, true], test.Select(c => c.IsAnomaly!.Value));
        Assert.Equal([true, true, false], test.Select(c => c.IsTarget));
        Assert.All(test, c => Assert.Equal("", c.Attributes));
        var train = clips.Where(c => !c.IsTest).ToList();
        Assert.Equal(["vel_15", "vel_12"], train.Select(c => c.Attributes));
        Assert.Equal("bandsaw/section_00/vel_12", train[1].ClassKey);
    }

    [Fact]
    public void GroundTruthListsItsSectionsAndEverySectionClip()
    {
        Write("gt/ground_truth_data/ground_truth_bandsaw_section_00_test.csv", "section_00_0000.wav,0\nsection_00_0001.wav,1\n");
        Write("gt/ground_truth_data/ground_truth_bandsaw_section_01_test.csv", "section_01_0000.wav,1\n");
        Write("gt/ground_truth_data/ground_truth_ToyCar_section_00_test.csv", "section_00_0000.wav,0\n");
        Write("gt/ground_truth_data/notes.txt", "not a ground-truth file\n");
        string domains = Write("gt/ground_truth_domain/ground_truth_bandsaw_section_00_test.csv", "section_00_0000.wav,1\n");
        var truth = DcaseGroundTruth.Open(dir.File("gt"));

        Assert.Equal([("ToyCar", "00"), ("bandsaw", "00"), ("bandsaw", "01")], truth.LabelledSections().Select(s => (s.MachineType, s.Section)));
        var toyCar = Assert.Single(truth.SectionClips("ToyCar", "00"));
        Assert.Equal("section_00_0000.wav", toyCar.FileName);
        Assert.Equal(new DcaseGroundTruthEntry(false, null, null), toyCar.Entry);
        // The domain file leaves out a clip the label file lists: named, not guessed.
        var e = Assert.Throws<InputDataException>(() => truth.SectionClips("bandsaw", "00"));
        Assert.Equal(domains, e.File);
        Assert.Contains("clip 'section_00_0001.wav' is not listed", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AttributesGroundTruthGivesDomainLabelAndAttributes()
    {
        EvalLayout();
        Write("gt/ground_truth_attributes/ground_truth_bandsaw_section_00_test.csv",
            "section_00_0000.wav,section_00_target_test_normal_0000_vel_12\n" +
            "section_00_0001.wav,section_00_target_test_anomaly_0001_vel_12\n" +
            "section_00_0005.wav,section_00_source_test_anomaly_0005_vel_15\n");

        var test = DcaseDataset.Scan(dir.Path, dir.File("gt")).Where(c => c.IsTest).ToList();

        Assert.Equal([true, true, false], test.Select(c => c.IsTarget));
        Assert.Equal([false, true, true], test.Select(c => c.IsAnomaly!.Value));
        Assert.Equal(["vel_12", "vel_12", "vel_15"], test.Select(c => c.Attributes));
        Assert.Equal("bandsaw/section_00/vel_15", test[2].ClassKey);
    }

    [Fact]
    public void AFlatFolderWithThreeColumnsWorksLikeMetricsDcase()
    {
        EvalLayout();
        Write("flat/ground_truth_bandsaw_section_00_test.csv", "section_00_0000.wav,normal,target\nsection_00_0001.wav,anomaly,source\nsection_00_0005.wav,0,1\n");

        var test = DcaseDataset.Scan(dir.Path, dir.File("flat")).Where(c => c.IsTest).ToList();

        Assert.Equal([false, true, false], test.Select(c => c.IsAnomaly!.Value));
        Assert.Equal([true, false, true], test.Select(c => c.IsTarget));
    }

    [Fact]
    public void DomainsWithoutLabelsGiveUnlabelledClips()
    {
        EvalLayout();
        Write("gt/ground_truth_domain/ground_truth_bandsaw_section_00_test.csv", "section_00_0000.wav,1\nsection_00_0001.wav,0\nsection_00_0005.wav,0\n");

        var test = DcaseDataset.Scan(dir.Path, dir.File("gt")).Where(c => c.IsTest).ToList();

        Assert.All(test, c => Assert.Null(c.IsAnomaly));
        Assert.Equal([true, false, false], test.Select(c => c.IsTarget));
    }

    [Fact]
    public void LabelsWithoutDomainsAreNotEnough()
    {
        EvalLayout();
        Write("gt/ground_truth_data/ground_truth_bandsaw_section_00_test.csv", "section_00_0000.wav,0\nsection_00_0001.wav,1\nsection_00_0005.wav,1\n");

        var e = Assert.Throws<InputDataException>(() => DcaseDataset.Scan(dir.Path, dir.File("gt")));

        Assert.Contains("evaluation test clip without a domain", e.Message, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(dir.File("gt"), "ground_truth_domain", "ground_truth_bandsaw_section_00_test.csv"), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AGroundTruthFileMissingAClipIsNamed()
    {
        EvalLayout();
        string labels = Write("gt/ground_truth_data/ground_truth_bandsaw_section_00_test.csv", "section_00_0000.wav,0\nsection_00_0005.wav,1\n");
        Write("gt/ground_truth_domain/ground_truth_bandsaw_section_00_test.csv", "section_00_0000.wav,1\nsection_00_0001.wav,1\nsection_00_0005.wav,0\n");

        var e = Assert.Throws<InputDataException>(() => DcaseDataset.Scan(dir.Path, dir.File("gt")));

        Assert.Equal(labels, e.File);
        Assert.Contains("clip 'section_00_0001.wav' is not listed", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DisagreeingGroundTruthFilesAreNamed()
    {
        EvalLayout();
        string labels = Write("gt/ground_truth_data/ground_truth_bandsaw_section_00_test.csv", "section_00_0000.wav,0\nsection_00_0001.wav,1\nsection_00_0005.wav,1\n");
        string attributes = Write("gt/ground_truth_attributes/ground_truth_bandsaw_section_00_test.csv",
            "section_00_0000.wav,section_00_target_test_normal_0000_vel_12\n" +
            "section_00_0001.wav,section_00_target_test_normal_0001_vel_12\n" +
            "section_00_0005.wav,section_00_source_test_anomaly_0005_vel_15\n");

        var e = Assert.Throws<InputDataException>(() => DcaseDataset.Scan(dir.Path, dir.File("gt")));

        Assert.Equal(attributes, e.File);
        Assert.Equal(2, e.Line);
        Assert.Contains($"clip 'section_00_0001.wav': label '0' disagrees with '1' in {labels}:2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MalformedGroundTruthRowsNameFileAndLine()
    {
        EvalLayout();
        string domains = Write("gt/ground_truth_domain/ground_truth_bandsaw_section_00_test.csv", "section_00_0000.wav,1\nsection_00_0001.wav,left\n");

        var e = Assert.Throws<InputDataException>(() => DcaseDataset.Scan(dir.Path, dir.File("gt")));

        Assert.Equal((domains, (int?)2), (e.File, e.Line));
        Assert.Contains("column 'domain': 'left' is not source, target, 0 or 1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AMissingGroundTruthDirectoryIsNamed()
    {
        EvalLayout();
        string gt = dir.File("no-gt");
        var e = Assert.Throws<InputDataException>(() => DcaseDataset.Scan(dir.Path, gt));
        Assert.Equal(gt, e.File);
    }

    [Fact]
    public void AnEvaluationTestNameInATrainFolderIsRefused()
    {
        string bad = Touch("eval_data/raw/bandsaw/train/section_00_0007.wav");
        var e = Assert.Throws<InputDataException>(() => DcaseDataset.Scan(dir.Path));
        Assert.Equal(bad, e.File);
        Assert.Contains("is in a train folder", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DevAndEvalDataAreScannedTogether()
    {
        Touch("dev_data/raw/fan/train/section_00_source_train_normal_0001_m-n_X.wav");
        Touch("dev_data/raw/fan/test/section_00_target_test_anomaly_0001_m-n_Y.wav");
        Touch("eval_data/raw/bandsaw/train/section_00_source_train_normal_0000_vel_15.wav");

        var clips = DcaseDataset.Scan(dir.Path);

        Assert.Equal(["bandsaw", "fan", "fan"], clips.Select(c => c.MachineType));
        Assert.Equal([false, false, true], clips.Select(c => c.IsTest));
    }

    private string Touch(string relative) => dir.Write(relative.Replace('/', Path.DirectorySeparatorChar), []);

    private string Write(string relative, string text) => dir.Write(relative.Replace('/', Path.DirectorySeparatorChar), System.Text.Encoding.UTF8.GetBytes(text));
}
