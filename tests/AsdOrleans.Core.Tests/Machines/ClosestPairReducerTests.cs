using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Scoring;

namespace AsdOrleans.Core.Tests.Machines;

/// <summary>The closest-pair reduction against a brute-force search, with its stale-neighbour shortcut exercised over many merges.</summary>
public class ClosestPairReducerTests
{
    [Fact]
    public void Every_merge_joins_the_closest_pair_the_newcomer_included()
    {
        var random = new Random(3);
        const int d = 16, cap = 30;
        float[] Unit()
        {
            var v = new float[d];
            for (int i = 0; i < d; i++) v[i] = (float)(random.NextDouble() * 2 - 1);
            return EmbeddingMath.Normalized(v);
        }
        var set = new EmbeddingSet(d);
        var weights = new List<float>();
        for (int i = 0; i < cap; i++) { set.AddNormalized(Unit()); weights.Add(1); }
        var reducer = new ClosestPairReducer();
        var cosines = new float[cap];
        for (int step = 0; step < 400; step++)
        {
            // A few clustered newcomers make hub rows, which is where stale neighbours arise.
            var e = step % 3 == 0 ? Unit() : Near(set.Row(step % cap).ToArray(), random);
            float bestPair = float.NegativeInfinity;
            for (int i = 0; i < cap; i++)
            {
                set.Cosines(set.Row(i), cosines);
                for (int j = 0; j < cap; j++) if (j != i) bestPair = Math.Max(bestPair, cosines[j]);
            }
            set.Cosines(e, cosines);
            float bestNew = cosines.Max();
            var rows = Enumerable.Range(0, cap).Select(i => set.Row(i).ToArray()).ToArray();

            var outcome = reducer.Add(set, weights, e);

            if (outcome.NewcomerMerged)
            {
                Assert.True(bestNew >= bestPair, $"step {step}: newcomer merged at {bestNew}, a pair was at {bestPair}");
                Assert.Equal(bestNew, cosines[outcome.Into]);
            }
            else
            {
                Assert.True(bestPair > bestNew, $"step {step}");
                var before = new EmbeddingSet(d);
                foreach (var row in rows) before.AddNormalized(row);
                before.Cosines(rows[outcome.Into], cosines);
                Assert.Equal(bestPair, cosines[outcome.Freed]);
                Assert.Equal(e, set.Row(outcome.Freed).ToArray());
            }
            Assert.Equal(cap, set.Count);
            Assert.Equal(cap + step + 1, weights.Sum());
        }
    }

    private static float[] Near(float[] row, Random random)
    {
        var v = row.Select(x => x + (float)(random.NextDouble() - 0.5) * 0.2f).ToArray();
        return EmbeddingMath.Normalized(v);
    }
}
