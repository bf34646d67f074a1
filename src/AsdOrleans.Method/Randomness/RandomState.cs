namespace AsdOrleans.Method.Randomness;

/// <summary>
/// xoshiro256** (Blackman and Vigna, 2018) as an immutable-by-copy value: its whole state is four
/// words, so it is persisted with the machine and a replay of the same stream gives the same draws.
/// System.Random's state cannot be saved, which is why this exists.
/// </summary>
public struct RandomState : IEquatable<RandomState>
{
    public ulong S0, S1, S2, S3;

    public RandomState(ulong s0, ulong s1, ulong s2, ulong s3)
    {
        if ((s0 | s1 | s2 | s3) == 0)
            throw new ArgumentException("xoshiro256** state must not be all zero");
        S0 = s0; S1 = s1; S2 = s2; S3 = s3;
    }

    /// <summary>Seeds the four words from one 64-bit seed with SplitMix64, as the generator's authors recommend.</summary>
    public static RandomState FromSeed(ulong seed)
    {
        ulong x = seed;
        return new RandomState(SplitMix64(ref x), SplitMix64(ref x), SplitMix64(ref x), SplitMix64(ref x));
    }

    /// <summary>Derives a child seed from a parent seed and a stream of labels (machine, trial, member…).</summary>
    public static ulong DeriveSeed(ulong seed, params ReadOnlySpan<ulong> labels)
    {
        ulong x = seed;
        ulong h = SplitMix64(ref x);
        foreach (var label in labels)
        {
            x = h ^ (label * 0x9E3779B97F4A7C15UL);
            h = SplitMix64(ref x);
        }
        return h;
    }

    /// <summary>Stable 64-bit FNV-1a hash of a string, for seeds derived from names (string.GetHashCode is randomised per process).</summary>
    public static ulong StableHash(string text)
    {
        ulong hash = 14695981039346656037UL;
        foreach (char c in text)
        {
            hash ^= c;
            hash *= 1099511628211UL;
        }
        return hash;
    }

    public ulong NextUInt64()
    {
        ulong result = RotateLeft(S1 * 5, 7) * 9;
        ulong t = S1 << 17;
        S2 ^= S0;
        S3 ^= S1;
        S1 ^= S2;
        S0 ^= S3;
        S2 ^= t;
        S3 = RotateLeft(S3, 45);
        return result;
    }

    /// <summary>Uniform double in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, maxExclusive) without modulo bias (Lemire's method).</summary>
    public int NextInt(int maxExclusive)
    {
        if (maxExclusive <= 0)
            throw new ArgumentOutOfRangeException(nameof(maxExclusive), "must be positive");
        ulong bound = (ulong)maxExclusive;
        ulong threshold = (0UL - bound) % bound;
        while (true)
        {
            ulong r = NextUInt64();
            UInt128 product = (UInt128)r * bound;
            if ((ulong)product >= threshold)
                return (int)(product >> 64);
        }
    }

    /// <summary>Standard normal draw (Box–Muller; one of the pair is discarded to keep the state simple).</summary>
    public double NextGaussian()
    {
        double u1 = 1.0 - NextDouble();
        double u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    public readonly bool Equals(RandomState other) => S0 == other.S0 && S1 == other.S1 && S2 == other.S2 && S3 == other.S3;
    public override readonly bool Equals(object? obj) => obj is RandomState other && Equals(other);
    public override readonly int GetHashCode() => HashCode.Combine(S0, S1, S2, S3);

    private static ulong RotateLeft(ulong x, int k) => (x << k) | (x >> (64 - k));

    private static ulong SplitMix64(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
