using System.Globalization;
using StackExchange.Redis;

namespace AsdOrleans.Silo;

/// <summary>
/// Tells a Redis that went back in time from one that kept its data: restored from an older backup (an RDB or AOF copy)
/// or failed over to a replica that lagged. Such a Redis keeps the store marker (<see cref="RedisStoreIdentity"/>), so
/// only a count shows it: the store clock (<c>&lt;service id&gt;/store-clock</c>, a hash of <c>tick</c> and <c>at</c>),
/// which every silo's store watch advances by one at each look (<see cref="RedisStoreWatch.Period"/>) and remembers, in
/// memory and in the data directory (<see cref="FileName"/>, with the store's marker). Redis only counts up, so a clock
/// below what a silo or the data directory saw is an older copy. The look is one Lua script (atomic, and within the ACL
/// user's documented rights): it advances only a clock that is not behind, so the silos' own ticks never carry an older
/// copy's clock past what they remember; and the first silo to find it behind records that in Redis
/// (<c>&lt;service id&gt;/store-rewound</c>), so every silo reports it from then on, also one without a memory of its own,
/// until Redis is restored from the newer data (which lacks the record) or the loss is accepted
/// (<see cref="RedisStoreIdentity.AcceptAsync"/>: the store is marked anew with the record's id and the record deleted).
/// docs/decisions.md, "a Redis restored from an older copy is noticed".
/// </summary>
public static class RedisStoreClock
{
    public static RedisKey ClockKey(string serviceId) => $"{serviceId}/store-clock";
    public static RedisKey RewoundKey(string serviceId) => $"{serviceId}/store-rewound";

    /// <summary>Beside the marker's file, one per service id: "&lt;store&gt; &lt;tick&gt; &lt;at&gt;" (a file of its own, so that a silo
    /// from before stop 57 still reads the marker's file as it was).</summary>
    public static string FileName(string serviceId) => Path.ChangeExtension(RedisStoreIdentity.FileName(serviceId), ".clock");

    /// <summary>Store <paramref name="Store"/>'s clock at <paramref name="Tick"/>, advanced at <paramref name="At"/> (null: never).</summary>
    public sealed record Reading(string Store, long Tick, DateTimeOffset? At);

    /// <summary>What the caller remembers (<paramref name="Seen"/>, this silo's memory) and whether this look advances the clock
    /// (the watch's and the start-up check's looks do; an acceptance only reads).</summary>
    public sealed record Look(Reading? Seen, bool Advance);

    /// <summary>
    /// Redis found behind, as the first silo that saw it recorded it in Redis: its clock read <paramref name="Found"/>
    /// (last advanced at <paramref name="FoundAt"/>), while <paramref name="Where"/> remembered <paramref name="Remembered"/>
    /// (advanced at <paramref name="RememberedAt"/>). <paramref name="Id"/> becomes the store's marker if the loss is accepted.
    /// </summary>
    public sealed record Rewind(string Id, string Store, long Found, DateTimeOffset? FoundAt, long Remembered, DateTimeOffset? RememberedAt,
        string Where, DateTimeOffset SeenAt, string Silo)
    {
        /// <summary>How far back, as far as the two clocks' times tell.</summary>
        public string HowFarBack => FoundAt is { } found && RememberedAt is { } remembered && remembered > found
            ? $"about {Duration(remembered - found)} ({Remembered - Found} ticks of the silos' store watches)"
            : $"{Remembered - Found} ticks of the silos' store watches";
    }

    /// <summary>
    /// Judges store <paramref name="verdict"/>.Marker's clock (a store whose marker <see cref="RedisStoreIdentity.JudgeAsync"/>
    /// found to be the cluster's): the verdict with the clock now known, or with the problem of an older copy.
    /// <paramref name="onVolume"/> was read from <paramref name="file"/> before Redis's marker: a tick read there was Redis's
    /// before it was the file's, so another silo's tick between the two reads is never taken for a clock behind.
    /// </summary>
    internal static async Task<RedisStoreIdentity.Verdict> JudgeAsync(IDatabase db, string endpoint, string serviceId, string file,
        RedisStoreIdentity.Verdict verdict, Reading? onVolume, Look look)
    {
        string store = verdict.Marker!;
        Reading? volume = onVolume?.Store == store ? onVolume : null, seen = look.Seen?.Store == store ? look.Seen : null;
        var (remembered, where) = (seen?.Tick ?? 0) > (volume?.Tick ?? 0) ? (seen, "this silo") : (volume, $"the data directory ({file})");
        var result = (RedisResult[])(await db.ScriptEvaluateAsync(Script, [ClockKey(serviceId), RewoundKey(serviceId)],
        [
            store, remembered?.Tick ?? 0, Time(remembered?.At), Time(DateTimeOffset.UtcNow), Environment.MachineName,
            Guid.NewGuid().ToString("N"), where, look.Advance ? 1 : 0,
        ]).ConfigureAwait(false))!;
        if ((string?)result[0] == "rewound")
        {
            var rewind = Parse((RedisResult[])result[1]!);
            return verdict with { Problem = Problem(endpoint, serviceId, rewind), Remembered = store, Rewound = rewind };
        }
        var clock = new Reading(store, long.Parse((string)result[1]!, NumberStyles.None, CultureInfo.InvariantCulture), ParseTime((string?)result[2]));
        if (clock.Tick > (onVolume?.Store == store ? onVolume.Tick : 0))
            RedisStoreIdentity.WriteFile(file, $"{clock.Store} {clock.Tick} {Time(clock.At)}");
        return verdict with { Clock = clock };
    }

