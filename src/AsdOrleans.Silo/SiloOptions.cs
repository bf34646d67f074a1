namespace AsdOrleans.Silo;

/// <summary>Configuration of a silo host (section "Asd"; environment variables Asd__ApiKeys__Device__0 etc.).</summary>
public sealed class SiloOptions
{
    public const string Section = "Asd";

    /// <summary>Where grain state and queried clips' audio live in the embedded default.</summary>
    public string DataDirectory { get; set; } = "asd-data";
    /// <summary>
    /// What the encoder role embeds with: "model" (the trained model at <see cref="ModelPath"/>), "baseline" (the
    /// training-free log-mel statistics, no model; machines standardise them on their enrollment clips) or "spectral"
    /// (log-mel mean, std, maximum and smoothed maximum, and envelope-modulation peaks; machines whiten them on their
    /// enrollment clips).
    /// </summary>
    public string Embedder { get; set; } = AsdOrleans.EncoderGrains.EncoderServiceOptions.ModelEmbedder;
    /// <summary>Encoder model file; empty on silos without the encoder role and on baseline silos.</summary>
    public string ModelPath { get; set; } = "";
    public string Device { get; set; } = "auto";
    /// <summary>
    /// Encoder number format: fp32 (the default: the same embeddings as `asd embed` and experiments), fp32-folded, bf16,
    /// or auto (bf16 where the CPU computes it natively, else fp32).
    /// </summary>
    public string EncoderPrecision { get; set; } = "fp32";
    /// <summary>What this silo hosts: "encoder" (encoder workers; needs the model), "machines" (machine grains), or both.</summary>
    public string Roles { get; set; } = AsdOrleans.Grains.Placement.SiloRoles.All;
    /// <summary>Most clips the encoder's batcher gathers into one call of the model (1 turns batching off).</summary>
    public int EncoderMaxBatchSize { get; set; } = 16;
    public ApiKeyOptions ApiKeys { get; set; } = new();
    /// <summary>Redis connection string: when set, the silo joins a cluster with Redis membership and grain state;
    /// otherwise it runs the embedded default (localhost clustering, SQLite).</summary>
    public string? Redis { get; set; }
    /// <summary>Refuse to start against a Redis that does not fsync its append-only file on every write (cluster mode).</summary>
    public bool RequireDurableRedis { get; set; } = true;
    public string ClusterId { get; set; } = "asd";
    public string ServiceId { get; set; } = "asd-orleans";
    /// <summary>Orleans ports of this silo.</summary>
    public int SiloPort { get; set; } = 11111;
    public int GatewayPort { get; set; } = 30000;
    /// <summary>Where other silos of a cluster reach this one: an IP address or a host name (in containers the
    /// pod IP or the container's host name). Empty: 127.0.0.1, for silos on one host.</summary>
    public string AdvertisedAddress { get; set; } = "";
    /// <summary>
    /// Orleans' activation rebalancer (experimental in Orleans 10, ORLEANSEXP002): migrates activations between silos so
    /// that counts and memory even out, e.g. after a silo joins. Off by default; tuned under Asd:Rebalancer
    /// (ActivationRebalancerOptions: RebalancerDueTime, SessionCyclePeriod, ActivationMigrationCountLimit, by default
    /// <see cref="DefaultMigrationsPerRebalancerCycle"/> here …). docs/decisions.md, issue 13.
    /// </summary>
    public bool ActivationRebalancer { get; set; }
    /// <summary>Machines the rebalancer may move per cycle unless Asd:Rebalancer:ActivationMigrationCountLimit says otherwise.</summary>
    public const int DefaultMigrationsPerRebalancerCycle = 300;
    /// <summary>
    /// Redis clusters: seconds without a silo joining or leaving, after a silo joined (any roles: the rounds plan over the
    /// machines-role silos only), before the oldest silo spreads machines onto it (rounds of `asd cluster spread` at its defaults until even; <see cref="SpreadOnJoin"/>).
    /// 0 turns it off: a silo that joined then holds only machines activated after it joined, until an operator spreads.
    /// Off where <see cref="ActivationRebalancer"/> is on (that moves machines instead).
    /// </summary>
    public double SpreadOnJoinSeconds { get; set; } = DefaultSpreadOnJoinSeconds;
    public const double DefaultSpreadOnJoinSeconds = 60;
    /// <summary>
    /// Redis clusters: whether a stopping silo hands its machines over while it is still active (<see cref="MachineHandover"/>).
    /// Off, a machine called through another silo during the stop may be activated there before its old activation wrote
    /// its last clips, which are then lost: for measuring that (`asd bench cluster --stop-silo`), not for production.
    /// </summary>
    public bool HandOverOnStop { get; set; } = true;
    /// <summary>
    /// Redis clusters: whether machines and alert shards write before they answer while a silo leaves
    /// (<see cref="WriteThroughOnLeave"/>). Off, clips acknowledged in the last 5 s by a machine whose directory entry
    /// the leaving silo kept can be lost when another silo activates it a second time: for measuring that, not for production.
    /// </summary>
    public bool WriteThroughOnLeave { get; set; } = true;
    /// <summary>
    /// Redis clusters: Orleans' grain directory, <c>local</c> (its default, a hash ring over the active silos) or
    /// <c>distributed</c> (Orleans' distributed directory, experimental in 10.4: it hands a leaving silo's entries over
    /// instead of dropping them, so a silo that stops ends no machine on the others). Use the same one on every silo and
    /// switch with a stop of the whole cluster (Orleans' compatibility for a mixed cluster was not tried here).
    /// </summary>
    public string GrainDirectory { get; set; } = "local";
    /// <summary>Whether this silo spreads machines by itself after a join: in a Redis cluster, with
    /// <see cref="SpreadOnJoinSeconds"/> above 0 and the rebalancer off.</summary>
    public bool SpreadsOnJoin => !string.IsNullOrWhiteSpace(Redis) && SpreadOnJoinSeconds > 0 && !ActivationRebalancer;
    /// <summary>
    /// Minutes without a call after which a machine grain (and its score-history grain) is deactivated (its state is on storage; the next clip
    /// reactivates it). Resident memory is then bounded by the machines active in that window, not by every enrolled
    /// machine: a plant of 100,000 machines each sending a clip every 10 minutes keeps about a third of them resident
    /// at 3 minutes. Orleans' own default is 2 hours. docs/decisions.md, issue 13.
    /// </summary>
    public double MachineIdleMinutes { get; set; } = 10;
    /// <summary>Largest accepted clip upload.</summary>
    public long MaxClipBytes { get; set; } = 16L << 20;
    /// <summary>
    /// The audio of each machine's newest N alerts (clips pushed over HTTP) is kept so that a person can hear what was
    /// flagged, in DataDirectory/alert-clips; an older alert's goes when a newer one comes. At most N clips per machine
    /// (10 clips of 10 s at 16 kHz: 3.2 MB). 0 keeps none (only queried clips' audio, until labelled).
    /// </summary>
    public int AlertAudioPerMachine { get; set; } = 10;
    /// <summary>
    /// The audio of each machine's newest N clips labelled normal is kept as examples of how it sounds, for labellers to
    /// compare a clip with (DataDirectory/normal-clips; `GET /api/machines/{id}/normal-examples`). 0 keeps none.
    /// </summary>
    public int NormalExamplesPerMachine { get; set; } = 3;
    /// <summary>
    /// The audio of each machine's newest N labelled clips is kept (DataDirectory/labelled-clips), so a re-enrollment
    /// with a new encoder or embedder can embed them again and keep the labels (`keepLabels`). A label is a person's time:
    /// N = 500 is at most 160 MB of 10 s clips per machine, and only for a machine with 500 answers. Anomalous labels keep
    /// at least half of N (rounded up, as many as there are) however many normals come, and more while normals leave
    /// room; normals are pruned first. 0 keeps none (a
    /// re-enrollment then carries no labels).
    /// </summary>
    public int LabelledAudioPerMachine { get; set; } = 500;
    /// <summary>Largest JSON enrollment (embeddings): 1,000 clips × 256 dimensions as JSON is about 3 MB.</summary>
    public long MaxEnrollmentJsonBytes { get; set; } = 32L << 20;
    /// <summary>Largest multipart enrollment from training audio (a DCASE machine: 1,000 clips × 10 s ≈ 320 MB).</summary>
    public long MaxEnrollmentAudioBytes { get; set; } = 1L << 30;
    /// <summary>
    /// Clip uploads and audio enrollments this silo decodes and embeds at once (<see cref="ClipWorkLimit"/>); more wait in
    /// a queue of <see cref="QueuedClips"/>, and beyond that are refused 503 with Retry-After before their body is read.
    /// Default 4 per core, at least 8 (8 on 2 cores: the encoder's batches fill; more only slowed every clip together).
    /// </summary>
    public int MaxConcurrentClips { get; set; } = ClipWorkLimit.DefaultMaxConcurrent;
    /// <summary>Requests that wait for <see cref="MaxConcurrentClips"/> (oldest first) before the silo refuses more; 0 refuses
    /// at once. Default 8 per core, at least 16.</summary>
    public int QueuedClips { get; set; } = ClipWorkLimit.DefaultQueued;
    /// <summary>
    /// Event streams (<c>GET /api/events</c>: consoles, <c>asd alerts --follow</c>) this silo holds open at once
    /// (<see cref="EventStreamLimit"/>); more are refused 503 with Retry-After, and the client tries again. Default 1,000:
    /// a plant's tens to hundreds of labellers, each with a console or two, on one silo; each stream holds a connection
    /// and at most <see cref="ConsoleEventHub.ListenerBacklog"/> queued events and Kestrel's 64 KB response buffer.
    /// </summary>
    public int MaxEventStreams { get; set; } = EventStreamLimit.DefaultMaxEventStreams;
    /// <summary>Of those, the most one person's own labeller key (<see cref="ApiKeyOptions.Labellers"/>) holds open on
    /// this silo; more are refused 429. Shared keys are many people's and have only the silo's limit. Default 10.</summary>
    public int MaxEventStreamsPerLabeller { get; set; } = EventStreamLimit.DefaultMaxEventStreamsPerLabeller;
    /// <summary>Seconds that data the silo sent over HTTP may go unacknowledged before the connection is closed
    /// (<see cref="DeadClientTimeout"/>: a vanished client gives back its connection and event-stream place within this
    /// and one keep-alive, instead of the kernel's ~15 minutes); 0 keeps the kernel's default. Linux only. Default 60.</summary>
    public int DeadClientSeconds { get; set; } = DeadClientTimeout.DefaultSeconds;
}

