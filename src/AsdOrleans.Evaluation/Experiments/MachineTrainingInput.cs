using AsdOrleans.Method.Enrollment;

namespace AsdOrleans.Evaluation.Experiments;

/// <summary>A machine's training clips refused by the harness: bad input (<see cref="InvalidDataException"/>) naming the
/// machine, as the machine grain names it in its <see cref="ArgumentException"/>.</summary>
internal static class MachineTrainingInput
{
    public static InvalidDataException Refused(string machine, string problem) => new($"machine '{machine}': {problem}");

    /// <summary><paramref name="fit"/>'s result; training clips that do not vary (<see cref="UnvaryingTrainingException"/>)
    /// are refused naming <paramref name="machine"/>.</summary>
    public static T Fit<T>(string machine, Func<T> fit)
    {
        try
        {
            return fit();
        }
        catch (UnvaryingTrainingException e)
        {
            throw Refused(machine, e.Message);
        }
    }
}
