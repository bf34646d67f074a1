using System.Buffers.Binary;
using System.Runtime.InteropServices;
using AsdOrleans.Method.Budget;
using AsdOrleans.Method.Randomness;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Method.Machines;

/// <summary>
/// The machine's compact binary state: everything Algorithm 1 needs to continue exactly where it
/// stopped (sets, scores, thresholds, b̂, RNG, strategy state, counters). Little-endian, versioned;
/// a round trip is bit-exact. Derived caches (the QBC committee's subsets) are rebuilt, not stored.
/// </summary>
public sealed partial class MachineModel
{
    private const uint Magic = 0x4D445341; // "ASDM"
    /// <summary>2: scoring and budget manager in the configuration; the scales, budget-manager and strategy sections. 1 is still read.</summary>
    private const ushort UnboundedFormatVersion = 2;
    /// <summary>3: format 2 plus the caps in the configuration and a bounds section after the scales; written only for bounded machines, so unbounded ones stay byte-identical to format 2.</summary>
    private const ushort BoundedFormatVersion = 3;
    /// <summary>4: format 3 plus the embedding precision in the configuration, every set's rows in it; written only for
    /// machines whose sets are not fp32, so fp32 ones stay byte-identical to formats 2 and 3.</summary>
    private const ushort PrecisionFormatVersion = 4;
    /// <summary>5: format 4 plus the count of queries the budget's floor forced, after the other counters; written only for
    /// machines whose count is above 0, so the others stay byte-identical to formats 2–4 (an older build still reads them).</summary>
    private const ushort ForcedQueriesFormatVersion = 5;
    /// <summary>6: format 5 plus a decision section after the scales (each domain's Gamma fit and scale, the target's φ);
    /// written only for machines that keep φ per domain, so the others stay byte-identical to formats 2–5.</summary>
    private const ushort DecisionFormatVersion = 6;
    /// <summary>7: format 6 plus the decision-threshold setting in the configuration, and the decision section behind a
    /// flag (a machine set to one φ keeps its domains' fits, so it can be set back); written only for machines whose setting
    /// differs from what formats 1–6 imply (<see cref="ImpliedDecisionThresholds"/>), so the others stay byte-identical
    /// to formats 2–6.</summary>
    private const ushort FormatVersion = 7;

    /// <summary>The decision-threshold setting that formats before 7 imply: the paper's one φ under Eq. 1–3, else the
    /// default's (per domain, which only the <c>domain</c> scoring acts on).</summary>
    private static DecisionThresholdKind ImpliedDecisionThresholds(ScoringKind scoring)
        => scoring == ScoringKind.Paper ? DecisionThresholdKind.Single : DecisionThresholdKind.PerDomain;

    /// <summary>
    /// The same machine under new parameters: N, A, M, h, counters and the RNG carry over; the budget manager carries its
    /// state over (or, for another kind, takes over b̂); φ is refitted when the decision quantile changed. QBC needs the
    /// labelled-normal pool, which only an enrollment under QBC keeps; a scaled scoring needs its enrollment's scales.
    /// </summary>
    public MachineModel WithConfig(MachineConfig config)
    {
        config.Validate();
        bool needsPool = config.Strategy == QueryStrategyKind.Qbc && !QbcState.DrawsCommitteeFromReferenceSet(config);
        if (needsPool && (StrategyState is not QbcState { DrawsFromReferenceSet: false }))
            throw new ArgumentException("qbc with an unbounded N draws its committee from every labelled normal embedding, which this machine did not keep: re-enroll it under qbc, or keep N capped");
        if (config.Scoring != Config.Scoring)
            throw new ArgumentException($"switching the scoring from {Config.Scoring.ToName()} to {config.Scoring.ToName()} changes every score and threshold: re-enroll the machine under the new scoring");
        var strategyState = config.Strategy != QueryStrategyKind.Qbc ? null
            : StrategyState is QbcState ? StrategyState.Clone(config)
            : QbcState.Create(config, new EmbeddingSet(Dimension, 0, config.EmbeddingPrecision)); // from another strategy: a committee on N, a fresh filter
        var model = new MachineModel(config, ModelVersion, ReferenceSet.ConvertedTo(config.EmbeddingPrecision), AnomalySet.ConvertedTo(config.EmbeddingPrecision), _normalScores.ToList(), _scales.ToList(),
            AsdOrleans.Method.Budget.BudgetManager.Continue(config.BudgetManager, Budget, config.Budget), strategyState)
        {
            LabellingThreshold = LabellingThreshold,
            DecisionThreshold = DecisionThreshold,
            DecisionThresholdTarget = DecisionThresholdTarget,
            _domainThresholds = _domainThresholds,
            ClipsSeen = ClipsSeen,
            Queries = Queries,
            ForcedQueries = ForcedQueries,
            NormalLabels = NormalLabels,
            AnomalousLabels = AnomalousLabels,
        };
        if (config.DecisionQuantile != Config.DecisionQuantile || config.DecisionThresholds != Config.DecisionThresholds)
            model.FitDecisionThresholds(_normalScores, config.DecisionQuantile);
        model._random = _random;
        model.CarryBounds(this);
        return model;
    }

