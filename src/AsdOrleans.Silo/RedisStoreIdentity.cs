using System.Text.Json;
using System.Text.RegularExpressions;
using StackExchange.Redis;

namespace AsdOrleans.Silo;

/// <summary>
/// Tells a Redis that lost the cluster's data from a new one. A cluster's store is named by a GUID, the store marker, kept
/// in Redis (<c>&lt;service id&gt;/store-id</c>) and in the data directory (<see cref="FileName"/>; the volume the cluster's
/// silos share), which survives Redis. Redis without the marker while the data directory remembers one lost its data
/// (restarted without its append-only file, flushed, or replaced by an empty Redis): machines would look new and every
/// acknowledged label be gone without a word. Neither side marked is a fresh cluster (or one from before the marker):
/// it is marked and starts. Redis marked and the directory not is a new or non-shared directory: it takes Redis's
/// marker. A failover or restart that kept the data keeps the marker, so it is never taken for a loss.
/// An operator who cannot restore Redis accepts the loss (<see cref="AcceptAsync"/>): the store is marked anew and the
/// loss recorded in Redis (<c>&lt;service id&gt;/store-losses</c>) and in the data directory (<see cref="LossLog"/>);
/// a silo remembering the lost marker follows the record rather than taking the new one for another cluster's.
/// A Redis that kept the marker but went back to an older copy is told by the store clock (<see cref="RedisStoreClock"/>),
/// judged in the same look and reported and accepted the same way.
/// docs/decisions.md, "a Redis that lost its data is noticed", "a Redis restored from an older copy is noticed".
/// </summary>
public static partial class RedisStoreIdentity
{
    public static RedisKey MarkerKey(string serviceId) => $"{serviceId}/store-id";
    public static RedisKey LossesKey(string serviceId) => $"{serviceId}/store-losses";

    /// <summary>One file per service id: a data directory shared by two services (or a service id changed) must not take
    /// one's new store for the other's loss.</summary>
    public static string FileName(string serviceId) => $"redis-store.{UnsafeFileCharacters().Replace(serviceId, "_")}.id";

    /// <summary>The accepted losses, one line each, in the data directory: Redis's record goes when Redis loses its data again.</summary>
    public const string LossLog = "redis-store-losses.log";

    /// <summary>What a silo found: the marker it now knows (null when neither side has one and it was not to mark),
    /// and the problem when Redis's does not follow from what the data directory or this silo remembers. With a look at
    /// the store clock (<see cref="RedisStoreClock"/>): the clock now known, or the older copy Redis holds.</summary>
    public sealed record Verdict(string? Marker, string? Problem, string? Remembered, RedisStoreClock.Reading? Clock = null, RedisStoreClock.Rewind? Rewound = null);

    /// <summary>One accepted loss as recorded in Redis; <paramref name="OlderCopy"/> says how far back Redis had gone where
    /// the loss was an older copy rather than the whole store.</summary>
    public sealed record AcceptedLoss(string Lost, string Store, DateTimeOffset At, string By, string Silo, string? OlderCopy = null);

