using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Randomness;

namespace AsdOrleans.Evaluation.Experiments;

/// <summary>What the simulated labeller does with a clip it cannot tell.</summary>
public enum UnsureAnswer
{
    /// <summary>Closes the request without a label (`POST …/decline`): nothing joins N or A.</summary>
    Decline,
    /// <summary>Answers normal or anomalous at random, as a labeller without a "can't tell" button would.</summary>
    Guess,
}

public static class UnsureAnswerNames
{
    public static string ToName(this UnsureAnswer answer) => answer == UnsureAnswer.Guess ? "guess" : "decline";

    public static UnsureAnswer Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "decline" => UnsureAnswer.Decline,
        "guess" => UnsureAnswer.Guess,
        _ => throw new ArgumentException($"unknown answer '{name}' for a clip the labeller cannot tell; use decline or guess"),
    };
}

/// <summary>
/// The labeller an experiment simulates: it knows every clip's truth, except that it cannot tell a share
/// <see cref="UnsureRate"/> of the clips it is asked about, and answers those as <see cref="Unsure"/> says. Which clips
/// are unsure, and a guess's coin, depend on (seed, machine, trial, clip) only, so every strategy, budget and answer
/// meets the same hard clips (paired comparisons).
/// </summary>
public sealed record SimulatedLabeller(double UnsureRate = 0, UnsureAnswer Unsure = UnsureAnswer.Decline)
{
    public static readonly SimulatedLabeller Truthful = new();

    public SimulatedLabeller Validate()
    {
        if (!(UnsureRate >= 0 && UnsureRate <= 1))
            throw new ArgumentException($"the share of clips the labeller cannot tell must be in [0, 1], got {UnsureRate}");
        return this;
    }

    /// <summary>The label given for test clip <paramref name="clip"/> of a run, or null when the labeller declines.</summary>
    public ClipLabel? Answer(ulong seed, string machine, int trial, int clip, bool isAnomaly)
    {
        var truth = isAnomaly ? ClipLabel.Anomalous : ClipLabel.Normal;
        if (UnsureRate == 0)
            return truth;
        var draw = RandomState.FromSeed(RandomState.DeriveSeed(seed, RandomState.StableHash(machine), (ulong)trial, (ulong)clip, 0x5E /* unsure */));
        if (draw.NextDouble() >= UnsureRate)
            return truth;
        if (Unsure == UnsureAnswer.Decline)
            return null;
        return draw.NextDouble() < 0.5 ? ClipLabel.Normal : ClipLabel.Anomalous;
    }
}
