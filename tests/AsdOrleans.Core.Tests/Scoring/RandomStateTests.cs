using AsdOrleans.Method.Randomness;

namespace AsdOrleans.Core.Tests.Scoring;

public class RandomStateTests
{
    [Fact]
    public void Same_seed_same_sequence_and_copies_continue_identically()
    {
        var a = RandomState.FromSeed(42);
        var b = RandomState.FromSeed(42);
        for (int i = 0; i < 100; i++) Assert.Equal(a.NextUInt64(), b.NextUInt64());
        var copy = a;
        Assert.Equal(a.NextDouble(), copy.NextDouble());
        Assert.NotEqual(RandomState.FromSeed(1).NextUInt64(), RandomState.FromSeed(2).NextUInt64());
    }

    [Fact]
    public void Doubles_are_uniform_in_the_unit_interval()
    {
        var r = RandomState.FromSeed(5);
        var values = Enumerable.Range(0, 100_000).Select(_ => r.NextDouble()).ToArray();
        Assert.All(values, v => Assert.InRange(v, 0.0, 0.9999999999));
        Assert.Equal(0.5, values.Average(), 0.01);
        Assert.Equal(0.1, values.Count(v => v < 0.1) / 100_000.0, 0.005);
    }

    [Fact]
    public void Integers_cover_their_range_evenly()
    {
        var r = RandomState.FromSeed(6);
        var counts = new int[7];
        for (int i = 0; i < 70_000; i++) counts[r.NextInt(7)]++;
        Assert.All(counts, c => Assert.InRange(c, 9_500, 10_500));
        Assert.Throws<ArgumentOutOfRangeException>(() => r.NextInt(0));
    }

    [Fact]
    public void All_zero_state_is_rejected_and_derived_seeds_differ_by_label()
    {
        Assert.Throws<ArgumentException>(() => new RandomState(0, 0, 0, 0));
        Assert.NotEqual(RandomState.DeriveSeed(1, 2), RandomState.DeriveSeed(1, 3));
        Assert.NotEqual(RandomState.DeriveSeed(1, 2, 3), RandomState.DeriveSeed(1, 3, 2));
        Assert.Equal(RandomState.StableHash("fan"), RandomState.StableHash("fan"));
    }
}