    /// <summary>Scratch buffers of this thread for <see cref="SerializeToScratch"/>; one above this size is not kept.</summary>
    [ThreadStatic] private static MemoryStream? t_scratch;
    [ThreadStatic] private static BinaryWriter? t_scratchWriter;
    private const int ScratchKeptBytes = 1 << 20;
    /// <summary>BinaryWriter's own default: UTF-8 without a preamble that throws on an unpaired surrogate instead of replacing it.</summary>
    private static readonly System.Text.UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public byte[] Serialize() => SerializeToScratch().ToArray();

    /// <summary>
    /// <see cref="Serialize"/>'s bytes in a buffer of this thread that its next call overwrites: a machine's periodic
    /// flush only compares them to its base's digest, and allocating the model's size (30–340 KB) for that on every
    /// flush was most of a busy silo's garbage (docs/benchmarks.md, "Allocations per clip").
    /// </summary>
    public ReadOnlySpan<byte> SerializeToScratch()
    {
        var stream = t_scratch ??= new MemoryStream();
        var w = t_scratchWriter ??= new BinaryWriter(stream, StrictUtf8, leaveOpen: true);
        stream.SetLength(0);
        WriteState(w);
        w.Flush();
        var bytes = stream.GetBuffer().AsSpan(0, (int)stream.Length);
        if (stream.Capacity > ScratchKeptBytes)
            (t_scratch, t_scratchWriter) = (null, null); // a rare large model: its buffer goes with this call
        return bytes;
    }