    /// <summary>
    /// Compares Redis's marker with the data directory's (or, without one, the marker this silo saw: <paramref name="seen"/>).
    /// With <paramref name="mark"/> (the start-up check) a store with neither is marked. With <paramref name="clock"/> a store
    /// that is the cluster's is judged by its clock too (<see cref="RedisStoreClock"/>): an older copy is a problem as well.
    /// </summary>
    public static async Task<Verdict> JudgeAsync(IDatabase db, string endpoint, string serviceId, string dataDirectory, string? seen, bool mark,
        RedisStoreClock.Look? clock = null)
    {
        string file = Path.Combine(Path.GetFullPath(dataDirectory), FileName(serviceId));
        string clockFile = Path.Combine(Path.GetFullPath(dataDirectory), RedisStoreClock.FileName(serviceId));
        // The directory first: a marker reaches it only once Redis holds it, so one read there before Redis's is one Redis
        // had. Read after, it could be another silo's, marking a fresh store between the two reads: a loss that is none.
        // The clock's file alike: read after, another silo's tick could be above the clock this look reads.
        string? onVolume = RedisStartupChecks.ReadVolumeFile(file);
        var clockOnVolume = clock is null ? null : RedisStoreClock.ReadFile(clockFile);
        string? remembered = onVolume ?? seen;
        string? inRedis = await db.StringGetAsync(MarkerKey(serviceId)).ConfigureAwait(false);
        if (inRedis is null && remembered is null)
        {
            if (!mark) return new Verdict(null, null, null);
            // Redis first: a marker in the directory only would read as a loss at the next start if this one stopped here.
            await db.StringSetAsync(MarkerKey(serviceId), Guid.NewGuid().ToString("N"), when: When.NotExists).ConfigureAwait(false);
            inRedis = await db.StringGetAsync(MarkerKey(serviceId)).ConfigureAwait(false); // a silo starting beside this one may have won
        }
        if (inRedis is not null && (remembered is null || remembered == inRedis || await AcceptedAsync(db, serviceId, remembered, inRedis).ConfigureAwait(false)))
        {
            if (onVolume != inRedis) WriteFile(file, inRedis); // another silo's write meanwhile is the same marker: rewritten alike
            var intact = new Verdict(inRedis, null, remembered);
            return clock is null ? intact : await RedisStoreClock.JudgeAsync(db, endpoint, serviceId, clockFile, intact, clockOnVolume, clock).ConfigureAwait(false);
        }
        string where = onVolume is null ? "this silo saw" : $"the data directory remembers ({file})";
        string choices = Choices(remembered!, "restores Redis from its backup (the silos go on by themselves once the marker is back)",
            "marks the store anew and records the loss");
        return new Verdict(remembered, inRedis is null
            ? $"Redis at '{endpoint}' has lost the cluster's stored state: it has no store marker ('{MarkerKey(serviceId)}'), and {where} store "
              + $"{remembered} of service '{serviceId}'. Redis restarted without its append-only file, was flushed, or is a new, empty Redis: "
              + $"every machine's normal and anomalous sets, labels and budget stored before are gone from it, and machines look new. {choices}"
            : $"Redis at '{endpoint}' holds store {inRedis}, and {where} store {remembered} of service '{serviceId}', with no accepted loss between them: "
              + $"Redis is another cluster's (or was replaced and marked anew), or this data directory is another cluster's. Point Asd:Redis at the "
              + $"cluster's own Redis, or: {choices}", remembered);
    }

    /// <summary>The operator's two answers, as every store problem names them: <paramref name="restore"/>, or accept the loss
    /// of <paramref name="store"/>, which <paramref name="accepting"/>.</summary>
    internal static string Choices(string store, string restore, string accepting)
        => $"The silo takes no writes until an operator either {restore} or accepts the loss: POST /api/cluster/store/accept-loss {{\"lost\":\"{store}\"}} "
           + $"with an operator key, which {accepting} (docs/deploy.md, \"Redis lost its data\")";

    /// <summary>Whether a recorded accepted loss (or a chain of them) leads from <paramref name="remembered"/> to <paramref name="inRedis"/>.</summary>
    private static async Task<bool> AcceptedAsync(IDatabase db, string serviceId, string remembered, string inRedis)
    {
        var next = (await RecordedLossesAsync(db, serviceId).ConfigureAwait(false)).GroupBy(l => l.Lost).ToDictionary(g => g.Key, g => g.Last().Store);
        int steps = next.Count; // a cycle of records ends
        for (string at = remembered; steps-- > 0 && next.TryGetValue(at, out var store); at = store)
            if (store == inRedis) return true;
        return false;
    }

