using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Metrics;
using AsdOrleans.Method.Randomness;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Core.Tests.Scoring;

/// <summary>Issue 13: N and A in 16 bits halve a machine's largest part and move no score by more than fp16's rounding.</summary>
public class EmbeddingPrecisionTests
{
    // fp16 rounds each element to nearest, within 2⁻¹¹ of its value: a cosine of unit vectors moves by at most that much.
    private const double Fp16Cosine = 1.0 / 2048;

    private static (EmbeddingSet Single, EmbeddingSet Half) Sets(int dimension, int rows, ulong seed)
    {
        var random = RandomState.FromSeed(seed);
        var single = new EmbeddingSet(dimension);
        var half = new EmbeddingSet(dimension, 0, EmbeddingPrecision.Fp16);
        for (int i = 0; i < rows; i++)
        {
            var row = EmbeddingMath.Normalized(TestData.RandomVector(ref random, dimension));
            single.AddNormalized(row);
            half.AddNormalized(row);
        }
        return (single, half);
    }

    [Theory]
    [InlineData(128, 42)]
    [InlineData(128, 300)]  // past one widened block and one max chunk
    [InlineData(13, 9)]     // not a multiple of any vector width
    [InlineData(3000, 3)]   // a row wider than the stack block
    public void Fp16_rows_give_the_fp32_cosines_within_fp16_rounding_in_half_the_bytes(int dimension, int rows)
    {
        var (single, half) = Sets(dimension, rows, seed: 3);
        Assert.Equal(2 * half.StoredBytes.Length, single.StoredBytes.Length);
        var random = RandomState.FromSeed(4);
        var expected = new float[rows];
        var actual = new float[rows];
        for (int trial = 0; trial < 10; trial++)
        {
            var query = EmbeddingMath.Normalized(TestData.RandomVector(ref random, dimension));
            single.Cosines(query, expected);
            half.Cosines(query, actual);
            for (int i = 0; i < rows; i++)
                Assert.Equal(expected[i], actual[i], Fp16Cosine);
            Assert.Equal(single.MaxCosine(query), half.MaxCosine(query), Fp16Cosine);
            Assert.Equal(actual.Max(), half.MaxCosine(query));
        }
    }

    [Theory]
    [InlineData(32)] // the 512-bit kernel where the CPU has it
    [InlineData(16)] // the 256-bit kernel
    [InlineData(7)]  // the widening fallback
    public void Every_finite_half_is_widened_exactly(int dimension)
    {
        var finite = Enumerable.Range(0, 1 << 16).Select(b => BitConverter.UInt16BitsToHalf((ushort)b)).Where(Half.IsFinite).ToList();
        while (finite.Count % dimension != 0) finite.Add(Half.Zero);
        var set = EmbeddingSet.FromValues(dimension, finite.ToArray());
        var cosines = new float[set.Count];
        for (int k = 0; k < dimension; k++)
        {
            var oneHot = new float[dimension];
            oneHot[k] = 1;
            set.Cosines(oneHot, cosines);
            for (int row = 0; row < set.Count; row++)
                Assert.Equal((float)finite[row * dimension + k], cosines[row]);
        }
    }

    [Fact]
    public void Converting_rounds_once_and_an_fp16_set_lends_no_fp32_row()
    {
        var (single, half) = Sets(128, 20, seed: 5);
        var converted = single.ConvertedTo(EmbeddingPrecision.Fp16);
        Assert.Equal(half.StoredBytes.ToArray(), converted.StoredBytes.ToArray());
        Assert.Equal(half.ToSingleArray(), converted.ConvertedTo(EmbeddingPrecision.Fp32).ConvertedTo(EmbeddingPrecision.Fp16).ToSingleArray());
        for (int i = 0; i < 20; i++)
        {
            var row = half.RowToArray(i);
            var original = single.Row(i);
            for (int k = 0; k < 128; k++)
                Assert.Equal(original[k], row[k], Math.Abs(original[k]) / 2048 + 1e-7);
        }
        Assert.Throws<InvalidOperationException>(() => half.Row(0).Length);
    }

    [Fact]
    public void Merging_into_an_fp16_row_keeps_it_a_unit_vector()
    {
        var (_, half) = Sets(64, 4, seed: 6);
        var random = RandomState.FromSeed(7);
        for (int i = 0; i < 200; i++)
            half.Merge(i % 4, EmbeddingMath.Normalized(TestData.RandomVector(ref random, 64)), weight: i + 1);
        for (int i = 0; i < 4; i++)
            Assert.Equal(1.0, Math.Sqrt(half.RowToArray(i).Sum(v => (double)v * v)), Fp16Cosine);
    }

