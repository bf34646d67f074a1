namespace AsdOrleans.Datasets.Dcase;

/// <summary>
/// One clip of a DCASE 2023 Task 2 data set.
/// </summary>
/// <param name="Path">Full path of the WAV file.</param>
/// <param name="MachineType">The machine-type folder, e.g. <c>ToyCar</c>, <c>fan</c>.</param>
/// <param name="Section">Section number as written in the name, e.g. <c>00</c>.</param>
/// <param name="IsTarget">Target domain (true) or source domain (false).</param>
/// <param name="IsTest">In a <c>test</c> folder (true) or a <c>train</c> folder (false).</param>
/// <param name="IsAnomaly">Anomalous or normal; null for an evaluation test clip whose label is not given.</param>
/// <param name="Attributes">Everything after the clip index in the name, e.g. <c>car_C2_spd_31V_mic_1</c>;
/// possibly empty (machine types without attributes, evaluation test clips without an attributes ground truth).</param>
/// <param name="FileName">The file name with its extension.</param>
public sealed record DcaseClip(
    string Path, string MachineType, string Section, bool IsTarget, bool IsTest, bool? IsAnomaly, string Attributes, string FileName)
{
    /// <summary>
    /// The training class of docs/design.md §1 (machine type × section × attribute combination), e.g.
    /// <c>ToyCar/section_00/car_C2_spd_31V_mic_1</c>.
    /// </summary>
    public string ClassKey => $"{MachineType}/section_{Section}/{Attributes}";

    public string Domain => IsTarget ? "target" : "source";
}