    public static async Task<IReadOnlyList<AcceptedLoss>> RecordedLossesAsync(IDatabase db, string serviceId)
    {
        var list = new List<AcceptedLoss>();
        foreach (var entry in await db.ListRangeAsync(LossesKey(serviceId)).ConfigureAwait(false))
        {
            try
            {
                if (JsonSerializer.Deserialize<AcceptedLoss>(entry.ToString(), Json) is { Lost: not null, Store: not null } loss) list.Add(loss);
            }
            catch (JsonException) { } // not ours: ignored, as an unreadable record cannot vouch for a store
        }
        return list;
    }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// An operator accepts that the store <paramref name="lost"/> (the marker the problem names) is gone: Redis is marked
    /// anew if it has no marker, the loss is recorded in Redis and in the data directory, and the data directory takes
    /// Redis's marker. An older copy (<see cref="RedisStoreClock"/>) is accepted alike: the store is marked anew (Redis
    /// has a marker, the lost one, which the older copy kept), so that every silo, remembering the lost marker and the
    /// newer clock, follows the record as after a full loss and adopts Redis's clock as the new store's.
    /// Returns the record, or why nothing was accepted (the silo remembers another store, or sees no loss).
    /// </summary>
    public static async Task<(AcceptedLoss? Accepted, string? Refused)> AcceptAsync(IDatabase db, string endpoint, string serviceId,
        string dataDirectory, string? seen, string lost, string by, RedisStoreClock.Reading? seenClock = null)
    {
        var verdict = await JudgeAsync(db, endpoint, serviceId, dataDirectory, seen, mark: false, new RedisStoreClock.Look(seenClock, Advance: false))
            .ConfigureAwait(false);
        if (verdict.Problem is null)
            return (null, verdict.Marker is null ? "this silo knows no store to give up" : $"nothing to accept: Redis holds store {verdict.Marker}, the one this silo knows");
        if (verdict.Remembered != lost)
            return (null, $"this silo remembers store {verdict.Remembered}, not {lost}: name the store the problem names");
        string store;
        if (verdict.Rewound is { } rewound)
        {
            string? marked = await RedisStoreClock.MarkAnewAsync(db, serviceId, lost, rewound).ConfigureAwait(false);
            if (marked != rewound.Id)
                return (null, $"Redis's store changed while this was accepted (it holds {marked ?? "no marker"} now): read /readyz again");
            store = marked;
        }
        else
        {
            await db.StringSetAsync(MarkerKey(serviceId), Guid.NewGuid().ToString("N"), when: When.NotExists).ConfigureAwait(false);
            store = (await db.StringGetAsync(MarkerKey(serviceId)).ConfigureAwait(false))!;
        }
        string? olderCopy = verdict.Rewound is { } r
            ? $"Redis held an older copy: its store clock read {r.Found}, {r.Where} had seen {r.Remembered}; it went back {r.HowFarBack}"
            : null;
        var accepted = new AcceptedLoss(lost, store, DateTimeOffset.UtcNow, by, Environment.MachineName, olderCopy);
        await db.ListRightPushAsync(LossesKey(serviceId), JsonSerializer.Serialize(accepted, Json)).ConfigureAwait(false);
        string directory = Path.GetFullPath(dataDirectory);
        try
        {
            File.AppendAllText(Path.Combine(directory, LossLog),
                $"{accepted.At:O} service '{serviceId}': store {lost} accepted as lost by {by} on {accepted.Silo}; Redis's store is now {store}"
                + (olderCopy is null ? "" : $" ({olderCopy})") + Environment.NewLine);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // Redis's record and the silo's log stand
        WriteFile(Path.Combine(directory, FileName(serviceId)), store);
        return (accepted, null);
    }

    /// <summary>Through a temporary file and a rename, so that a crash never leaves an empty or half marker.</summary>
    internal static void WriteFile(string file, string text)
    {
        string temporary = $"{file}.{Guid.NewGuid():N}.tmp";
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            File.WriteAllText(temporary, text);
            File.Move(temporary, file, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A directory that cannot be written: the data directory check reports it; this silo still remembers the
            // marker while it runs.
            try { File.Delete(temporary); } catch (Exception f) when (f is IOException or UnauthorizedAccessException) { }
        }
    }

    [GeneratedRegex(@"[^A-Za-z0-9._-]")]
    private static partial Regex UnsafeFileCharacters();
}