/// <summary>API keys per role; a key grants its role only (operators also pass labeller checks).</summary>
public sealed class ApiKeyOptions
{
    public List<string> Device { get; set; } = [];
    /// <summary>Labeller keys shared by whoever holds them: the name recorded with an answer is the one the labeller gives.</summary>
    public List<string> Labeller { get; set; } = [];
    public List<string> Operator { get; set; } = [];
    /// <summary>Labeller keys of one person each, by name (<c>Asd__ApiKeys__Labellers__grace=KEY</c>): an answer made
    /// with one is recorded under that name, and the key cannot answer under another.</summary>
    public Dictionary<string, string> Labellers { get; set; } = new(StringComparer.Ordinal);
    /// <summary>Device keys of one gateway each, by name, each for the machines it serves
    /// (<c>Asd__ApiKeys__Gateways__line3__Key=KEY</c>, <c>Asd__ApiKeys__Gateways__line3__Machines__0=line3-*</c>): such a
    /// key sends clips for those machines only, so a key taken from one gateway cannot feed the rest of the plant.</summary>
    public Dictionary<string, GatewayKeyOptions> Gateways { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Every key configured, of any role.</summary>
    public IEnumerable<string> AllKeys => Device.Concat(Labeller).Concat(Operator).Concat(Labellers.Values).Concat(Gateways.Values.Select(g => g.Key));

    /// <summary>What is wrong with the keys as configured, or null: a named key needs a valid name and a key of its own.</summary>
    public string? Problem()
    {
        foreach (var (role, keys) in new[] { ("Device", Device), ("Labeller", Labeller), ("Operator", Operator) })
        {
            if (keys.FindIndex(string.IsNullOrWhiteSpace) is var empty and >= 0)
                return $"Asd:ApiKeys:{role}:{empty} is empty (a key nobody can send: give it a value or leave it out)";
            if (keys.FindIndex(IsPlaceholder) is var placeholder and >= 0)
                return $"Asd:ApiKeys:{role}:{placeholder} is still the example's placeholder ('{keys[placeholder]}'): replace it with a secret of your own";
        }
        var roleKeys = Device.Concat(Labeller).Concat(Operator).ToHashSet(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, key) in Labellers)
        {
            if (!AsdOrleans.Method.Vocabulary.Identifiers.IsValidLabellerName(name))
                return $"Asd:ApiKeys:Labellers: {AsdOrleans.Method.Vocabulary.Identifiers.InvalidLabellerName(name)}";
            if (string.IsNullOrEmpty(key))
                return $"Asd:ApiKeys:Labellers:{name} has an empty key";
            if (IsPlaceholder(key))
                return $"Asd:ApiKeys:Labellers:{name} is still the example's placeholder ('{key}'): replace it with a secret of your own";
            if (roleKeys.Contains(key) || !seen.Add(key))
                return $"Asd:ApiKeys:Labellers:{name}: its key is also another key (each person's key must be theirs alone)";
        }
        foreach (var (name, gateway) in Gateways)
        {
            string at = $"Asd:ApiKeys:Gateways:{name}";
            if (!AsdOrleans.Method.Vocabulary.Identifiers.IsValidLabellerName(name))
                return $"{at}: '{name}' is not a valid gateway name (letters, digits, '.', '_', '-', '@'; at most 64 characters)";
            if (string.IsNullOrWhiteSpace(gateway.Key))
                return $"{at}:Key is empty (a gateway's key is its own secret)";
            if (IsPlaceholder(gateway.Key))
                return $"{at}:Key is still the example's placeholder ('{gateway.Key}'): replace it with a secret of your own";
            if (roleKeys.Contains(gateway.Key) || !seen.Add(gateway.Key))
                return $"{at}: its key is also another key (each gateway's key must be its own, or it could send for the other's machines)";
            if (gateway.Machines.Count == 0)
                return $"{at}:Machines lists no machines (a machine id, or a prefix ending in '*', such as line3-*)";
            if (gateway.Machines.FirstOrDefault(p => !GatewayKeyOptions.IsValidPattern(p)) is { } bad)
                return $"{at}:Machines: '{bad}' is neither a machine id nor a prefix of one ending in '*' (such as line3-*)";
        }
        return null;
    }

    /// <summary>The values deploy/asd.env.example ships ("replace-with-…"): a copy started as it is would be open to
    /// anyone who read the example.</summary>
    public static bool IsPlaceholder(string key) => key.StartsWith("replace-with-", StringComparison.OrdinalIgnoreCase);
}

/// <summary>A gateway's device key and the machines it sends clips for: machine ids, or prefixes ending in '*'.</summary>
public sealed class GatewayKeyOptions
{
    public string Key { get; set; } = "";
    public List<string> Machines { get; set; } = [];

    public bool Serves(string machineId)
        => Machines.Any(p => p.EndsWith('*') ? machineId.StartsWith(p[..^1], StringComparison.Ordinal) : p == machineId);

    public static bool IsValidPattern(string? pattern)
        => pattern is { Length: > 0 } && (pattern.EndsWith('*')
            ? pattern.Length <= AsdOrleans.Method.Vocabulary.Identifiers.MaxLength
                && pattern[..^1].All(AsdOrleans.Method.Vocabulary.Identifiers.IsIdCharacter)
            : AsdOrleans.Method.Vocabulary.Identifiers.IsValidMachineId(pattern));
}