    [Fact]
    public void The_default_method_stores_fp16_the_paper_fp32_and_both_round_trip_exactly()
    {
        var (train, test) = TestData.Machine(seed: 31);
        var fp16 = MachineModel.Enroll(MachineConfig.Default with { Budget = 0.3 }, train);
        var fp32 = MachineModel.Enroll(MachineConfig.Paper with { Budget = 0.3 }, train);
        Assert.Equal(EmbeddingPrecision.Fp16, fp16.ReferenceSet.Precision);
        Assert.Equal(EmbeddingPrecision.Fp16, fp16.AnomalySet.Precision);
        Assert.Equal(EmbeddingPrecision.Fp32, fp32.ReferenceSet.Precision);
        TestData.StreamWithOracle(fp16, test);
        Assert.True(fp16.AnomalySet.Count > 0, "the stream must label anomalies");
        var bytes = fp16.Serialize();
        Assert.Equal(6, BitConverter.ToUInt16(bytes, 4)); // both domains enrolled: φ per domain, format 6
        var restored = MachineModel.Deserialize(bytes);
        Assert.Equal(EmbeddingPrecision.Fp16, restored.Config.EmbeddingPrecision);
        Assert.Equal(bytes, restored.Serialize());
        Assert.Equal(2, BitConverter.ToUInt16(fp32.Serialize(), 4));
    }

    [Fact]
    public void A_new_configuration_converts_the_sets_and_an_fp32_state_reads_as_fp32()
    {
        var (train, test) = TestData.Machine(seed: 32);
        // Source clips only: one φ, so the state is written as every state before fp16 and φ per domain was.
        var old = MachineModel.Enroll(MachineConfig.Default with { EmbeddingPrecision = EmbeddingPrecision.Fp32 }, train.Where(c => !c.IsTargetDomain).ToList());
        TestData.StreamWithOracle(old, test.Take(100));
        var oldBytes = old.Serialize();
        Assert.Equal(3, BitConverter.ToUInt16(oldBytes, 4)); // what every state before fp16 was
        Assert.Equal(EmbeddingPrecision.Fp32, MachineModel.Deserialize(oldBytes).ReferenceSet.Precision);
        var converted = old.WithConfig(old.Config with { EmbeddingPrecision = EmbeddingPrecision.Fp16 });
        Assert.Equal(old.ReferenceSet.ConvertedTo(EmbeddingPrecision.Fp16).ToSingleArray(), converted.ReferenceSet.ToSingleArray());
        Assert.True(converted.Serialize().Length < oldBytes.Length - old.ReferenceSet.Count * old.Dimension * 2 + 64);
        var random = RandomState.FromSeed(9);
        for (int i = 0; i < 20; i++)
        {
            var clip = TestData.RandomVector(ref random, old.Dimension);
            Assert.Equal(old.Score(clip), converted.Score(clip), 1e-3);
        }
    }

    [Theory]
    [InlineData(QueryStrategyKind.Hybrid)]
    [InlineData(QueryStrategyKind.Qbc)]
    public void A_stream_scored_with_fp16_sets_has_the_fp32_AUC_within_0_005(QueryStrategyKind strategy)
    {
        var (train, test) = TestData.Machine(seed: 33, testPerDomainAndLabel: 150);
        var config = MachineConfig.Default with { Strategy = strategy, Seed = 2 };
        var half = TestData.StreamWithOracle(MachineModel.Enroll(config, train), test);
        var single = TestData.StreamWithOracle(MachineModel.Enroll(config with { EmbeddingPrecision = EmbeddingPrecision.Fp32 }, train), test);
        var anomalous = test.Select(c => c.IsAnomaly).ToArray();
        double aucHalf = DetectionMetrics.Auc(half.Select(o => o.Score).ToArray(), anomalous);
        double aucSingle = DetectionMetrics.Auc(single.Select(o => o.Score).ToArray(), anomalous);
        Assert.InRange(aucSingle, 0.6, 1.0); // a stream the machine can tell apart at all
        Assert.Equal(aucSingle, aucHalf, 0.005);
        Assert.True(half.Zip(single).Count(p => p.First.LabelRequested == p.Second.LabelRequested) >= 0.95 * test.Count,
            "fp16 rounding should change few query decisions");
    }

    [Fact]
    public void A_state_with_a_non_finite_fp16_value_is_refused()
    {
        var (train, _) = TestData.Machine(seed: 34);
        var bytes = MachineModel.Enroll(MachineConfig.Default, train).Serialize();
        // N's first row as stored, found in the state, its first element made NaN (0x7E00).
        int at = bytes.AsSpan().IndexOf(MachineModel.Deserialize(bytes).ReferenceSet.StoredBytes[..16]);
        Assert.True(at > 0);
        bytes[at] = 0x00; bytes[at + 1] = 0x7E;
        var e = Assert.Throws<InvalidDataException>(() => MachineModel.Deserialize(bytes));
        Assert.Contains("non-finite", e.Message);
    }
}
