using AsdOrleans.Datasets.Dcase;

namespace AsdOrleans.Core.Tests.Data;

public class DcaseFileNameTests
{
    [Theory]
    [InlineData("section_00_source_train_normal_0362_car_C2_spd_31V_mic_1.wav", "00", false, false, false, "0362", "car_C2_spd_31V_mic_1")]
    [InlineData("section_00_target_test_anomaly_0015_car_A2_spd_6_mic_2.wav", "00", true, true, true, "0015", "car_A2_spd_6_mic_2")]
    [InlineData("section_00_source_test_normal_0022_vel_9_loc_A.wav", "00", false, true, false, "0022", "vel_9_loc_A")]
    [InlineData("section_00_source_train_normal_0073_volt_1.5_wt_0.wav", "00", false, false, false, "0073", "volt_1.5_wt_0")]
    [InlineData("section_00_source_test_anomaly_0022_m-n_W.wav", "00", false, true, true, "0022", "m-n_W")]
    [InlineData("section_00_source_test_normal_0027_vel_730_ac_0.11.wav", "00", false, true, false, "0027", "vel_730_ac_0.11")]
    [InlineData("section_01_target_train_normal_0005_noAttribute.wav", "01", true, false, false, "0005", "noAttribute")]
    [InlineData("section_02_source_train_normal_0099.wav", "02", false, false, false, "0099", "")]
    [InlineData("section_00_source_train_normal_0001_pat_01.WAV", "00", false, false, false, "0001", "pat_01")]
    public void NamedClipsGiveEveryField(string name, string section, bool target, bool test, bool anomaly, string index, string attributes)
    {
        var parts = DcaseFileName.Parse(name);

        Assert.Equal(new DcaseFileNameParts(section, target, test, anomaly, index, attributes), parts);
        Assert.False(parts.IsEvaluationTestName);
    }

    [Fact]
    public void EvaluationTestNamesGiveOnlySectionAndIndex()
    {
        var parts = DcaseFileName.Parse("section_00_0123.wav");

        Assert.Equal(new DcaseFileNameParts("00", null, null, null, "0123", ""), parts);
        Assert.True(parts.IsEvaluationTestName);
    }

    [Theory]
    [InlineData("section_00_source_train_normal.wav")]
    [InlineData("section_00_source_valid_normal_0001_a_1.wav")]
    [InlineData("section_00_left_train_normal_0001_a_1.wav")]
    [InlineData("section_00_source_train_broken_0001_a_1.wav")]
    [InlineData("sec_00_source_train_normal_0001_a_1.wav")]
    [InlineData("section_00_source_train_normal_0001_a_1.flac")]
    [InlineData("section_00_source_train_normal_abcd_a_1.wav")]
    [InlineData("section_00.wav")]
    [InlineData("notes.txt")]
    public void OtherNamesAreNotClipNames(string name)
    {
        Assert.False(DcaseFileName.TryParse(name, out _));
        var e = Assert.Throws<FormatException>(() => DcaseFileName.Parse(name));
        Assert.Contains($"'{name}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("section_NN_{source|target}_{train|test}_{normal|anomaly}_NNNN[_attributes].wav", e.Message, StringComparison.Ordinal);
    }
}