    private void WriteState(BinaryWriter w)
    {
        ushort version = Config.DecisionThresholds != ImpliedDecisionThresholds(Config.Scoring) ? FormatVersion
            : _domainThresholds is not null ? DecisionFormatVersion
            : ForcedQueries > 0 ? ForcedQueriesFormatVersion
            : Config.EmbeddingPrecision != EmbeddingPrecision.Fp32 ? PrecisionFormatVersion
            : Config.IsBounded ? BoundedFormatVersion : UnboundedFormatVersion;
        w.Write(Magic);
        w.Write(version);
        WriteConfig(w, Config, version);
        w.Write(ModelVersion);
        w.Write(Dimension);
        WriteSet(w, ReferenceSet);
        WriteSet(w, AnomalySet);
        w.Write(_normalScores.Count);
        w.Write(MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(_normalScores)));
        w.Write(LabellingThreshold);
        w.Write(DecisionThreshold);
        w.Write(_random.S0); w.Write(_random.S1); w.Write(_random.S2); w.Write(_random.S3);
        w.Write(ClipsSeen); w.Write(Queries); w.Write(NormalLabels); w.Write(AnomalousLabels);
        if (version >= 5) w.Write(ForcedQueries);
        // Scoring section: the per-reference scales (empty for unscaled scorings).
        w.Write(_scales.Count);
        w.Write(MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(_scales)));
        if (version >= 7)
            w.Write(_domainThresholds is not null);
        if (version >= 6 && _domainThresholds is { } domains)
        {
            // Decision section: each domain's fit and scale (DomainDecisionThresholds), and the target's φ at the quantile.
            w.Write(domains.Source.Mean); w.Write(domains.Source.Variance); w.Write(domains.Target.Mean); w.Write(domains.Target.Variance);
            w.Write(domains.SourceScale); w.Write(domains.TargetScale);
            w.Write(DecisionThresholdTarget ?? domains.Target.Quantile(Config.DecisionQuantile));
        }
        if (version >= 3)
        {
            // Bounds section: row weights of N and A (empty while unbounded), scores offered to M.
            w.Write(_referenceWeights.Count);
            w.Write(MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(_referenceWeights)));
            w.Write(_anomalyWeights.Count);
            w.Write(MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(_anomalyWeights)));
            w.Write(_scoresSeen);
        }
        // Budget-manager section: kind, b̂, then the manager's own fields.
        w.Write((byte)Budget.Kind);
        w.Write(Budget.SpentEstimate);
        Budget.Write(w);
        // Strategy section: kind, then the strategy's own state if it keeps one.
        w.Write((byte)Config.Strategy);
        w.Write(StrategyState is not null);
        StrategyState?.Write(w);
    }

    /// <summary>Restores a machine from <see cref="Serialize"/>'s bytes (this format or format 1).</summary>
    /// <exception cref="InvalidDataException">Truncated, foreign or inconsistent data.</exception>
    public static MachineModel Deserialize(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return Read(new StateReader(bytes));
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"machine state is inconsistent: {e.Message}", e);
        }
    }

    private static MachineModel Read(StateReader r)
    {
        if (r.UInt32() != Magic)
            throw new InvalidDataException("not a machine state (bad magic number)");
        ushort version = r.UInt16();
        if (version is not (1 or UnboundedFormatVersion or BoundedFormatVersion or PrecisionFormatVersion or ForcedQueriesFormatVersion or DecisionFormatVersion or FormatVersion))
            throw new InvalidDataException($"machine state format {version} is not supported (this build reads 1 to {FormatVersion})");
        var config = ReadConfig(ref r, version).Validate();
        string modelVersion = r.String();
        int dimension = r.Int32();
        if (dimension <= 0)
            throw new InvalidDataException($"machine state has dimension {dimension}");
        var reference = ReadSet(ref r, dimension, config.EmbeddingPrecision);
        var anomalies = ReadSet(ref r, dimension, config.EmbeddingPrecision);
        var scores = new List<double>(r.Doubles(r.Count()).ToArray());
        double h = r.Double(), phi = r.Double();
        double spent = version == 1 ? r.Double() : double.NaN; // format 1 kept b̂ here
        var random = new RandomState(r.UInt64(), r.UInt64(), r.UInt64(), r.UInt64());
        long seen = r.Int64(), queries = r.Int64(), normalLabels = r.Int64(), anomalousLabels = r.Int64();
        long forced = version >= 5 ? r.Int64() : 0; // not counted before format 5
        List<float> scales;
        BudgetManager budget;
        StrategyState? strategyState = null;
        List<float> referenceWeights = [], anomalyWeights = [];
        DomainDecisionThresholds? domainThresholds = null;
        double? phiTarget = null;
        long scoresSeen = scores.Count;
        if (version == 1)
        {
            // Format 1: the paper's method (Eq. 1–3, b̂ from 0); QBC's pool and filter in two flagged sections.
            scales = [];
            budget = AsdOrleans.Method.Budget.BudgetManager.Read(BudgetManagerKind.Paper, spent, () => 0);
            EmbeddingSet? pool = r.Bool() ? ReadSet(ref r, dimension, config.EmbeddingPrecision) : null;
            bool hasFilter = r.Bool();
            if (hasFilter != (config.Strategy == QueryStrategyKind.Qbc) || (pool is not null) != hasFilter)
                throw new InvalidDataException("machine state's quantile-filter section does not match its strategy");
            if (hasFilter)
            {
                var utilities = r.Doubles(r.Count()).ToArray();
                strategyState = QbcState.Read(config, pool!, utilities, r.Int64(), r.Int64());
            }
        }
        else
        {
            scales = new List<float>(r.Floats(r.Count()).ToArray());
            if (version == DecisionFormatVersion || (version >= FormatVersion && r.Bool()))
            {
                domainThresholds = new DomainDecisionThresholds(new Enrollment.GammaFit(r.Double(), r.Double()), new Enrollment.GammaFit(r.Double(), r.Double()),
                    r.Float(), r.Float());
                phiTarget = r.Double();
                if (!domainThresholds.IsValid || !double.IsFinite(phiTarget.Value) || config.Scoring != ScoringKind.Domain)
                    throw new InvalidDataException("machine state's decision section is out of range");
                if (config.DecisionThresholds == DecisionThresholdKind.Single)
                    phiTarget = null; // kept for a change back; this machine compares every clip with one φ
            }
            if (version >= 3)
            {
                referenceWeights = new List<float>(r.Floats(r.Count()).ToArray());
                anomalyWeights = new List<float>(r.Floats(r.Count()).ToArray());
                scoresSeen = r.Int64();
                if (referenceWeights.Count != (config.ReferenceCap > 0 ? reference.Count : 0)
                    || anomalyWeights.Count != (config.AnomalyCap > 0 ? anomalies.Count : 0)
                    || scoresSeen < scores.Count || (config.ScoreCap > 0 && scores.Count > config.ScoreCap)
                    || referenceWeights.Concat(anomalyWeights).Any(v => !(v >= 1 && float.IsFinite(v))))
                    throw new InvalidDataException("machine state's bounds section does not match its sets");
            }
            var kind = (BudgetManagerKind)r.Byte();
            if (kind != config.BudgetManager)
                throw new InvalidDataException("machine state's budget section does not match its configuration");
            spent = r.Double();
            var reader = r; // the lambda cannot capture a ref struct; read the manager's field here
            double field = kind == BudgetManagerKind.Paced ? reader.Double() : 0;
            r = reader;
            budget = AsdOrleans.Method.Budget.BudgetManager.Read(kind, spent, () => field);
            if ((QueryStrategyKind)r.Byte() != config.Strategy)
                throw new InvalidDataException("machine state's strategy section does not match its configuration");
            bool hasState = r.Bool();
            if (hasState != (config.Strategy == QueryStrategyKind.Qbc))
                throw new InvalidDataException("machine state's strategy section does not match its strategy");
            if (hasState)
            {
                var pool = ReadSet(ref r, dimension, config.EmbeddingPrecision);
                var utilities = r.Doubles(r.Count()).ToArray();
                strategyState = QbcState.Read(config, pool, utilities, r.Int64(), r.Int64());
            }
        }
        if (!r.AtEnd)
            throw new InvalidDataException("machine state has trailing bytes");
        if (reference.Count == 0 || seen < 0 || queries < 0 || queries > seen || forced < 0 || forced > queries || !double.IsFinite(h) || !double.IsFinite(phi) || !(spent >= 0 && spent <= 1)
            || budget is PacedBudget { Tokens: < 0 or > PacedBudget.Capacity or double.NaN } || scales.Any(v => !(v > 0 && float.IsFinite(v))))
            throw new InvalidDataException("machine state has out-of-range values");
        var model = new MachineModel(config, modelVersion, reference, anomalies, scores, scales, budget, strategyState)
        {
            LabellingThreshold = h,
            DecisionThreshold = phi,
            DecisionThresholdTarget = phiTarget,
            _domainThresholds = domainThresholds,
            ClipsSeen = seen,
            Queries = queries,
            ForcedQueries = forced,
            NormalLabels = normalLabels,
            AnomalousLabels = anomalousLabels,
        };
        model._random = random;
        model._referenceWeights = referenceWeights;
        model._anomalyWeights = anomalyWeights;
        model._scoresSeen = scoresSeen;
        return model;
    }

    private static void WriteConfig(BinaryWriter w, MachineConfig c, ushort version)
    {
        w.Write((byte)c.Strategy);
        w.Write(c.Budget); w.Write(c.Gamma); w.Write(c.Alpha); w.Write(c.BudgetWindow); w.Write(c.RandomShare);
        w.Write(c.CommitteeSize); w.Write(c.CommitteeSubsetFraction); w.Write(c.UtilityWindow); w.Write(c.ToleranceWindow);
        w.Write(c.SourceClusters); w.Write(c.LabellingQuantile); w.Write(c.DecisionQuantile); w.Write(c.Seed);
        w.Write((byte)c.Scoring); w.Write((byte)c.BudgetManager);
        if (version >= 3) { w.Write(c.ReferenceCap); w.Write(c.AnomalyCap); w.Write(c.ScoreCap); }
        if (version >= 4) w.Write((byte)c.EmbeddingPrecision);
        if (version >= 7) w.Write((byte)c.DecisionThresholds);
    }

    private static MachineConfig ReadConfig(ref StateReader r, ushort version)
    {
        var config = new MachineConfig
        {
            Strategy = (QueryStrategyKind)r.Byte(),
            Budget = r.Double(), Gamma = r.Double(), Alpha = r.Double(), BudgetWindow = r.Int32(), RandomShare = r.Double(),
            CommitteeSize = r.Int32(), CommitteeSubsetFraction = r.Double(), UtilityWindow = r.Int32(), ToleranceWindow = r.Int32(),
            SourceClusters = r.Int32(), LabellingQuantile = r.Double(), DecisionQuantile = r.Double(), Seed = r.UInt64(),
        };
        // Format 1 machines ran the paper's method; formats 1 and 2 had no caps (N, A, M unbounded).
        config = version == 1
            ? config with { Scoring = ScoringKind.Paper, BudgetManager = BudgetManagerKind.Paper }
            : config with { Scoring = (ScoringKind)r.Byte(), BudgetManager = (BudgetManagerKind)r.Byte() };
        config = version >= 3
            ? config with { ReferenceCap = r.Int32(), AnomalyCap = r.Int32(), ScoreCap = r.Int32() }
            : config with { ReferenceCap = 0, AnomalyCap = 0, ScoreCap = 0 };
        // Formats 1 to 3 stored every set in fp32.
        config = config with { EmbeddingPrecision = version >= 4 ? (EmbeddingPrecision)r.Byte() : EmbeddingPrecision.Fp32 };
        return config with { DecisionThresholds = version >= 7 ? (DecisionThresholdKind)r.Byte() : ImpliedDecisionThresholds(config.Scoring) };
    }

    internal static void WriteSet(BinaryWriter w, EmbeddingSet set)
    {
        w.Write(set.Count);
        w.Write(set.StoredBytes);
    }

    private static EmbeddingSet ReadSet(ref StateReader r, int dimension, EmbeddingPrecision precision)
    {
        int count = r.Count();
        if (precision == EmbeddingPrecision.Fp16)
        {
            var halves = r.Halves(checked(count * dimension));
            foreach (var v in halves)
                if (!Half.IsFinite(v)) throw new InvalidDataException("machine state holds a non-finite embedding value");
            return EmbeddingSet.FromValues(dimension, halves);
        }
        var values = r.Floats(checked(count * dimension));
        foreach (var v in values)
            if (!float.IsFinite(v)) throw new InvalidDataException("machine state holds a non-finite embedding value");
        return EmbeddingSet.FromValues(dimension, values);
    }

    /// <summary>Bounds-checked little-endian reader over the state bytes.</summary>
    private ref struct StateReader(ReadOnlySpan<byte> bytes)
    {
        private ReadOnlySpan<byte> _rest = bytes;

        public readonly bool AtEnd => _rest.IsEmpty;

        private ReadOnlySpan<byte> Take(int length)
        {
            if (length < 0 || length > _rest.Length)
                throw new InvalidDataException("machine state is truncated");
            var slice = _rest[..length];
            _rest = _rest[length..];
            return slice;
        }

        public byte Byte() => Take(1)[0];
        public bool Bool() => Byte() switch { 0 => false, 1 => true, var b => throw new InvalidDataException($"machine state has flag byte {b}") };
        public ushort UInt16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));
        public uint UInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
        public int Int32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));
        public long Int64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));
        public ulong UInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
        public double Double() => BinaryPrimitives.ReadDoubleLittleEndian(Take(8));
        public float Float() => BinaryPrimitives.ReadSingleLittleEndian(Take(4));

        public int Count()
        {
            int count = Int32();
            if (count < 0) throw new InvalidDataException($"machine state has a negative count {count}");
            return count;
        }

        public ReadOnlySpan<float> Floats(int count) => MemoryMarshal.Cast<byte, float>(Take(checked(count * 4)));
        public ReadOnlySpan<Half> Halves(int count) => MemoryMarshal.Cast<byte, Half>(Take(checked(count * 2)));
        public ReadOnlySpan<double> Doubles(int count) => MemoryMarshal.Cast<byte, double>(Take(checked(count * 8)));

        public string String()
        {
            // BinaryWriter.Write(string) prefixes a 7-bit-encoded length.
            int length = 0, shift = 0;
            byte b;
            do
            {
                if (shift > 28) throw new InvalidDataException("machine state has a malformed string length");
                b = Byte();
                length |= (b & 0x7F) << shift;
                shift += 7;
            } while ((b & 0x80) != 0);
            return System.Text.Encoding.UTF8.GetString(Take(length));
        }
    }
}
