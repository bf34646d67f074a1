using AsdOrleans.Abstractions;
using AsdOrleans.Grains;
using AsdOrleans.Storage.Sqlite;
using Microsoft.Extensions.Options;
using Orleans.Hosting;

namespace AsdOrleans.Silo;

/// <summary>Reminders (SQLite embedded, Redis in a cluster) and label-request expiry for a silo host.</summary>
public static class ReminderWiring
{
    /// <summary>
    /// Adds the reminder service (a SQLite table next to grains.db when embedded; Orleans' Redis reminders in a cluster),
    /// binds <c>Asd:LabelRequestTtl</c> and <c>Asd:MaxPendingLabelRequests</c> (SiloApp.Build has checked them), and lets machine grains remove an expired request's audio.
    /// </summary>
    public static ISiloBuilder AddAsdRemindersAndExpiry(this ISiloBuilder silo, SiloOptions options, IConfiguration configuration)
    {
        if (string.IsNullOrWhiteSpace(options.Redis))
            silo.UseSqliteReminderService(o => o.DatabasePath = Path.Combine(Path.GetFullPath(options.DataDirectory), "reminders.db"));
        else
        {
            silo.UseRedisReminderService(o => o.ConfigurationOptions = StackExchange.Redis.ConfigurationOptions.Parse(options.Redis));
            silo.Services.AddOptions<Orleans.Configuration.RedisReminderTableOptions>()
                .Configure<SiloRedisConnection>((o, redis) => o.CreateMultiplexer = redis.ForProvider); // the silo's one multiplexer (SiloApp.Build)
        }

        // Checked once, at start-up, with the other settings (SiloApp.Build refuses a bad TTL or limit before this runs).
        silo.Services.AddOptions<LabelRequestExpiryOptions>().Bind(configuration.GetSection(SiloOptions.Section));
        // A tiny TTL (tests, demos) needs checks more often than Orleans' one-minute floor for reminder periods.
        silo.Services.AddOptions<ReminderOptions>().Configure<IOptions<LabelRequestExpiryOptions>>((reminders, expiry) =>
        {
            if (expiry.Value.CheckPeriod < reminders.MinimumReminderPeriod)
                reminders.MinimumReminderPeriod = expiry.Value.CheckPeriod;
        });
        silo.Services.AddSingleton<IClipAudioRemover, StoredClipAudioRemover>();
        return silo;
    }

    private sealed class StoredClipAudioRemover(ClipAudioStore store) : IClipAudioRemover
    {
        public void Remove(string machineId, string clipId) => store.Delete(machineId, clipId);

        public void Answered(string machineId, PendingLabel request, LabelRequestOutcome outcome)
        {
            // Only the clip's own audio is kept: a gateway's clip whose id names a file another clip left (an orphan not yet
            // swept) would otherwise be carried, and shown as a normal example, with that file's sound.
            if (outcome is LabelRequestOutcome.Normal or LabelRequestOutcome.Anomalous
                && store.HoldsAudioOf(machineId, request.ClipId, request.AudioReference, request.AudioFingerprint) is { } wav)
            {
                store.KeepLabelled(machineId, request.ClipId, outcome == LabelRequestOutcome.Anomalous ? ClipLabelValue.Anomalous : ClipLabelValue.Normal, wav);
                if (outcome == LabelRequestOutcome.Normal && store.KeepAsNormalExample(machineId, request.ClipId)) return;
            }
            store.Delete(machineId, request.ClipId);
        }

        public void RemoveOrphans(string machineId, IReadOnlySet<string> pendingClipIds, TimeSpan olderThan) => store.RemoveOrphans(machineId, pendingClipIds, olderThan);

        public void ForgetNormalExamples(string machineId) => store.ForgetNormalExamples(machineId);

        public void ForgetLabelledClips(string machineId) => store.ForgetLabelledClips(machineId);

        public void ForgetMachine(string machineId) => store.ForgetMachine(machineId);
    }
}