    /// <summary>
    /// KEYS: the clock, the record of an older copy. ARGV: the store's marker, the tick and time remembered, now, this
    /// silo, an id for a new record, where the tick was remembered, 1 to advance. Returns {"rewound", record} or
    /// {"clock", tick, at}. Behind is strictly below: every tick remembered was Redis's, and Redis only counts up.
    /// </summary>
    private const string Script = """
        if redis.call('HGET', KEYS[2], 'store') == ARGV[1] then
          return {'rewound', redis.call('HGETALL', KEYS[2])}
        end
        local tick = tonumber(redis.call('HGET', KEYS[1], 'tick') or '0')
        local at = redis.call('HGET', KEYS[1], 'at') or ''
        if tick < tonumber(ARGV[2]) then
          redis.call('DEL', KEYS[2])
          redis.call('HSET', KEYS[2], 'id', ARGV[6], 'store', ARGV[1], 'found', tostring(tick), 'foundAt', at,
            'remembered', ARGV[2], 'rememberedAt', ARGV[3], 'where', ARGV[7], 'seenAt', ARGV[4], 'silo', ARGV[5])
          return {'rewound', redis.call('HGETALL', KEYS[2])}
        end
        if ARGV[8] == '1' then
          tick = redis.call('HINCRBY', KEYS[1], 'tick', 1)
          redis.call('HSET', KEYS[1], 'at', ARGV[4])
          at = ARGV[4]
        end
        return {'clock', tostring(tick), at}
        """;

    /// <summary>
    /// The acceptance of an older copy: the store is marked anew with the record's id (only if Redis still holds
    /// <paramref name="lost"/>; two silos accepting the same copy set the same marker) and the record deleted. Returns
    /// Redis's marker after it: the record's id, or another where the store changed meanwhile (nothing was done then).
    /// </summary>
    internal static async Task<string?> MarkAnewAsync(IDatabase db, string serviceId, string lost, Rewind rewind)
        => (string?)await db.ScriptEvaluateAsync("""
            if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('HGET', KEYS[2], 'id') == ARGV[2] then
              redis.call('SET', KEYS[1], ARGV[2])
              redis.call('DEL', KEYS[2])
            end
            return redis.call('GET', KEYS[1])
            """, [RedisStoreIdentity.MarkerKey(serviceId), RewoundKey(serviceId)], [lost, rewind.Id]).ConfigureAwait(false);

    /// <summary>What /readyz and the log say: worded as the full loss is (<see cref="RedisStoreIdentity"/>), naming the older copy.</summary>
    private static string Problem(string endpoint, string serviceId, Rewind r)
        => $"Redis at '{endpoint}' holds an older copy of the cluster's stored state (store {r.Store} of service '{serviceId}'): "
           + $"its store clock ('{ClockKey(serviceId)}') reads {r.Found}"
           + (r.FoundAt is { } found ? $", last advanced {found:yyyy-MM-dd HH:mm:ss}Z" : ", never advanced (a copy from before the silos kept one)")
           + $", while {r.Where} saw it at {r.Remembered}{(r.RememberedAt is { } at ? $", advanced {at:yyyy-MM-dd HH:mm:ss}Z" : "")} "
           + $"(found by {r.Silo} at {r.SeenAt:yyyy-MM-dd HH:mm:ss}Z): Redis went back {r.HowFarBack}. It was restored from an older backup "
           + "(an RDB or AOF copy) or failed over to a replica that lagged: every label, enrollment, setting and budget change acknowledged "
           + "after that copy was taken is gone from it, and grains active through it hold newer state than it. "
           + RedisStoreIdentity.Choices(r.Store, $"restores Redis from a copy that has the newer data (the silos go on by themselves once its store clock is back at {r.Remembered} or later)",
               "gives up what the older copy lacks, marks the store anew and records the loss");

    private static Rewind Parse(RedisResult[] fields)
    {
        var f = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i + 1 < fields.Length; i += 2) f[(string)fields[i]!] = (string?)fields[i + 1] ?? "";
        string Field(string name) => f.TryGetValue(name, out var value) ? value : "";
        long Tick(string name) => long.TryParse(Field(name), NumberStyles.None, CultureInfo.InvariantCulture, out long tick) ? tick : 0;
        return new Rewind(Field("id"), Field("store"), Tick("found"), ParseTime(Field("foundAt")), Tick("remembered"), ParseTime(Field("rememberedAt")),
            Field("where"), ParseTime(Field("seenAt")) ?? DateTimeOffset.UtcNow, Field("silo"));
    }

    /// <summary>The file's reading (<see cref="FileName"/>); null where it is absent, unreadable or not one.</summary>
    internal static Reading? ReadFile(string file)
    {
        var parts = RedisStartupChecks.ReadVolumeFile(file)?.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts is { Length: >= 2 } && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long tick)
            ? new Reading(parts[0], tick, parts.Length > 2 ? ParseTime(parts[2]) : null)
            : null;
    }

    private static string Time(DateTimeOffset? at) => at?.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture) ?? "";

    private static DateTimeOffset? ParseTime(string? text)
        => DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var at) ? at : null;

    private static string Duration(TimeSpan d)
        => d.TotalHours >= 1 ? $"{(int)d.TotalHours} h {d.Minutes} min" : d.TotalMinutes >= 1 ? $"{(int)d.TotalMinutes} min {d.Seconds} s" : $"{(int)Math.Round(d.TotalSeconds)} s";
}
